// Per-method call statistics (the stats pane): calls, errors, in flight and
// latency percentiles, per method, or per method and serving process or
// executing thread, as of a time. A function of the reader's call timings.

import type { SessionReader } from '../store/reader.js';
import type { SqlFilter } from '../store/filter-sql.js';

export interface StatsRow {
  key: string;
  calls: number;
  errors: number;
  inFlight: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export type StatsGroup = 'method' | 'process' | 'thread';

export interface StatsRequest {
  filter?: SqlFilter;
  group: StatsGroup;
  /** Calls sent after this time are left out; calls not returned by then are in flight. */
  at: number;
  processLabels: [number, string][];
  threadLabels: [number, string][];
}

/** The p-th percentile (nearest rank) of sorted values; NaN if there are none. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function computeStats(reader: SessionReader, q: StatsRequest): StatsRow[] {
  const procs = new Map(q.processLabels);
  const threads = new Map(q.threadLabels);
  const groups = new Map<string, { lat: number[]; calls: number; errors: number; inFlight: number }>();
  for (const [title, status, sent, returned, proc, exec] of reader.callTimings(q.filter)) {
    if (sent > q.at) continue;
    const key =
      q.group === 'method' ? title : q.group === 'process' ? `${title} @${procs.get(proc) ?? proc}` : `${title} @${exec === null ? '?' : (threads.get(exec) ?? exec)}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { lat: [], calls: 0, errors: 0, inFlight: 0 }));
    g.calls++;
    const done = returned !== null && returned <= q.at;
    if (done) g.lat.push(returned - sent);
    else if (status !== 'disconnected') g.inFlight++;
    if (done && status === 'exception') g.errors++;
    if (status === 'disconnected') g.errors++;
  }
  return [...groups].map(([key, g]) => {
    const s = Float64Array.from(g.lat).sort();
    return { key, calls: g.calls, errors: g.errors, inFlight: g.inFlight, p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), max: s.length ? s[s.length - 1]! : NaN };
  });
}
