// Stages 4 and 5: the wait-for graph between outstanding calls, and the
// deadlock cycles in it.
//
// Over IPC alone no cycle can form (libmultiprocess runs a callback on the
// thread that waits for it, and queues a request behind the one its thread
// runs), so a deadlock closes inside processes: a lock, a condition or a
// queue the wire cannot show. What the wire shows is where each chain ends:
// a call that makes no call and does not return, running in some process.
// If another thread of that process waits upstream on IPC, the blocked call
// may be waiting for it. So:
//
// - Call C depends on call D when a chain of hung calls under C (C itself
//   included) ends in a call running in the process where D's waiting thread
//   lives (not on that thread), or ends queued behind D on a busy thread.
// - A cycle of such dependencies is a deadlock when each of its steps crosses
//   processes (C's waiter and the blocked call are in different processes):
//   blocked threads all in one process are that process being stopped, busy
//   or stuck by itself, shown as stuck calls with the thread to attach to.
// - Among many tangled chains the real cycle is the shortest one through the
//   oldest call, preferring dependencies on the root (originating, top-level)
//   waiter of a chain over intermediate workers serving a remote caller; a
//   blocked method known to wait for a particular thread (waits.ts) depends
//   on that thread alone when it is there.
// - A cycle through a worker is not reported while a cycle through root
//   waiters is forming over the same calls (its other calls already slow,
//   past their method's p99, but not yet hung): the wire shows calls hang
//   one by one, and the first cycle whose calls have all hung would
//   otherwise name the wrong threads for a moment.
// - Every other chain that depends on a cycle, directly or through other
//   chains, is blocked behind it; further cycles are looked for only among
//   the remaining chains, so independent cycles are reported separately.

import type { OpenCall } from './outstanding.js';
import { rootOf as chainRoot, ChainForest } from './forest.js';
import { waitsFor } from './waits.js';

export interface WaitEdge {
  from: number;
  to: number;
  /** The calls from `from` down to the blocked one, both included. */
  path: number[];
  blocked: number;
  how: 'blocked-inside' | 'queued';
  /** `from`'s waiter and the blocked call's thread are in different processes (or it is queued). */
  crossing: boolean;
  /** `to` is the root of its chain (or the edge is a queue, which is certain). */
  strong: boolean;
}

export interface GraphInput {
  open: OpenCall[];
  forest: ChainForest;
  /** Queued call id → the call its thread is busy running. */
  queued: Map<number, number>;
  /** Thread id → process id. */
  processOf: Map<number, number>;
  hung: (call: number) => boolean;
}

export function waitGraph(g: GraphInput): Map<number, WaitEdge[]> {
  const byId = new Map(g.open.map((c) => [c.row.id, c.row]));
  const waiterProcess = (id: number) => {
    const c = byId.get(id)!;
    return (c.caller !== null ? g.processOf.get(c.caller) : undefined) ?? c.clientProcess;
  };
  const executorProcess = (id: number) => {
    const c = byId.get(id)!;
    return (c.executor !== null ? g.processOf.get(c.executor) : undefined) ?? c.serverProcess;
  };
  // Waiting calls by their waiter's process.
  const waitingIn = new Map<number, number[]>();
  for (const c of g.open) {
    if (c.row.caller === null) continue;
    const p = waiterProcess(c.row.id);
    const l = waitingIn.get(p) ?? [];
    l.push(c.row.id);
    waitingIn.set(p, l);
  }
  const edges = new Map<number, WaitEdge[]>();
  for (const c of g.open) {
    const from = c.row.id;
    const out: WaitEdge[] = [];
    const seen = new Set<string>();
    const push = (e: WaitEdge) => {
      const k = `${e.to}:${e.blocked}`;
      if (!seen.has(k)) {
        seen.add(k);
        out.push(e);
      }
    };
    // Every chain of hung calls from this one down to a call that makes no call.
    const walk = (id: number, path: number[]) => {
      if (!g.hung(id)) return;
      const p = [...path, id];
      const kids = g.forest.children.get(id) ?? [];
      if (kids.length) {
        for (const k of kids) walk(k, p);
        return;
      }
      const behind = g.queued.get(id);
      if (behind !== undefined) {
        push({ from, to: behind, path: p, blocked: id, how: 'queued', crossing: true, strong: true });
        return;
      }
      const leaf = byId.get(id)!;
      const proc = executorProcess(id);
      const crossing = proc !== waiterProcess(from);
      let holders = (waitingIn.get(proc) ?? []).filter((d) => byId.get(d)!.caller !== leaf.executor);
      // A method known to wait for a particular thread depends on that one when it is there.
      const known = holders.filter((d) => waitsFor(leaf.title, byId.get(d)!.title) === true);
      if (known.length) holders = known;
      for (const d of holders) push({ from, to: d, path: p, blocked: id, how: 'blocked-inside', crossing, strong: !g.forest.parent.has(d) });
    };
    walk(from, []);
    if (out.length) edges.set(from, out);
  }
  return edges;
}

export interface FoundCycle {
  /** The cycle's edges, from the start call round to it. */
  edges: WaitEdge[];
  /** Chains (root ids) waiting on the cycle, each with the edge that leads it there. */
  behind: { root: number; via: WaitEdge }[];
}

/**
 * The deadlock cycles of a wait graph, oldest first, each with the chains
 * behind it. `forming` is the wait graph over calls that are slow but not
 * necessarily hung yet (a superset of `edges`).
 */
export function findCycles(edges: Map<number, WaitEdge[]>, open: OpenCall[], forest: ChainForest, forming = edges): FoundCycle[] {
  const rootOf = (id: number) => chainRoot(forest, id);
  const order = open.map((c) => c.row.id); // sent order
  const taken = new Set<number>(); // roots of chains already in or behind a cycle
  const found: FoundCycle[] = [];
  for (;;) {
    const usable = (e: WaitEdge, strongOnly: boolean) => e.crossing && (!strongOnly || e.strong) && !taken.has(rootOf(e.to));
    let cycle: WaitEdge[] | null = null;
    for (const strongOnly of [true, false]) {
      for (const s of order) {
        if (taken.has(rootOf(s)) || !edges.has(s)) continue;
        cycle = shortestCycle(s, edges, (e) => usable(e, strongOnly));
        // Through a worker, while a cycle through root waiters forms over one of its calls: not yet.
        if (cycle && !strongOnly && cycle.some((e) => shortestCycle(e.from, forming, (f) => usable(f, true)))) cycle = null;
        if (cycle) break;
      }
      if (cycle) break;
    }
    if (!cycle) break;
    // Everything that waits on the cycle, through any dependency.
    const reached = new Map<number, WaitEdge | null>(cycle.map((e) => [e.from, null]));
    const queue = cycle.map((e) => e.from);
    const incoming = new Map<number, WaitEdge[]>();
    for (const l of edges.values()) {
      for (const e of l) {
        if (taken.has(rootOf(e.from))) continue;
        const a = incoming.get(e.to) ?? [];
        a.push(e);
        incoming.set(e.to, a);
      }
    }
    while (queue.length) {
      const n = queue.shift()!;
      for (const e of incoming.get(n) ?? []) {
        if (reached.has(e.from)) continue;
        reached.set(e.from, e);
        queue.push(e.from);
      }
    }
    const cycleRoots = new Set(cycle.map((e) => rootOf(e.from)));
    const behind = new Map<number, WaitEdge>();
    for (const id of order) {
      const via = reached.get(id);
      if (!via) continue;
      const r = rootOf(id);
      if (cycleRoots.has(r) || behind.has(r)) continue;
      behind.set(r, via);
    }
    for (const r of cycleRoots) taken.add(r);
    for (const r of behind.keys()) taken.add(r);
    found.push({ edges: cycle, behind: [...behind].map(([root, via]) => ({ root, via })) });
  }
  return found;
}

/** The shortest cycle through `s` over the allowed edges (breadth first), or null. */
function shortestCycle(s: number, edges: Map<number, WaitEdge[]>, allowed: (e: WaitEdge) => boolean): WaitEdge[] | null {
  const via = new Map<number, WaitEdge>();
  const queue = [s];
  const seen = new Set([s]);
  while (queue.length) {
    const n = queue.shift()!;
    for (const e of edges.get(n) ?? []) {
      if (!allowed(e)) continue;
      if (e.to === s) {
        const path = [e];
        for (let x = n; x !== s; x = via.get(x)!.from) path.unshift(via.get(x)!);
        return path;
      }
      if (seen.has(e.to)) continue;
      seen.add(e.to);
      via.set(e.to, e);
      queue.push(e.to);
    }
  }
  return null;
}
