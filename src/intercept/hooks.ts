// Wiring an Interceptor into the relays: a Splice in intercepted mode in this
// process (the listening relay), or an exec shim in another process reached
// through its control connection (src/proxy/control.ts frames, sent back).

import { now } from '../proxy/splice.js';
import type { Dir, Tap } from '../proxy/splice.js';
import type { ConnIntercept, InterceptSink, Interceptor } from './engine.js';

export const asBuffer = (b: Uint8Array): Buffer => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length));

/** Splice hooks that hand chunks to the interceptor (the splice must be made with `intercepted: true`). */
export function interceptedHooks(
  eng: Interceptor,
  id: number,
  tap: Tap,
  out: { write(dir: Dir, b: Uint8Array): void; endDir(dir: Dir): void; destroy(reason: string): void; pauseDir(dir: Dir, on: boolean): void },
  onClose: (time: number, reason: string | null) => void,
): { data(dir: Dir, bytes: Buffer, time: number): void; end(dir: Dir): void; close(time: number, reason: string | null): void } {
  const sink: InterceptSink = {
    write: (dir, b) => out.write(dir, b),
    end: (dir) => {
      out.endDir(dir);
      tap.end(id, dir, now()); // recorded when passed on, as the receiver sees it
    },
    close: (reason) => out.destroy(reason),
    record: (dir, b, time) => tap.data(id, dir, asBuffer(b), time),
    pause: (dir, on) => out.pauseDir(dir, on),
  };
  const ci: ConnIntercept = eng.connection(id, sink);
  return {
    data: (dir, bytes, time) => ci.data(dir, bytes, time),
    end: (dir) => ci.end(dir),
    close: (time, reason) => {
      ci.close();
      onClose(time, reason);
    },
  };
}
