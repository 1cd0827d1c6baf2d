// A recorded stream read on a thread of its own, for replay: that thread
// (stream-worker.ts) runs SessionReader.stream() — the database reads and the
// inflating of chunk blocks — and hands the items over through a ring in
// shared memory (session/ring.ts), while this thread decodes, models and
// logs. The same items as SessionReader.stream(), in the same order, without
// their seq (a replay does not need it).

import { workerOnline } from '../cli/heap.js';
import { Worker } from 'node:worker_threads';
import { CTL, KIND, RingReader, RingRecord, createRing } from '../session/ring.js';
import { UserError } from '../decoder/sources.js';
import type { Intervention } from '../intercept/engine.js';
import type { StreamItem } from './reader.js';
import type { Dir } from '../decoder/messages.js';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** A stream item as a replay uses it (SessionReader.stream()'s items are ones). */
export type ReplayItem =
  | DistributiveOmit<Exclude<StreamItem, { k: 'data' }>, 'seq'>
  | { k: 'data'; conn: number; dir: Dir; time: number; bytes: Uint8Array };

/** Room for a few hundred ms of reading ahead. */
const RING_BYTES = 8 << 20;
/** A reading thread that has written nothing for this long has died (e.g. its code failed to load): an error, not a hang. */
const STALL_MS = 60_000;
/** Chunks larger than this are handed over in pieces (a record must fit the ring); framing does not care. */
export const MAX_PIECE = 1 << 20;

/**
 * The stream of session database `path`, read on another thread, which
 * starts reading at once. Leaving the loop early, or calling return() before
 * it, stops that thread.
 */
export function streamOnThread(path: string): IterableIterator<ReplayItem> {
  const shared = createRing(RING_BYTES);
  const worker = new Worker(new URL('./stream-worker.js', import.meta.url), { workerData: { path, ring: shared } });
  workerOnline(worker);
  worker.unref();
  const ring = new RingReader(shared);
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    Atomics.store(ring.ctl, CTL.ABORT, 1);
    ring.release();
    void worker.terminate();
  };
  const gen = items(ring, stop);
  return {
    [Symbol.iterator]() {
      return this;
    },
    next: () => gen.next(),
    return: (v?: unknown) => {
      stop();
      return gen.return(v as undefined);
    },
  };
}

function* items(ring: RingReader, stop: () => void): Generator<ReplayItem, undefined> {
  let n = 0;
  // Chunk payloads are cut out of a private copy of many records' bytes (see copyWritten).
  let copy: Uint8Array = new Uint8Array(0);
  let copyFrom = 0;
  const payload = (r: RingRecord): Uint8Array => {
    if (r.at < copyFrom || r.at + r.len > copyFrom + copy.length) {
      copy = ring.copyWritten(r.at);
      copyFrom = r.at;
    }
    return copy.subarray(r.at - copyFrom, r.at - copyFrom + r.len);
  };
  let idleSince = 0;
  try {
    for (;;) {
      // Space is given back now and then, not per record (what was yielded is a copy), and before waiting.
      if ((++n & 4095) === 0) ring.release();
      const r = ring.next();
      if (r === null) {
        ring.release();
        const now = performance.now();
        if (idleSince === 0) idleSince = now;
        else if (now - idleSince > STALL_MS) throw new UserError('the thread reading the recorded stream stopped without a word');
        ring.waitSync(1000);
        continue;
      }
      idleSince = 0;
      switch (r.kind) {
        case KIND.data:
          yield { k: 'data', conn: r.conn, dir: r.dir, time: r.time, bytes: payload(r) };
          break;
        case KIND.open: {
          const o = JSON.parse(ring.text(r)!) as { label: string; client: string | null; server: string | null };
          yield { k: 'open', conn: r.conn, time: r.time, label: o.label, client: o.client, server: o.server };
          break;
        }
        case KIND.end:
          yield { k: 'end', conn: r.conn, dir: r.dir, time: r.time };
          break;
        case KIND.gap:
          yield { k: 'gap', conn: r.conn, dir: r.dir, time: r.time, bytes: ring.number(r) };
          break;
        case KIND.close:
          yield { k: 'close', conn: r.conn, time: r.time, reason: ring.text(r) };
          break;
        case KIND.intervention:
          yield { k: 'intervention', ev: JSON.parse(ring.text(r)!) as Intervention };
          break;
        case KIND.done: {
          const error = ring.text(r);
          if (error !== null) throw new UserError(`cannot read the recorded stream: ${error}`);
          return undefined;
        }
      }
    }
  } finally {
    stop();
  }
}
