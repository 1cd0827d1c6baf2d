// Buffered UTF-8 text output (the JSON exports: Perfetto, OTLP, JSON lines);
// ByteWriter (output.ts) writes byte strings as latin1 for the log and hexlogs.

import { writeSync } from 'node:fs';

/** Buffered UTF-8 text output to a descriptor (the JSON exports). */
export class TextWriter {
  private buf: string[] = [];
  private size = 0;
  constructor(private readonly fd: number) {}
  write(s: string): void {
    this.buf.push(s);
    this.size += s.length;
    if (this.size > 1 << 20) this.flush();
  }
  flush(): void {
    if (!this.buf.length) return;
    const data = Buffer.from(this.buf.join(''), 'utf8');
    this.buf = [];
    this.size = 0;
    let off = 0;
    while (off < data.length) {
      try {
        off += writeSync(this.fd, data, off);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') continue;
        if (code === 'EPIPE') process.exit(0);
        throw e;
      }
    }
  }
}
