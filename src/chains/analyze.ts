// analyzeChains: the stages put together into one report of ids and labels.
// outstanding calls → thread stacks (and queued calls) → chains → wait
// graph → deadlock cycles, with the chains behind them and the other stuck
// chains. A pure function of rows: the `chains` command, the terminal UI's
// chains pane and the tests all call it.

import { unknownThreadLabel } from '../mp/concepts.js';
import { outstandingCalls, OpenCall } from './outstanding.js';
import { threadStacks } from './stacks.js';
import { chainForest, rootOf } from './forest.js';
import { hangLimits, HANG_FACTOR } from './limits.js';
import { heldCalls } from './held.js';
import { waitGraph, findCycles, WaitEdge } from './cycles.js';
import type { BlockedCall, ChainInput, ChainNode, ChainReport, Deadlock, StuckChain, ThreadRef, ThreadStack } from './types.js';

export const DEFAULT_STUCK_MS = 5000;

export function analyzeChains(input: ChainInput): ChainReport {
  const { at } = input;
  const stuckMs = input.stuckMs ?? DEFAULT_STUCK_MS;
  const limits = input.limits ?? hangLimits(input.calls, at);
  const threads = new Map(input.threads.map((t) => [t.id, t]));
  const procs = new Map(input.processes.map((p) => [p.id, p]));
  const ref = (thread: number | null, process: number): ThreadRef => {
    const t = thread !== null ? threads.get(thread) : undefined;
    const p = t?.process ?? process;
    const processLabel = procs.get(p)?.label ?? '?';
    return {
      thread: t ? t.id : null,
      process: p,
      label: t?.label ?? unknownThreadLabel(processLabel),
      role: t?.role ?? null,
      processLabel,
      pid: procs.get(p)?.pid ?? null,
    };
  };

  const open = outstandingCalls(input.calls, input.connections, at);
  const byId = new Map<number, OpenCall>(open.map((c) => [c.row.id, c]));
  const { stacks, queued } = threadStacks(open);
  const forest = chainForest(open);
  const held = heldCalls(input.interventions ?? [], input.calls, at);
  const limitOf = (c: OpenCall) => limits.limitFor(c.row.title);
  const isHung = (c: OpenCall) => c.ageMs > limitOf(c);
  /** Past its method's usual time (the limit is HANG_FACTOR × p99), on its way to hung. */
  const isSlow = (c: OpenCall) => c.ageMs > limitOf(c) / HANG_FACTOR;

  const node = (id: number): ChainNode => {
    const c = byId.get(id)!;
    const r = c.row;
    return {
      call: r.id,
      conn: r.conn,
      questionId: r.questionId,
      requestNo: r.requestNo,
      title: r.title,
      target: r.target,
      waiter: ref(r.caller, r.clientProcess),
      executor: ref(r.executor, r.serverProcess),
      sent: r.sent,
      ageMs: c.ageMs,
      interrupted: c.interrupted,
      stuck: c.ageMs >= stuckMs,
      hung: isHung(c),
      limitMs: limitOf(c),
      cancelRequested: r.cancelRequested !== null && r.cancelRequested <= at,
      queuedBehind: queued.get(r.id) ?? null,
      heldBy: held.get(r.id) ?? null,
      children: (forest.children.get(id) ?? []).map(node),
    };
  };
  const chains = forest.roots.map(node);

  const blocked = (id: number): BlockedCall => {
    const c = byId.get(id)!;
    const q = queued.get(id) ?? null;
    return { call: id, title: c.row.title, requestNo: c.row.requestNo, thread: ref(c.row.executor, c.row.serverProcess), ageMs: c.ageMs, queuedBehind: q, heldBy: held.get(id) ?? null };
  };
  const processOf = new Map(input.threads.map((t) => [t.id, t.process]));
  const edges = waitGraph({ open, forest, queued, processOf, hung: (id) => isHung(byId.get(id)!) });
  const forming = waitGraph({ open, forest, queued, processOf, hung: (id) => isSlow(byId.get(id)!) });
  const cycles = findCycles(edges, open, forest, forming);
  const inDeadlock = new Set<number>();
  const deadlocks: Deadlock[] = cycles.map((cy) => {
    const steps = cy.edges.map((e: WaitEdge) => {
      const c = byId.get(e.from)!;
      return { waiter: ref(c.row.caller, c.row.clientProcess), call: e.from, title: c.row.title, ageMs: c.ageMs, path: e.path, blocked: blocked(e.blocked), how: e.how };
    });
    const calls = [...new Set(steps.flatMap((s) => s.path))];
    const threadIds = new Set<number>();
    const processIds = new Set<number>();
    for (const s of steps) {
      for (const t of [s.waiter, s.blocked.thread]) {
        if (t.thread !== null) threadIds.add(t.thread);
        processIds.add(t.process);
      }
    }
    const behind = cy.behind.map(({ root, via }) => {
      const c = byId.get(root)!;
      return { waiter: ref(c.row.caller, c.row.clientProcess), call: root, title: c.row.title, ageMs: c.ageMs, blocked: blocked(via.blocked), on: via.to };
    });
    for (const e of cy.edges) inDeadlock.add(rootOf(forest, e.from));
    for (const b of cy.behind) inDeadlock.add(b.root);
    return { steps, processes: [...processIds], threads: [...threadIds], calls, behind };
  });

  const leafOf = (n: ChainNode): ChainNode => (n.children.length ? leafOf(n.children[n.children.length - 1]!) : n);
  const stuck: StuckChain[] = chains
    .filter((n) => (n.stuck || n.hung) && !inDeadlock.has(n.call))
    .map((n) => ({ waiter: n.waiter, call: n.call, title: n.title, ageMs: n.ageMs, stuck: n.stuck, hung: n.hung, interrupted: n.interrupted, blocked: blocked(leafOf(n).call) }));

  const stackList: ThreadStack[] = [...stacks.entries()]
    .map(([t, s]) => ({
      thread: ref(t, s[0]!.as === 'waiting' ? s[0]!.call.row.clientProcess : s[0]!.call.row.serverProcess),
      stack: s.map((e) => ({ call: e.call.row.id, title: e.call.row.title, as: e.as, ageMs: e.call.ageMs })),
    }))
    .sort((a, b) => a.thread.processLabel.localeCompare(b.thread.processLabel) || a.thread.label.localeCompare(b.thread.label));

  const interrupted = open.filter((c) => c.interrupted).length;
  return { at, stuckMs, outstanding: open.length - interrupted, interrupted, chains, deadlocks, stuck, threads: stackList };
}

