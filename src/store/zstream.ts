// Raw deflate and inflate with one zlib stream per thread and level, reused
// for every block, into one output buffer that grows as needed.
//
// Why: `deflateRawSync`/`inflateRawSync` set up a new zlib stream on each call
// (about 270 KB of state to deflate, 40 KB to inflate) and build the result
// from 16 KB pieces joined at the end. A text filter inflates thousands of
// blocks a second on each scanning thread, and the recorder deflates one per
// 32 KB of traffic: all that memory is freed again, but into glibc's arena of
// the thread that allocated it, which keeps most of it (measured: 87 MB free
// but resident in the terminal UI after six filters, about 40 MB per scanning
// thread). Reusing the stream and the output buffer makes a block cost one
// reset instead.
//
// Node's zlib has no public synchronous API on a kept stream (`_processChunk`
// closes it), so this drives the stream's handle the way zlib.js's own
// processChunkSync does (`_handle.writeSync`, `_writeState`, then `reset()`).
// Where that is missing (another Node), or a stream fails, the one-shot
// functions are used: the bytes are the same.

import { constants, createDeflateRaw, createInflateRaw, deflateRawSync, inflateRawSync } from 'node:zlib';

interface Handle {
  writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void;
}
interface Stream {
  _handle: Handle | null;
  _writeState: Uint32Array;
  reset(): void;
  close(): void;
  on(ev: 'error', f: (e: Error) => void): unknown;
}

/** One kept zlib stream and its output buffer. */
class Kept {
  private stream: Stream | null;
  private out: Buffer;

  constructor(
    private readonly make: () => Stream,
    private readonly once: (input: Buffer) => Buffer,
    outBytes: number,
  ) {
    this.out = Buffer.allocUnsafe(outBytes);
    this.stream = this.open();
  }

  private open(): Stream | null {
    const s = this.make();
    if (typeof s._handle?.writeSync !== 'function' || !(s._writeState instanceof Uint32Array)) {
      s.close();
      return null;
    }
    // A failure is seen in the call (the handle is gone); the event comes later, with nobody to tell.
    s.on('error', () => {});
    return s;
  }

  /**
   * The whole of `input` through the stream (Z_FINISH). The result is a view
   * of the kept output buffer when `scratch` (valid until the next call on
   * this thread), else a Buffer of its own.
   */
  run(input: Buffer, scratch: boolean): Buffer {
    const s = this.stream;
    if (!s?._handle) return this.once(input);
    const state = s._writeState;
    let inOff = 0;
    let inLen = input.length;
    let outLen = 0;
    for (;;) {
      if (this.out.length - outLen < 1024) {
        const bigger = Buffer.allocUnsafe(this.out.length * 2);
        this.out.copy(bigger, 0, 0, outLen);
        this.out = bigger;
      }
      const room = this.out.length - outLen;
      s._handle.writeSync(constants.Z_FINISH, input, inOff, inLen, this.out, outLen, room);
      if (!s._handle) {
        // A corrupt input (inflating) destroyed the stream: a new one for the next call, and the one-shot
        // function to report the error as it always did.
        this.stream = this.open();
        return this.once(input);
      }
      const [availOut, availIn] = [state[0]!, state[1]!];
      outLen += room - availOut;
      inOff += inLen - availIn;
      inLen = availIn;
      if (availOut !== 0) break;
    }
    s.reset();
    const view = this.out.subarray(0, outLen);
    return scratch ? view : Buffer.from(view);
  }
}

const deflaters = new Map<number, Kept>();
let inflater: Kept | null = null;

/**
 * Raw deflate of `input` at `level` (as deflateRawSync). The result is a view
 * of this thread's output buffer, valid until the next call: use it at once
 * (SQLite copies a bound blob).
 */
export function deflateRawScratch(input: Buffer, level: number): Buffer {
  let k = deflaters.get(level);
  if (!k) deflaters.set(level, (k = new Kept(() => createDeflateRaw({ level }) as unknown as Stream, (b) => deflateRawSync(b, { level }), 64 << 10)));
  return k.run(input, true);
}

/**
 * Raw inflate (as inflateRawSync). `scratch`: the result is a view of this
 * thread's output buffer, valid until the next call (a scan that looks at
 * one block at a time); else a Buffer of its own (to keep).
 */
export function inflateRaw(input: Buffer, scratch = false): Buffer {
  inflater ??= new Kept(() => createInflateRaw() as unknown as Stream, (b) => inflateRawSync(b), 128 << 10);
  return inflater.run(input, scratch);
}
