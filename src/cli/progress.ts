// Progress on stderr for long imports and exports: a bar with the rate and
// the time left, redrawn at most every 100 ms, only when stderr is a
// terminal (nothing at all when it is piped or redirected).

import { formatDuration } from '../mp/concepts.js';

export class Progress {
  private readonly tty: boolean;
  private readonly start = Date.now();
  private lastDraw = 0;
  private done = 0;

  constructor(
    private readonly what: string,
    private readonly total: number,
    stream: NodeJS.WriteStream = process.stderr,
    private readonly out: NodeJS.WriteStream = stream,
  ) {
    this.tty = stream.isTTY === true && total > 0;
  }

  /** Counts `n` more units done. */
  tick(n = 1): void {
    this.done += n;
    if (!this.tty) return;
    const now = Date.now();
    if (now - this.lastDraw < 100 && this.done < this.total) return;
    this.lastDraw = now;
    this.draw(now);
  }

  private draw(now: number): void {
    const secs = Math.max(0.001, (now - this.start) / 1000);
    const rate = this.done / secs;
    const frac = Math.min(1, this.done / this.total);
    const width = 24;
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
    const eta = rate > 0 ? formatDuration(((this.total - this.done) / rate) * 1000) : '?';
    this.out.write(`\r${this.what} [${bar}] ${Math.round(frac * 100)}% ${this.done}/${this.total} ${Math.round(rate)}/s ETA ${eta}\x1b[K`);
  }

  /** Clears the bar. */
  finish(): void {
    if (this.tty && this.lastDraw > 0) this.out.write('\r\x1b[K');
  }
}
