// Per-group call statistics (Wireshark's service response time, Bustle's
// per-method statistics): for each method, executing thread or serving
// process, the calls, errors, cancellations, calls still in flight and
// latency percentiles. A function of rows: the `stats` command and the
// terminal UI's stats pane show the same numbers.

import type { CallRow } from '../session/rows.js';
import { RowIndex, latencyMs } from '../session/row-index.js';

export type StatsBy = 'method' | 'thread' | 'process';
export const STATS_BY: StatsBy[] = ['method', 'thread', 'process'];

export interface StatsGroup {
  /** The method (`Iface.method`), the executing thread's label, or the serving process's label. */
  key: string;
  calls: number;
  /** Returned an exception, or interrupted by a disconnect. */
  errors: number;
  canceled: number;
  /** Still outstanding at the end of the session. */
  inFlight: number;
  /** Latency percentiles in ms over the calls that got a Return (null: none did). */
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function groupKey(c: CallRow, by: StatsBy, ix: RowIndex): string {
  switch (by) {
    case 'method':
      return c.title;
    case 'thread':
      return ix.executorLabel(c);
    case 'process':
      return ix.processLabel(c.serverProcess);
  }
}

/** Groups ordered by call count (descending), then key. */
export function callStats(calls: Iterable<CallRow>, by: StatsBy, ix: RowIndex): StatsGroup[] {
  const acc = new Map<string, { calls: number; errors: number; canceled: number; inFlight: number; lat: number[] }>();
  for (const c of calls) {
    const key = groupKey(c, by, ix);
    let a = acc.get(key);
    if (!a) acc.set(key, (a = { calls: 0, errors: 0, canceled: 0, inFlight: 0, lat: [] }));
    a.calls++;
    if (c.status === 'exception' || c.status === 'disconnected') a.errors++;
    else if (c.status === 'canceled') a.canceled++;
    else if (c.status === 'pending') a.inFlight++;
    const l = latencyMs(c);
    if (l !== null) a.lat.push(l);
  }
  const out: StatsGroup[] = [];
  for (const [key, a] of acc) {
    a.lat.sort((x, y) => x - y);
    out.push({
      key,
      calls: a.calls,
      errors: a.errors,
      canceled: a.canceled,
      inFlight: a.inFlight,
      p50: percentile(a.lat, 50),
      p90: percentile(a.lat, 90),
      p99: percentile(a.lat, 99),
      max: a.lat.length ? a.lat[a.lat.length - 1]! : null,
    });
  }
  return out.sort((x, y) => y.calls - x.calls || (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
}
