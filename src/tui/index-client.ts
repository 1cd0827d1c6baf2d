// Where the view's index reads run: in a worker thread (the terminal UI), or
// directly on the reader (tests, small tools). Either way answers arrive
// asynchronously, in order.

import { workerOnline } from '../cli/heap.js';
import { Worker } from 'node:worker_threads';
import type { CallIndex, SessionReader, SessionSpan } from '../store/reader.js';
import type { SqlFilter } from '../store/filter-sql.js';
import { computeStats, StatsRequest, StatsRow } from './stats.js';
import { analyzeChains, chainInput, ChainReport } from '../chains/chains.js';
import type { ChainCallRow, ChainConnRow, ChainProcessRow, ChainThreadRow } from '../chains/chains.js';
import { UNSEEN_LIMIT_MS } from '../chains/chains.js';

/**
 * What the chains analysis needs. A recording: just the time (and --stuck):
 * the input is read as `ipc-trace chains --at` reads it. Live: the
 * outstanding calls and the names from the change feed, and each method's
 * hang limit so far (MethodTimings in the view).
 */
export interface ChainsRequest {
  at: number;
  stuckMs: number;
  live?: {
    calls: ChainCallRow[];
    threads: ChainThreadRow[];
    processes: ChainProcessRow[];
    connections: ChainConnRow[];
    limits: [string, number][];
  };
}

/** The chains report (the same analysis as `ipc-trace chains`). */
export function chainsAt(reader: SessionReader, q: ChainsRequest): ChainReport {
  if (!q.live) return analyzeChains(chainInput(reader, q.at, q.stuckMs));
  const limits = new Map(q.live.limits);
  return analyzeChains({
    calls: q.live.calls,
    threads: q.live.threads,
    processes: q.live.processes,
    connections: q.live.connections,
    at: q.at,
    stuckMs: q.stuckMs,
    limits: { limitFor: (title) => limits.get(title) ?? UNSEEN_LIMIT_MS },
    interventions: reader.interventions(q.at),
  });
}

export type IndexRequest =
  | { k: 'all'; seq: number; afterId: number }
  | { k: 'ids'; seq: number; filter?: SqlFilter; afterId: number; upToId?: number }
  | { k: 'span'; seq: number }
  | { k: 'stats'; seq: number; q: StatsRequest }
  | { k: 'chains'; seq: number; q: ChainsRequest };

export type IndexReply =
  | { k: 'all'; seq: number; index: CallIndex }
  | { k: 'ids'; seq: number; ids: Int32Array }
  | { k: 'span'; seq: number; span: SessionSpan }
  | { k: 'stats'; seq: number; rows: StatsRow[] }
  | { k: 'chains'; seq: number; report: ChainReport }
  | { k: 'error'; seq: number; message: string };

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export interface IndexSource {
  all(afterId: number): Promise<CallIndex>;
  /**
   * Ids of the calls matching a filter in (afterId, upToId]. `part` 1 runs
   * on a second thread when there is one (a scan split in two takes half
   * as long on two cores).
   */
  ids(filter: SqlFilter | undefined, afterId: number, upToId?: number, part?: 0 | 1): Promise<Int32Array>;
  /** The session's span (a scan of every call: never on the UI's thread). */
  span(): Promise<SessionSpan>;
  stats(q: StatsRequest): Promise<StatsRow[]>;
  chains(q: ChainsRequest): Promise<ChainReport>;
  /** A filter is coming: start what its scan needs (the second thread), so that it does not wait for it. */
  prepare?(): void;
  close(): void;
}

/** Runs the reads on the given reader, on this thread. */
export function directIndex(reader: SessionReader): IndexSource {
  return {
    all: async (afterId) => reader.callIndex(afterId),
    ids: async (filter, afterId, upToId) => reader.callIds(filter, afterId, upToId),
    span: async () => reader.span(),
    stats: async (q) => computeStats(reader, q),
    chains: async (q) => chainsAt(reader, q),
    close: () => {},
  };
}

/** One worker thread answering requests in order, with its own connection to the database. */
function indexWorker(path: string, heapMb = 128): { ask: (m: DistributiveOmit<IndexRequest, 'seq'>) => Promise<IndexReply>; close: () => void } {
  // A bounded heap: scans make much short-lived garbage (collected sooner with a small young generation),
  // and the index itself is in typed arrays (outside the heap).
  const worker = new Worker(new URL('./index-worker.js', import.meta.url), { workerData: { path }, resourceLimits: { maxOldGenerationSizeMb: heapMb, maxYoungGenerationSizeMb: 4 } });
  workerOnline(worker);
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
  return {
    ask: (m) =>
      new Promise((resolve, reject) => {
        const s = ++seq;
        waiting.set(s, { resolve, reject });
        worker.postMessage({ ...m, seq: s });
      }),
    close: () => void worker.terminate(),
  };
}

/**
 * Runs the reads in worker threads with their own connections to the
 * database: one for the index, filters and statistics, one for the chains
 * analysis (so that a slow analysis never holds up a filter), and one for the
 * second half of a filter's scan (two halves at once take half as long on two cores).
 */
export function workerIndex(path: string): IndexSource {
  const scans = indexWorker(path);
  const chains = indexWorker(path);
  // Started when the first filter is being typed (a recording never filtered does without it).
  let second: ReturnType<typeof indexWorker> | null = null;
  const secondWorker = () => (second ??= indexWorker(path, 32));
  return {
    all: async (afterId) => ((await scans.ask({ k: 'all', afterId })) as Extract<IndexReply, { k: 'all' }>).index,
    ids: async (filter, afterId, upToId, part) => ((await (part ? secondWorker() : scans).ask({ k: 'ids', filter, afterId, upToId })) as Extract<IndexReply, { k: 'ids' }>).ids,
    span: async () => ((await scans.ask({ k: 'span' })) as Extract<IndexReply, { k: 'span' }>).span,
    stats: async (q) => ((await scans.ask({ k: 'stats', q })) as Extract<IndexReply, { k: 'stats' }>).rows,
    chains: async (q) => ((await chains.ask({ k: 'chains', q })) as Extract<IndexReply, { k: 'chains' }>).report,
    prepare: () => void secondWorker(),
    close: () => {
      scans.close();
      chains.close();
      second?.close();
    },
  };
}
