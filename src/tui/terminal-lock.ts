// The terminal's output is shared by two threads: the UI worker writes the
// frames to it directly (so that the command's thread, which runs the relay,
// never spends time on them nor blocks on a slow terminal), and the command's
// thread writes the alternate screen's enter and leave sequences. A lock in
// shared memory keeps a frame from being cut by the leave sequence: the
// worker holds it while it writes; closing waits for it, then shuts the
// worker's writes off for good.

import { writeSync } from 'node:fs';

const FREE = 0;
const WRITING = 1;
const CLOSED = 2;

export class TerminalLock {
  private readonly state: Int32Array;

  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(4)) {
    this.state = new Int32Array(buffer);
  }

  /** Writes `data` to `fd` unless the terminal was closed (the worker's side). */
  write(fd: number, data: string | Uint8Array): boolean {
    if (Atomics.compareExchange(this.state, 0, FREE, WRITING) !== FREE) return false;
    try {
      const buf = typeof data === 'string' ? Buffer.from(data) : data;
      for (let off = 0; off < buf.length; ) {
        try {
          off += writeSync(fd, buf, off);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
          // A non-blocking terminal that is full: wait a little for it to drain.
          Atomics.wait(this.state, 0, WRITING, 2);
        }
      }
      return true;
    } finally {
      Atomics.store(this.state, 0, FREE);
      Atomics.notify(this.state, 0);
    }
  }

  /** Waits for a write in progress to end (at most `limitMs`), and lets no other start (the command's side). */
  close(limitMs = 500): void {
    const until = Date.now() + limitMs;
    while (Atomics.compareExchange(this.state, 0, FREE, CLOSED) === WRITING && Date.now() < until) Atomics.wait(this.state, 0, WRITING, 20);
    Atomics.store(this.state, 0, CLOSED);
  }
}
