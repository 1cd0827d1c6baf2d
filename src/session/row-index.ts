// Lookups over a session's rows: a thread's or process's label by id, and
// how a call's waiting and executing threads are shown. Shared by the
// exports, stats and diff (all functions of rows).

import { loopLabel, unknownThreadLabel } from '../mp/concepts.js';
import type { CallRow, ProcessRow, ThreadRow } from './rows.js';

export class RowIndex {
  readonly threads = new Map<number, ThreadRow>();
  readonly processes = new Map<number, ProcessRow>();

  constructor(processes: ProcessRow[], threads: ThreadRow[]) {
    for (const p of processes) this.processes.set(p.id, p);
    for (const t of threads) this.threads.set(t.id, t);
  }

  processLabel(id: number): string {
    return this.processes.get(id)?.label ?? `process#${id}`;
  }

  threadLabel(id: number | null): string | null {
    return id === null ? null : (this.threads.get(id)?.label ?? `thread#${id}`);
  }

  /** The waiting thread as the log shows it: calls without a Context carry no thread (`PROCESS/?`). */
  callerLabel(c: CallRow): string {
    return this.threadLabel(c.caller) ?? unknownThreadLabel(this.processLabel(c.clientProcess));
  }

  /** The executing thread; without one, the serving process's event loop. */
  executorLabel(c: CallRow): string {
    return this.threadLabel(c.executor) ?? loopLabel(this.processLabel(c.serverProcess));
  }
}

/** Latency of a finished call in ms (Return time minus Call time), or null while it is outstanding. */
export function latencyMs(c: CallRow): number | null {
  return c.returned === null ? null : c.returned - c.sent;
}

/** How long a call took or has been outstanding at `at`; a call a disconnect cut is aged at the close. */
export function callAge(c: CallRow, at: number, closedAt: number | null | undefined): number {
  if (c.returned !== null) return c.returned - c.sent;
  return (c.status === 'disconnected' && closedAt != null ? closedAt : at) - c.sent;
}
