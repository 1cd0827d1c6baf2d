// Call chains at a point in time: each thread's stack of outstanding calls
// across processes, wait-for edges (waiting thread → call → executing
// thread → nested call …), cycles flagged as deadlock, long-outstanding
// calls flagged as stuck with the leaf thread to attach a debugger to, and
// calls queued behind another call on a busy thread.

import { formatDuration } from '../mp/concepts.js';

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
  /** Age at `at`, or, for an interrupted call, when its connection closed. */
  ageMs: number;
  /** The connection closed (before `at`) while the call was outstanding. */
  interrupted: boolean;
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
  /** The chains (1-based, as printed) the cycle runs through. */
  chains: number[];
}

export interface ThreadState {
  thread: string;
  process: string;
  /** Outstanding calls on this thread, oldest first, as `waiting`/`executing`. */
  stack: { call: number; title: string; as: 'waiting' | 'executing' | 'queued'; ageMs: number }[];
}

export interface ChainReport {
  at: number;
  stuckSeconds: number;
  /** Calls still outstanding at the time. */
  outstanding: number;
  /** Calls a disconnect interrupted before the time (they appear in the chains too). */
  interrupted: number;
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
  // Calls outstanding at `at`, and calls a disconnect interrupted before it
  // (shown as they stood when their connection closed: a hang that was only
  // ended by stopping the processes or ipc-trace is still there to read).
  const endOf = new Map<number, number>();
  const out = input.calls.filter((c) => {
    if (c.sent > at) return false;
    if (c.returned !== null && c.returned <= at) return false;
    const closed = input.closed.get(c.conn);
    if (closed !== undefined && closed <= at) {
      if (c.status !== 'disconnected') return false;
      endOf.set(c.id, closed);
    }
    return true;
  });
  const ageOf = (c: ChainCall) => (endOf.get(c.id) ?? at) - c.sent;
  const byId = new Map(out.map((c) => [c.id, c]));
  // A call's children: callbacks nested in it, and the calls its executing
  // thread made while running it (on any connection).
  const children = new Map<number, ChainCall[]>();
  const isChild = new Set<number>();
  const addChild = (p: ChainCall, c: ChainCall) => {
    const l = children.get(p.id) ?? [];
    l.push(c);
    children.set(p.id, l);
    isChild.add(c.id);
  };
  for (const c of out) {
    const nestedIn = c.parent !== null ? byId.get(c.parent) : undefined;
    if (nestedIn) {
      addChild(nestedIn, c);
      continue;
    }
    if (c.caller === null) continue;
    // The latest call the caller was running when it made this one.
    let serving: ChainCall | undefined;
    for (const p of out) {
      if (p !== c && p.executor === c.caller && p.sent <= c.sent && (!serving || p.sent > serving.sent)) serving = p;
    }
    if (serving) addChild(serving, c);
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
  for (const s of stacks.values()) s.sort((a, b) => a.c.sent - b.c.sent || (a.as === b.as ? a.c.id - b.c.id : a.as === 'executing' ? -1 : 1));

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

  const isStuck = (c: ChainCall) => ageOf(c) >= input.stuckMs;
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
      ageMs: ageOf(c),
      interrupted: endOf.has(c.id),
      stuck: isStuck(c),
      cancelRequested: c.cancelRequested !== null && c.cancelRequested <= at,
      queuedBehind: queued.has(c.id) && r !== undefined ? r : null,
      children: (children.get(c.id) ?? []).sort((a, b) => a.sent - b.sent).map(node),
    };
  };
  const roots = out.filter((c) => !isChild.has(c.id)).sort((a, b) => a.sent - b.sent);
  const chains = roots.map(node);

  // Under those rules no cycle can form over IPC alone: a deadlock closes
  // inside processes (a lock, a condition, a queue the wire cannot show). A
  // chain whose stuck leaf thread runs in a process where a thread waits in
  // another chain (or upstream in its own) depends on that chain; a cycle of
  // such dependencies is reported as a deadlock.
  const deadlocks: Deadlock[] = [];
  interface ChainInfo {
    index: number;
    calls: number[];
    waiters: Set<number>;
    stuckLeaves: { thread: number; call: ChainCall }[];
  }
  const infos: ChainInfo[] = chains.map((root, index) => {
    const info: ChainInfo = { index, calls: [], waiters: new Set(), stuckLeaves: [] };
    const visit = (n: ChainNode) => {
      const c = byId.get(n.call)!;
      info.calls.push(c.id);
      if (c.caller !== null) info.waiters.add(c.caller);
      if (n.children.length === 0 && n.stuck && n.queuedBehind === null && c.executor !== null) info.stuckLeaves.push({ thread: c.executor, call: c });
      n.children.forEach(visit);
    };
    visit(root);
    return info;
  });
  const procOf = (t: number) => threads.get(t)?.process;
  const dependsOn = new Map<number, { to: number; leaf: { thread: number; call: ChainCall }; waiter: number }[]>();
  for (const x of infos) {
    for (const leaf of x.stuckLeaves) {
      for (const y of infos) {
        for (const w of y.waiters) {
          if (w === leaf.thread || procOf(w) === undefined || procOf(w) !== procOf(leaf.thread)) continue;
          const l = dependsOn.get(x.index) ?? [];
          if (!l.some((e) => e.to === y.index)) l.push({ to: y.index, leaf, waiter: w });
          dependsOn.set(x.index, l);
        }
      }
    }
  }
  // Chains that depend on each other in a cycle hang together: one deadlock per
  // strongly connected group (Tarjan), described from its oldest stuck calls.
  const indexOf = new Map<number, number>();
  const low = new Map<number, number>();
  const stack: number[] = [];
  const onStack = new Set<number>();
  let counter = 0;
  const groups: number[][] = [];
  const connect = (v: number): void => {
    indexOf.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const e of dependsOn.get(v) ?? []) {
      if (!indexOf.has(e.to)) {
        connect(e.to);
        low.set(v, Math.min(low.get(v)!, low.get(e.to)!));
      } else if (onStack.has(e.to)) low.set(v, Math.min(low.get(v)!, indexOf.get(e.to)!));
    }
    if (low.get(v) === indexOf.get(v)) {
      const g: number[] = [];
      let w: number;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        g.push(w);
      } while (w !== v);
      groups.push(g.sort((x, y) => x - y));
    }
  };
  for (const x of infos) if (!indexOf.has(x.index)) connect(x.index);
  for (const g of groups.sort((x, y) => x[0]! - y[0]!)) {
    const cyclic = g.length > 1 || (dependsOn.get(g[0]!) ?? []).some((e) => e.to === g[0]);
    if (!cyclic) continue;
    const edges = g.flatMap((m) => (dependsOn.get(m) ?? []).filter((e) => g.includes(e.to)));
    const leaves = [...new Map(edges.map((e) => [e.leaf.call.id, e.leaf])).values()].sort((x, y) => x.call.sent - y.call.sent);
    const procs = [...new Set(leaves.map((l) => threads.get(l.thread)!.processLabel))];
    const first = leaves.slice(0, 2).map((l) => `{${threads.get(l.thread)!.label}} running ${l.call.title} for ${age(ageOf(l.call))}`);
    deadlocks.push({
      kind: 'in-process',
      description:
        `${g.length > 1 ? `chains ${g.map((m) => m + 1).join(', ')} wait on each other` : `chain ${g[0]! + 1} waits on itself`}: ` +
        `each is stuck in a thread of ${procs.join(' or ')} while a thread of that process waits in ${g.length > 1 ? 'another of them' : 'it'}, ` +
        `so the cycle closes inside ${procs.join(' and ')} (a lock, condition or queue the wire cannot show). ` +
        `Oldest stuck: ${first.join('; ')}`,
      threads: [...new Set(g.flatMap((m) => [...infos[m]!.waiters, ...infos[m]!.stuckLeaves.map((l) => l.thread)]))].map((t) => threads.get(t)?.label ?? '?'),
      calls: g.flatMap((m) => infos[m]!.calls),
      chains: g.map((m) => m + 1),
    });
  }

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
      stack: s.map((e) => ({ call: e.c.id, title: e.c.title, as: e.as === 'executing' && queued.has(e.c.id) ? ('queued' as const) : e.as, ageMs: ageOf(e.c) })),
    }))
    .sort((a, b) => a.process.localeCompare(b.process) || a.thread.localeCompare(b.thread));
  return { at, stuckSeconds: input.stuckMs / 1000, outstanding: out.length - endOf.size, interrupted: endOf.size, chains, deadlocks, stuck, threads: states };
}

const age = (ms: number) => formatDuration(ms);

/** The report as text. */
export function formatChains(r: ChainReport, when: string): string {
  const lines: string[] = [];
  const interrupted = r.interrupted ? `, ${r.interrupted} interrupted by disconnect before` : '';
  lines.push(`Call chains at ${when}: ${r.outstanding} outstanding call(s)${interrupted}; stuck after ${r.stuckSeconds}s`);
  if (r.chains.length === 0) lines.push('  no outstanding calls');
  const draw = (n: ChainNode, indent: string) => {
    const flags = [n.interrupted ? 'interrupted by disconnect' : '', n.stuck ? 'STUCK' : '', n.cancelRequested ? 'cancel requested' : '', n.queuedBehind !== null ? `queued behind call ${n.queuedBehind}` : '']
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
      lines.push(`DEADLOCK across chain${d.chains.length > 1 ? 's' : ''} ${d.chains.join(', ')} (calls ${d.calls.join(', ')})`);
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
      for (const e of t.stack) lines.push(`    ${e.as === 'waiting' ? 'waiting on  ' : e.as === 'queued' ? 'queued      ' : 'executing   '} ${e.title} [call ${e.call}] ${age(e.ageMs)}`);
    }
  }
  return lines.join('\n') + '\n';
}
