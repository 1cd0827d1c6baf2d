// Sessions as rows for the chains tests: named processes and threads as
// libmultiprocess names them, calls between them, and a model's rows.

import type { ChainCallRow, ChainConnRow, ChainInput, ChainProcessRow, ChainThreadRow } from '../../src/chains/chains.js';
import { callRow, connRow, processRow, threadRow } from '../../src/session/rows.js';
import type { SessionModel } from '../../src/session/model.js';
import type { ThreadRole } from '../../src/session/records.js';

/** A session under construction: processes, their threads, calls. */
export class World {
  processes: ChainProcessRow[] = [];
  threads: ChainThreadRow[] = [];
  calls: ChainCallRow[] = [];
  connections: ChainConnRow[] = [];
  private nextPid = 100;

  process(exe: string): number {
    const pid = this.nextPid;
    this.nextPid += 100;
    const id = this.processes.length + 1;
    this.processes.push({ id, label: `${exe}-${pid}`, pid });
    return id;
  }

  private add(process: number, label: string, role: ThreadRole): number {
    const id = this.threads.length + 1;
    this.threads.push({ id, process, label, role });
    return id;
  }

  /** A process's own thread, named `exe-pid/NAME-TID`. */
  client(process: number, name: string): number {
    const p = this.processes[process - 1]!;
    return this.add(process, `${p.label}/${name}-${p.pid! + this.threads.length + 1}`, 'client');
  }

  /** The worker `process` made for client thread `client` (makeThread). */
  worker(process: number, client: number): number {
    return this.add(process, `${this.processes[process - 1]!.label} (from ${this.threads[client - 1]!.label})`, 'worker');
  }

  processOf(thread: number): number {
    return this.threads[thread - 1]!.process;
  }

  /** A call from `caller` run by `executor`, sent at `sent` ms, outstanding unless `returned`. */
  call(title: string, caller: number, executor: number, sent: number, more: Partial<ChainCallRow> = {}): number {
    const id = this.calls.length + 1;
    this.calls.push({
      id,
      conn: 1,
      dir: '>',
      questionId: id,
      title,
      target: title.split('.')[0]!,
      caller,
      executor,
      parent: null,
      requestNo: id,
      clientProcess: this.processOf(caller),
      serverProcess: this.processOf(executor),
      sent,
      returned: null,
      status: 'pending',
      cancelRequested: null,
      ...more,
    });
    return id;
  }

  /** `n` completed calls of a method taking `ms` each, before time 0 (the method's history). */
  history(title: string, caller: number, executor: number, ms: number, n = 20): void {
    for (let i = 0; i < n; i++) this.call(title, caller, executor, -100000 + i * 1000, { returned: -100000 + i * 1000 + ms, status: 'returned' });
  }

  input(at: number, stuckMs?: number): ChainInput {
    return { calls: this.calls, threads: this.threads, processes: this.processes, connections: this.connections, at, stuckMs };
  }
}

/** A model's state as the rows its change feed delivers. */
export function modelRows(m: SessionModel) {
  return {
    calls: m.calls.map(callRow),
    threads: m.threads.map(threadRow),
    processes: m.processes.map(processRow),
    connections: [...m.connections.values()].map((c) => connRow(c.record)),
  };
}
