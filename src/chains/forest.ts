// Stage 3: the chains. A call's children are the callbacks nested in it and
// the calls its executing thread made while running it (on any
// connection); a call nothing else waits on is the root of a chain.

import type { OpenCall } from './outstanding.js';

export interface ChainForest {
  /** Root call ids, oldest first. */
  roots: number[];
  /** Call id → its children's ids, oldest first. */
  children: Map<number, number[]>;
  /** Call id → the call it hangs under. */
  parent: Map<number, number>;
}

export function chainForest(open: OpenCall[]): ChainForest {
  const byId = new Map(open.map((c) => [c.row.id, c.row]));
  const children = new Map<number, number[]>();
  const parent = new Map<number, number>();
  const link = (p: number, c: number) => {
    const l = children.get(p) ?? [];
    l.push(c);
    children.set(p, l);
    parent.set(c, p);
  };
  // The latest call each thread was running when it made a call: scan in sent order.
  const sorted = open.map((c) => c.row);
  for (const c of sorted) {
    // (Guarded like the links below: rows from elsewhere than the model, e.g. a merged or
    // imported session, may name a parent sent at the same moment or later.)
    if (c.parent !== null && byId.has(c.parent) && !isAncestor(parent, c.id, c.parent)) {
      link(c.parent, c.id);
      continue;
    }
    if (c.caller === null) continue;
    let serving: (typeof sorted)[number] | undefined;
    for (const p of sorted) {
      if (p !== c && p.executor === c.caller && p.sent <= c.sent && (!serving || p.sent > serving.sent)) serving = p;
    }
    if (serving && !isAncestor(parent, c.id, serving.id)) link(serving.id, c.id);
  }
  const bySent = (a: number, b: number) => byId.get(a)!.sent - byId.get(b)!.sent || a - b;
  for (const l of children.values()) l.sort(bySent);
  const roots = sorted.filter((c) => !parent.has(c.id)).map((c) => c.id).sort(bySent);
  return { roots, children, parent };
}

/** Whether `a` is `b` or one of its ancestors (guards against linking a call under its own descendant). */
function isAncestor(parent: Map<number, number>, a: number, b: number): boolean {
  for (let x: number | undefined = b; x !== undefined; x = parent.get(x)) if (x === a) return true;
  return false;
}

/** The root of the chain a call hangs in. */
export function rootOf(forest: ChainForest, id: number): number {
  let x = id;
  for (let p = forest.parent.get(x); p !== undefined; p = forest.parent.get(x)) x = p;
  return x;
}
