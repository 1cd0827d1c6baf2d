// Call chains at a point in time: each thread's stack of outstanding calls
// across processes, wait-for edges (waiting thread → call → executing
// thread → nested call …), cycles flagged as deadlock, long-outstanding
// calls flagged as stuck with the leaf thread to attach a debugger to, and
// calls queued behind another call on a busy thread.

export interface ChainCall {
  id: number;
  conn: number;
  questionId: number;
  title: string;
  target: string;
  caller: number | null;
  executor: number | null;
  parent: number | null;
  requestNo: number | null;
  clientProcess: number;
  serverProcess: number;
  sent: number;
  returned: number | null;
  status: string;
  cancelRequested: number | null;
}

export interface ChainThread {
  id: number;
  label: string;
  process: number;
  processLabel: string;
  role: string;
}

export interface ChainInput {
  calls: ChainCall[];
  threads: ChainThread[];
  processes: { id: number; label: string }[];
  /** Connection close times (calls on a closed connection were interrupted). */
  closed: Map<number, number>;
  at: number;
  stuckMs: number;
}

export interface ChainNode {
  call: number;
  title: string;
  target: string;
  conn: number;
  questionId: number;
  requestNo: number | null;
  waiter: string;
  executor: string;
  ageMs: number;
  stuck: boolean;
  cancelRequested: boolean;
  /** The executing thread is busy with another call: this one is queued behind it. */
  queuedBehind: number | null;
  children: ChainNode[];
}

export interface Deadlock {
  kind: 'in-process';
  description: string;
  threads: string[];
  calls: number[];
}

export interface ThreadState {
  thread: string;
  process: string;
  /** Outstanding calls on this thread, oldest first, as `waiting`/`executing`. */
  stack: { call: number; title: string; as: 'waiting' | 'executing'; ageMs: number }[];
}

export interface ChainReport {
  at: number;
  stuckSeconds: number;
  outstanding: number;
  chains: ChainNode[];
  deadlocks: Deadlock[];
  stuck: { call: number; title: string; ageMs: number; leafThread: string; leafProcess: string }[];
  threads: ThreadState[];
}

export function analyzeChains(input: ChainInput): ChainReport {
  const { at } = input;
  const threads = new Map(input.threads.map((t) => [t.id, t]));
  const procs = new Map(input.processes.map((p) => [p.id, p.label]));
  const label = (id: number | null, process: number): string =>
    id !== null && threads.has(id) ? threads.get(id)!.label : `${procs.get(process) ?? '?'}/?`;
  const out = input.calls.filter((c) => {
    if (c.sent > at) return false;
    if (c.returned !== null && c.returned <= at) return false;
    const closed = input.closed.get(c.conn);
    if (closed !== undefined && closed <= at) return false;
    return c.status === 'pending' || c.returned !== null || c.status === 'disconnected';
  });
  const byId = new Map(out.map((c) => [c.id, c]));
  const children = new Map<number, ChainCall[]>();
  for (const c of out) {
    if (c.parent !== null && byId.has(c.parent)) {
      const l = children.get(c.parent) ?? [];
      l.push(c);
      children.set(c.parent, l);
    }
  }
  // Per thread: its outstanding calls (as caller: waiting; as executor: executing), oldest first.
  const stacks = new Map<number, { c: ChainCall; as: 'waiting' | 'executing' }[]>();
  const add = (t: number | null, c: ChainCall, as: 'waiting' | 'executing') => {
    if (t === null) return;
    const s = stacks.get(t) ?? [];
    s.push({ c, as });
    stacks.set(t, s);
  };
  for (const c of out) {
    add(c.caller, c, 'waiting');
    add(c.executor, c, 'executing');
  }
  for (const s of stacks.values()) s.sort((a, b) => a.c.sent - b.c.sent || (a.as === 'executing' ? -1 : 1));

  /**
   * What each thread is doing, in libmultiprocess (>= v8) terms: a request
   * posted to a thread that is waiting in an outgoing IPC call runs on top of
   * it (that is how callbacks work); one posted to a thread busy executing
   * another request is queued behind it.
   */
  const running = new Map<number, number>();
  const queued = new Set<number>();
  for (const [t, s] of stacks) {
    const active: { c: ChainCall; as: 'waiting' | 'executing' }[] = [];
    for (const e of s) {
      const top = active[active.length - 1];
      if (e.as === 'executing' && top?.as === 'executing') queued.add(e.c.id);
      else active.push(e);
    }
    const exec = [...active].reverse().find((e) => e.as === 'executing');
    if (exec) running.set(t, exec.c.id);
  }

  const isStuck = (c: ChainCall) => at - c.sent >= input.stuckMs;
  const node = (c: ChainCall): ChainNode => {
    const r = c.executor !== null ? running.get(c.executor) : undefined;
    return {
      call: c.id,
      title: c.title,
      target: c.target,
      conn: c.conn,
      questionId: c.questionId,
      requestNo: c.requestNo,
      waiter: label(c.caller, c.clientProcess),
      executor: label(c.executor, c.serverProcess),
      ageMs: at - c.sent,
      stuck: isStuck(c),
      cancelRequested: c.cancelRequested !== null && c.cancelRequested <= at,
      queuedBehind: queued.has(c.id) && r !== undefined ? r : null,
      children: (children.get(c.id) ?? []).sort((a, b) => a.sent - b.sent).map(node),
    };
  };
  const roots = out.filter((c) => c.parent === null || !byId.has(c.parent)).sort((a, b) => a.sent - b.sent);
  const chains = roots.map(node);

  // Under those rules no cycle can form over IPC alone: a deadlock closes
  // inside a process. A chain whose stuck leaf runs in the same process as a
  // thread waiting upstream is one (a lock or condition that thread holds).
  const deadlocks: Deadlock[] = [];
  const seen = new Set<string>();
  const walk = (n: ChainNode, upstream: { thread: number; call: number }[]): void => {
    const c = byId.get(n.call)!;
    const here = [...upstream, { thread: c.caller ?? -1, call: c.id }];
    if (n.children.length === 0 && n.stuck && c.executor !== null) {
      const leaf = threads.get(c.executor);
      const same = here.find((u) => u.thread >= 0 && threads.get(u.thread)?.process === leaf?.process && u.thread !== c.executor);
      if (leaf && same) {
        const waiter = threads.get(same.thread)!;
        const key = `p${c.id}`;
        if (!seen.has(key)) {
          seen.add(key);
          deadlocks.push({
            kind: 'in-process',
            description:
              `${leaf.label} has been running ${c.title} for ${((at - c.sent) / 1000).toFixed(1)}s without calling out, ` +
              `while ${waiter.label} in the same process (${leaf.processLabel}) waits upstream on this chain: ` +
              `the cycle closes inside ${leaf.processLabel} (a lock or condition the waiting thread holds)`,
            threads: [...new Set(here.filter((u) => u.thread >= 0).map((u) => threads.get(u.thread)?.label ?? '?')), leaf.label],
            calls: here.map((u) => u.call).slice(here.findIndex((u) => u.thread === same.thread)),
          });
        }
      }
    }
    for (const ch of n.children) walk(ch, here);
  };
  for (const n of chains) walk(n, []);

  const stuck: ChainReport['stuck'] = [];
  const leafOf = (n: ChainNode): ChainNode => (n.children.length ? leafOf(n.children[n.children.length - 1]!) : n);
  for (const n of chains) {
    if (!n.stuck) continue;
    const leaf = leafOf(n);
    const lc = byId.get(leaf.call)!;
    stuck.push({
      call: n.call,
      title: n.title,
      ageMs: n.ageMs,
      leafThread: leaf.executor,
      leafProcess: lc.executor !== null ? (threads.get(lc.executor)?.processLabel ?? '?') : (procs.get(lc.serverProcess) ?? '?'),
    });
  }
  const states: ThreadState[] = [...stacks.entries()]
    .map(([t, s]) => ({
      thread: threads.get(t)?.label ?? '?',
      process: threads.get(t)?.processLabel ?? '?',
      stack: s.map((e) => ({ call: e.c.id, title: e.c.title, as: e.as, ageMs: at - e.c.sent })),
    }))
    .sort((a, b) => a.process.localeCompare(b.process) || a.thread.localeCompare(b.thread));
  return { at, stuckSeconds: input.stuckMs / 1000, outstanding: out.length, chains, deadlocks, stuck, threads: states };
}

function age(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)}ms` : `${(ms / 1000).toFixed(1)}s`;
}

/** The report as text. */
export function formatChains(r: ChainReport, when: string): string {
  const lines: string[] = [];
  lines.push(`Call chains at ${when}: ${r.outstanding} outstanding call(s); stuck after ${r.stuckSeconds}s`);
  if (r.chains.length === 0) lines.push('  no outstanding calls');
  const draw = (n: ChainNode, indent: string) => {
    const flags = [n.stuck ? 'STUCK' : '', n.cancelRequested ? 'cancel requested' : '', n.queuedBehind !== null ? `queued behind call ${n.queuedBehind}` : '']
      .filter(Boolean)
      .join(', ');
    lines.push(
      `${indent}{${n.waiter}} waits ${age(n.ageMs)} on ${n.title} [call ${n.call}${n.requestNo !== null ? `, #${n.requestNo}` : ''}, c${n.conn} q${n.questionId}] -> ${n.target}${flags ? `  (${flags})` : ''}`,
    );
    lines.push(`${indent}  run by {${n.executor}}${n.children.length === 0 ? (n.queuedBehind !== null ? ', not started' : ', executing (no outgoing call)') : ''}`);
    for (const c of n.children) draw(c, indent + '    ');
  };
  r.chains.forEach((n, i) => {
    lines.push('');
    lines.push(`chain ${i + 1}:`);
    draw(n, '  ');
  });
  if (r.deadlocks.length) {
    lines.push('');
    for (const d of r.deadlocks) {
      lines.push(`DEADLOCK (cycle closes inside a process): calls ${d.calls.join(' -> ')}`);
      lines.push(`  ${d.description}`);
    }
  }
  if (r.stuck.length) {
    lines.push('');
    for (const s of r.stuck) {
      lines.push(`stuck: ${s.title} [call ${s.call}] outstanding ${age(s.ageMs)}; attach a debugger to ${s.leafProcess}, thread {${s.leafThread}}`);
    }
  }
  if (r.threads.length) {
    lines.push('');
    lines.push('threads:');
    for (const t of r.threads) {
      lines.push(`  {${t.thread}}`);
      for (const e of t.stack) lines.push(`    ${e.as === 'waiting' ? 'waiting on  ' : 'executing   '} ${e.title} [call ${e.call}] ${age(e.ageMs)}`);
    }
  }
  return lines.join('\n') + '\n';
}
