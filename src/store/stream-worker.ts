// The thread that reads a recorded stream for replay (stream-thread.ts):
// SessionReader.stream() (the database, the chunk blocks inflated) written
// into the ring the replaying thread reads. It waits for room rather than
// drop, stops when the replaying thread sets ABORT, and always ends with a
// `done` record, which carries the error text if reading failed.

import { workerData } from 'node:worker_threads';
import { SessionReader } from './reader.js';
import { KIND, RingShared, RingWriter } from '../session/ring.js';
import { MAX_PIECE } from './stream-thread.js';

const { path, ring } = workerData as { path: string; ring: RingShared };
const w = new RingWriter(ring);
class Stopped extends Error {}

/** Writes one record, waiting while the ring is full. */
function put(write: () => boolean): void {
  while (!write()) {
    if (w.aborted) throw new Stopped();
    w.waitForRoom(1);
  }
}

let error: string | null = null;
try {
  const reader = SessionReader.open(path);
  try {
    for (const r of reader.stream()) {
      if (w.aborted) throw new Stopped();
      switch (r.k) {
        case 'open':
          put(() => w.writeText(KIND.open, r.conn, '>', r.time, JSON.stringify({ label: r.label, client: r.client, server: r.server })));
          break;
        case 'data':
          for (let at = 0; at < r.bytes.length; at += MAX_PIECE) {
            const piece = r.bytes.subarray(at, at + MAX_PIECE);
            put(() => w.write(KIND.data, r.conn, r.dir, r.time, piece));
          }
          break;
        case 'end':
          put(() => w.write(KIND.end, r.conn, r.dir, r.time, null));
          break;
        case 'gap':
          put(() => w.writeNumber(KIND.gap, r.conn, r.dir, r.time, r.bytes));
          break;
        case 'close':
          put(() => w.writeText(KIND.close, r.conn, '>', r.time, r.reason));
          break;
        case 'intervention':
          put(() => w.writeText(KIND.intervention, 0, '>', 0, JSON.stringify(r.ev)));
          break;
      }
    }
  } finally {
    reader.close();
  }
} catch (e) {
  if (e instanceof Stopped) process.exit(0);
  error = e instanceof Error ? e.message : String(e);
}
put(() => w.writeText(KIND.done, 0, '>', 0, error));
w.wake();
