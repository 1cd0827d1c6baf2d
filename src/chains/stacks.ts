// Stage 2: each thread's stack of outstanding calls, and which calls are
// queued. In libmultiprocess (>= v8) a request posted to a thread that is
// waiting in an outgoing IPC call runs on top of that wait (that is how
// callbacks work); one posted to a thread busy executing another request
// waits until it is done: queued behind it.

import type { OpenCall } from './outstanding.js';
import type { StackRole } from './types.js';

export interface StackEntry {
  call: OpenCall;
  as: StackRole;
}

export interface ThreadStacks {
  /** Per thread id: its outstanding calls, oldest first (as waiter: waiting; as executor: executing or queued). */
  stacks: Map<number, StackEntry[]>;
  /** Per thread id: the call it is running now (the top executing call of its stack). */
  running: Map<number, number>;
  /** Queued call id → the call its thread is busy running. */
  queued: Map<number, number>;
}

export function threadStacks(open: OpenCall[]): ThreadStacks {
  const raw = new Map<number, { call: OpenCall; as: 'waiting' | 'executing' }[]>();
  const add = (t: number | null, call: OpenCall, as: 'waiting' | 'executing') => {
    if (t === null) return;
    const s = raw.get(t) ?? [];
    s.push({ call, as });
    raw.set(t, s);
  };
  for (const c of open) {
    add(c.row.caller, c, 'waiting');
    add(c.row.executor, c, 'executing');
  }
  const stacks = new Map<number, StackEntry[]>();
  const running = new Map<number, number>();
  const queuedOn = new Set<number>();
  for (const [t, s] of raw) {
    s.sort((a, b) => a.call.row.sent - b.call.row.sent || (a.as === b.as ? a.call.row.id - b.call.row.id : a.as === 'executing' ? -1 : 1));
    const active: typeof s = [];
    for (const e of s) {
      const top = active[active.length - 1];
      if (e.as === 'executing' && top?.as === 'executing') queuedOn.add(e.call.row.id);
      else active.push(e);
    }
    const exec = [...active].reverse().find((e) => e.as === 'executing');
    if (exec) running.set(t, exec.call.row.id);
    stacks.set(
      t,
      s.map((e) => ({ call: e.call, as: e.as === 'executing' && queuedOn.has(e.call.row.id) ? 'queued' : e.as })),
    );
  }
  const queued = new Map<number, number>();
  for (const c of open) {
    if (!queuedOn.has(c.row.id) || c.row.executor === null) continue;
    const r = running.get(c.row.executor);
    if (r !== undefined) queued.set(c.row.id, r);
  }
  return { stacks, running, queued };
}
