// Trackers the -debug=ipc importer builds rows with (Perfetto's importers
// call shared trackers the same way): process naming, thread identity and
// call nesting. A log carries no wire ids, so these work from names.
//
// Name sources, in order of precedence:
//   1. a thread name in `{…}` (`bitcoin-node-123/b-capnp-loop-125`): the
//      thread, and its process `bitcoin-node-123` (exe, pid);
//   2. a worker's `(from CLIENT)` suffix: the client thread and its process;
//   3. nothing: a placeholder process `peer of P` for the other end of a
//      call only one side's log shows, without a thread name.
// A thread's role: `client` (it sent a call) beats `worker` (it ran a posted
// request) beats `loop` (it received requests); a thread keeps the strongest
// role it was seen in.

import type { CallRow, ProcessRow, ThreadRow } from '../session/rows.js';
import type { ThreadRole } from '../session/records.js';
import { parseThreadName } from '../mp/concepts.js';

export class ProcessTracker {
  readonly rows = new Map<number, ProcessRow>();
  private readonly byLabel = new Map<string, number>();

  /** The process named `label` (created on first sight). */
  named(label: string, exe: string | null = null, pid: number | null = null): number {
    let id = this.byLabel.get(label);
    if (id === undefined) {
      id = this.rows.size + 1;
      this.byLabel.set(label, id);
      this.rows.set(id, { id, label, exe, pid, requests: 0 });
    }
    return id;
  }

  /** The process a thread name belongs to, or a placeholder named after the thread. */
  ofThread(name: string): number {
    const t = parseThreadName(name);
    return t ? this.named(t.process, t.exe, t.pid) : this.named(`process of ${name || '(unnamed thread)'}`);
  }

  /** The unknown other end of calls `of` made or served. */
  peerOf(of: number): number {
    return this.named(`peer of ${this.rows.get(of)!.label}`);
  }

  label(id: number): string {
    return this.rows.get(id)!.label;
  }

  countRequest(process: number, req: number): void {
    const p = this.rows.get(process)!;
    p.requests = Math.max(p.requests, req);
  }
}

const ROLE_RANK: Record<ThreadRole, number> = { loop: 0, worker: 1, client: 2 };

export class ThreadTracker {
  readonly rows = new Map<number, ThreadRow>();
  private readonly byName = new Map<string, number>();

  constructor(private readonly processes: ProcessTracker) {}

  /** The thread named `name`, seen at `time` in `role`; a worker's `(from CLIENT)` links it to that client thread. */
  thread(name: string, role: ThreadRole, time: number): number {
    let id = this.byName.get(name);
    if (id === undefined) {
      id = this.rows.size + 1;
      this.byName.set(name, id);
      const from = parseThreadName(name)?.from ?? null;
      this.rows.set(id, {
        id,
        process: this.processes.ofThread(name),
        role,
        name,
        from: null,
        label: name,
        firstSeen: time,
      });
      if (from !== null) this.rows.get(id)!.from = this.thread(from, 'client', time);
      return id;
    }
    const t = this.rows.get(id)!;
    if (ROLE_RANK[role] > ROLE_RANK[t.role]) t.role = role;
    t.firstSeen = Math.min(t.firstSeen, time);
    return id;
  }
}

/**
 * Call nesting from times and threads: a call's parent is the innermost call
 * its calling thread was executing when it was sent (a callback made while
 * serving a call). Feed calls in the order they were sent.
 */
export class CallNester {
  private readonly executing = new Map<number, CallRow[]>();

  /** `endOf`: when a call stopped executing (its Return, or when a disconnect cut it), null while it runs. */
  constructor(private readonly endOf: (c: CallRow) => number | null = (c) => c.returned) {}

  private stack(thread: number, at: number): CallRow[] {
    let s = this.executing.get(thread);
    if (!s) this.executing.set(thread, (s = []));
    for (let end = s.length ? this.endOf(s[s.length - 1]!) : null; end !== null && end < at; end = s.length ? this.endOf(s[s.length - 1]!) : null) s.pop();
    return s;
  }

  nest(c: CallRow): void {
    const parent = c.caller !== null ? this.stack(c.caller, c.sent).at(-1) : undefined;
    c.parent = parent?.id ?? null;
    c.depth = parent ? parent.depth + 1 : 0;
    if (c.executor !== null) this.stack(c.executor, c.sent).push(c);
  }
}
