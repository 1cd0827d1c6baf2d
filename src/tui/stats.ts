// The stats pane's numbers: the same per-group statistics as `ipc-trace
// stats` (src/stats: calls, errors, in flight, latency percentiles, per
// method, executing thread or serving process), over the calls matching the
// view's filter, as of the view's time (a call sent later is left out, one
// returned later is in flight). Runs where the view's index scans run.

import type { SessionReader } from '../store/reader.js';
import type { SqlFilter } from '../store/filter-sql.js';
import type { CallRow, ProcessRow, ThreadRow } from '../session/rows.js';
import { RowIndex } from '../session/row-index.js';
import { callStats, StatsBy, StatsGroup } from '../stats/stats.js';

export type StatsRow = StatsGroup;
export type { StatsBy };

export interface StatsRequest {
  filter?: SqlFilter;
  by: StatsBy;
  /** Calls sent after this time are left out; calls not returned by then are in flight. */
  at: number;
  processes: ProcessRow[];
  threads: ThreadRow[];
}

export function computeStats(reader: SessionReader, q: StatsRequest): StatsRow[] {
  const at = q.at;
  function* calls(): Generator<CallRow> {
    for (const [title, status, sent, returned, serverProcess, executor] of reader.callTimings(q.filter)) {
      if (sent > at) continue;
      const done = returned !== null && returned <= at;
      // The columns the statistics read (see callStats); the rest of the row is not fetched.
      yield { title, status: done || status === 'disconnected' ? status : 'pending', sent, returned: done ? returned : null, serverProcess, executor } as CallRow;
    }
  }
  return callStats(calls(), q.by, new RowIndex(q.processes, q.threads));
}
