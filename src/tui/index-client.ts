// Where the view's index reads run: in a worker thread (the terminal UI), or
// directly on the reader (tests, small tools). Either way answers arrive
// asynchronously, in order.

import { Worker } from 'node:worker_threads';
import type { CallIndex, SessionReader } from '../store/reader.js';
import type { SqlFilter } from '../store/filter-sql.js';
import { computeStats, StatsRequest, StatsRow } from './stats.js';
import { analyzeChains, ChainReport, ChainThread } from '../chains/chains.js';
import type { CallRow } from '../session/rows.js';

/** What the chains analysis needs: the outstanding calls (rows live, ids of a recording) and the names. */
export interface ChainsRequest {
  at: number;
  stuckMs: number;
  calls?: CallRow[];
  ids?: number[];
  threads: ChainThread[];
  processes: { id: number; label: string }[];
  closed: [number, number][];
}

/** The chains report (the same analysis as `ipc-trace chains`). */
export function chainsAt(reader: SessionReader, q: ChainsRequest): ChainReport {
  const calls = q.calls ?? reader.callsByIds(q.ids ?? []);
  return analyzeChains({ calls, threads: q.threads, processes: q.processes, closed: new Map(q.closed), at: q.at, stuckMs: q.stuckMs });
}

export type IndexRequest =
  | { k: 'all'; seq: number; afterId: number }
  | { k: 'ids'; seq: number; filter?: SqlFilter; afterId: number }
  | { k: 'stats'; seq: number; q: StatsRequest }
  | { k: 'chains'; seq: number; q: ChainsRequest };

export type IndexReply =
  | { k: 'all'; seq: number; index: CallIndex }
  | { k: 'ids'; seq: number; ids: Int32Array }
  | { k: 'stats'; seq: number; rows: StatsRow[] }
  | { k: 'chains'; seq: number; report: ChainReport }
  | { k: 'error'; seq: number; message: string };

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export interface IndexSource {
  all(afterId: number): Promise<CallIndex>;
  ids(filter: SqlFilter | undefined, afterId: number): Promise<Int32Array>;
  stats(q: StatsRequest): Promise<StatsRow[]>;
  chains(q: ChainsRequest): Promise<ChainReport>;
  close(): void;
}

/** Runs the reads on the given reader, on this thread. */
export function directIndex(reader: SessionReader): IndexSource {
  return {
    all: async (afterId) => reader.callIndex(afterId),
    ids: async (filter, afterId) => reader.callIds(filter, afterId),
    stats: async (q) => computeStats(reader, q),
    chains: async (q) => chainsAt(reader, q),
    close: () => {},
  };
}

/** Runs the reads in a worker thread with its own connection to the database. */
export function workerIndex(path: string): IndexSource {
  // A small heap: the index is in typed arrays (outside it); scans only make short-lived garbage.
  const worker = new Worker(new URL('./index-worker.js', import.meta.url), { workerData: { path }, resourceLimits: { maxOldGenerationSizeMb: 96 } });
  worker.unref();
  let seq = 0;
  const waiting = new Map<number, { resolve: (r: IndexReply) => void; reject: (e: Error) => void }>();
  worker.on('message', (r: IndexReply) => {
    const w = waiting.get(r.seq);
    waiting.delete(r.seq);
    if (!w) return;
    if (r.k === 'error') w.reject(new Error(r.message));
    else w.resolve(r);
  });
  worker.on('error', (e) => {
    for (const w of waiting.values()) w.reject(e);
    waiting.clear();
  });
  const ask = (m: DistributiveOmit<IndexRequest, 'seq'>): Promise<IndexReply> =>
    new Promise((resolve, reject) => {
      const s = ++seq;
      waiting.set(s, { resolve, reject });
      worker.postMessage({ ...m, seq: s });
    });
  return {
    all: async (afterId) => ((await ask({ k: 'all', afterId })) as Extract<IndexReply, { k: 'all' }>).index,
    ids: async (filter, afterId) => ((await ask({ k: 'ids', filter, afterId })) as Extract<IndexReply, { k: 'ids' }>).ids,
    stats: async (q) => ((await ask({ k: 'stats', q })) as Extract<IndexReply, { k: 'stats' }>).rows,
    chains: async (q) => ((await ask({ k: 'chains', q })) as Extract<IndexReply, { k: 'chains' }>).report,
    close: () => void worker.terminate(),
  };
}
