// Call chains: outstanding calls at a time, wait-for chains across
// processes, deadlock cycles (over IPC, and closing inside a process),
// stuck calls with the leaf thread, calls queued on a busy thread.

import { describe, it, expect } from 'vitest';
import { join } from 'node:path';
import { ROOT } from '../helpers.js';
import { feedHexlog } from '../session/feed.js';
import { analyzeChains, formatChains, ChainCall, ChainThread } from '../../src/chains/chains.js';
import { threadLabel } from '../../src/session/records.js';
import type { SessionModel } from '../../src/session/model.js';

function fromModel(m: SessionModel, at: number, stuckMs = 5000) {
  const calls: ChainCall[] = m.calls.map((c) => ({
    id: c.id,
    conn: c.conn,
    questionId: c.questionId,
    title: c.title,
    target: c.target,
    caller: c.caller?.id ?? null,
    executor: c.executor?.id ?? null,
    parent: c.parent?.id ?? null,
    requestNo: c.requestNo,
    clientProcess: c.clientProcess.id,
    serverProcess: c.serverProcess.id,
    sent: c.sent,
    returned: c.returned,
    status: c.status,
    cancelRequested: c.cancelRequested,
  }));
  const threads: ChainThread[] = m.threads.map((t) => ({ id: t.id, label: threadLabel(t), process: t.process.id, processLabel: t.process.label, role: t.role }));
  return analyzeChains({ calls, threads, processes: m.processes, closed: new Map(), at, stuckMs });
}

let nextId = 1;
function call(p: Partial<ChainCall> & { caller: number | null; executor: number | null; sent: number }): ChainCall {
  const id = nextId++;
  return {
    id, conn: 1, questionId: id, title: `M.m${id}`, target: 'M', parent: null, requestNo: id,
    clientProcess: 1, serverProcess: 2, returned: null, status: 'pending', cancelRequested: null, ...p,
  };
}

const processes = [
  { id: 1, label: 'bitcoin-wallet-70' },
  { id: 2, label: 'bitcoin-node-50' },
];
const threads: ChainThread[] = [
  { id: 1, label: 'bitcoin-wallet-70/wallet-rpc-71', process: 1, processLabel: 'bitcoin-wallet-70', role: 'client' },
  { id: 2, label: 'bitcoin-node-50 (from bitcoin-wallet-70/wallet-rpc-71)', process: 2, processLabel: 'bitcoin-node-50', role: 'worker' },
  { id: 3, label: 'bitcoin-node-50/b-scheduler-52', process: 2, processLabel: 'bitcoin-node-50', role: 'client' },
  { id: 4, label: 'bitcoin-wallet-70 (from bitcoin-node-50/b-scheduler-52)', process: 1, processLabel: 'bitcoin-wallet-70', role: 'worker' },
  { id: 5, label: 'bitcoin-node-50/b-httpworker.0-53', process: 2, processLabel: 'bitcoin-node-50', role: 'client' },
  { id: 6, label: 'bitcoin-wallet-70 (from bitcoin-node-50/b-httpworker.0-53)', process: 1, processLabel: 'bitcoin-wallet-70', role: 'worker' },
];

describe('call chains', () => {
  it('shows an outstanding call of a real capture with its waiting and running threads, and flags it stuck', () => {
    const m = feedHexlog(join(ROOT, 'test/fixtures/captures/mining-01.hexlog'), []).model;
    const waits = m.calls.filter((c) => c.title === 'Mining.waitTipChanged');
    const last = waits[waits.length - 1]!;
    const at = last.sent + 0.0005; // inside the last waitTipChanged, before interrupt
    const r = fromModel(m, at, 0.0001);
    expect(r.outstanding).toBe(1);
    expect(r.chains[0]!.title).toBe('Mining.waitTipChanged');
    expect(r.chains[0]!.waiter).toBe('bitcoin-mine-test-32192/bitcoin-mine-te-32192');
    expect(r.chains[0]!.executor).toMatch(/\(from bitcoin-mine-test-32192\/bitcoin-mine-te-32192\)$/);
    expect(r.stuck).toHaveLength(1);
    expect(r.stuck[0]!.leafThread).toBe(r.chains[0]!.executor);
    expect(r.deadlocks).toEqual([]);
    const after = fromModel(m, last.returned! + 1);
    expect(after.outstanding).toBe(0);
  });

  it('flags a deadlock whose cycle closes inside a process (lock held by a waiting thread)', () => {
    // wallet-rpc holds the wallet lock and calls the node; the node worker calls back
    // into the wallet from another thread, whose wallet worker needs the lock.
    const c1 = call({ caller: 1, executor: 2, sent: 1000, clientProcess: 1, serverProcess: 2, title: 'Chain.findBlock' });
    const c2 = call({ caller: 2, executor: 4, parent: c1.id, sent: 1001, clientProcess: 2, serverProcess: 1, title: 'ChainNotifications.blockConnected' });
    const r = analyzeChains({ calls: [c1, c2], threads, processes, closed: new Map(), at: 20000, stuckMs: 5000 });
    expect(r.chains).toHaveLength(1);
    expect(r.chains[0]!.children[0]!.call).toBe(c2.id);
    expect(r.deadlocks).toHaveLength(1);
    const d = r.deadlocks[0]!;
    expect(d.kind).toBe('in-process');
    expect(d.calls).toEqual([c1.id, c2.id]);
    expect(d.threads).toContain('bitcoin-wallet-70/wallet-rpc-71');
    expect(d.threads).toContain('bitcoin-wallet-70 (from bitcoin-node-50/b-scheduler-52)');
    expect(r.stuck[0]!.leafThread).toBe('bitcoin-wallet-70 (from bitcoin-node-50/b-scheduler-52)');
    const text = formatChains(r, 'now');
    expect(text).toContain(`DEADLOCK across chain 1 (calls ${c1.id}, ${c2.id})`);
    expect(text).toContain('attach a debugger to bitcoin-wallet-70, thread {bitcoin-wallet-70 (from bitcoin-node-50/b-scheduler-52)}');
  });

  it('flags a deadlock that runs through two chains and closes inside both processes', () => {
    // An RPC thread calls Wallet.sendMany; the wallet worker takes cs_wallet and calls back
    // Chain.waitForNotificationsIfTipChanged, which waits (in the node) for the scheduler; the
    // scheduler is calling ChainNotifications.blockConnected, whose wallet worker needs cs_wallet.
    const q0 = call({ caller: 5, executor: 6, sent: 0, clientProcess: 2, serverProcess: 1, title: 'Wallet.sendMany' });
    const q1 = call({ caller: 6, executor: 5, parent: q0.id, sent: 1, clientProcess: 1, serverProcess: 2, title: 'Chain.waitForNotificationsIfTipChanged' });
    const q2 = call({ caller: 3, executor: 4, sent: 2, clientProcess: 2, serverProcess: 1, title: 'ChainNotifications.blockConnected' });
    const r = analyzeChains({ calls: [q0, q1, q2], threads, processes, closed: new Map(), at: 30000, stuckMs: 5000 });
    expect(r.chains).toHaveLength(2);
    expect(r.deadlocks).toHaveLength(1);
    const d = r.deadlocks[0]!;
    expect(d.chains).toEqual([1, 2]);
    expect(new Set(d.calls)).toEqual(new Set([q0.id, q1.id, q2.id]));
    expect(d.description).toContain('inside bitcoin-node-50 and bitcoin-wallet-70');
    // Not a deadlock while the calls are young.
    expect(analyzeChains({ calls: [q0, q1, q2], threads, processes, closed: new Map(), at: 3000, stuckMs: 5000 }).deadlocks).toEqual([]);
  });

  it('puts a call made by a thread while it runs another call under that call', () => {
    // The node worker serving a wallet call calls another process on another connection.
    const a = call({ caller: 1, executor: 2, sent: 0 });
    const b = call({ caller: 2, executor: 4, sent: 1, conn: 2 });
    const r = analyzeChains({ calls: [a, b], threads, processes, closed: new Map(), at: 10, stuckMs: 5000 });
    expect(r.chains).toHaveLength(1);
    expect(r.chains[0]!.children.map((n) => n.call)).toEqual([b.id]);
  });

  it('runs a request posted to a waiting thread on top of its wait, as libmultiprocess does', () => {
    // Thread 1 waits on a call run by 3; thread 3 then calls thread 1 (not found as a callback):
    // libmultiprocess runs it while thread 1 waits, so this is no deadlock and nothing is queued.
    const a = call({ caller: 1, executor: 3, sent: 0 });
    const b = call({ caller: 3, executor: 1, sent: 1, conn: 2 });
    const r = analyzeChains({ calls: [a, b], threads, processes, closed: new Map(), at: 10, stuckMs: 5000 });
    expect(r.deadlocks).toEqual([]);
    expect(r.chains.every((n) => n.queuedBehind === null)).toBe(true);
  });

  it('does not call a callback on the waiting thread a cycle', () => {
    const a = call({ caller: 1, executor: 2, sent: 0 });
    const b = call({ caller: 2, executor: 1, parent: a.id, sent: 1 });
    const r = analyzeChains({ calls: [a, b], threads, processes, closed: new Map(), at: 10, stuckMs: 5000 });
    expect(r.deadlocks).toEqual([]);
    expect(r.chains[0]!.children[0]!.queuedBehind).toBeNull();
  });

  it('shows a call queued behind another on a busy thread', () => {
    const a = call({ caller: 1, executor: 2, sent: 0, title: 'Mining.waitTipChanged' });
    const b = call({ caller: 3, executor: 2, sent: 5, title: 'Mining.getTip' });
    const r = analyzeChains({ calls: [a, b], threads, processes, closed: new Map(), at: 100, stuckMs: 5000 });
    const nb = r.chains.find((n) => n.call === b.id)!;
    expect(nb.queuedBehind).toBe(a.id);
    expect(formatChains(r, 'x')).toContain(`queued behind call ${a.id}`);
  });

  it('leaves out calls that returned or whose connection closed before the time', () => {
    const a = call({ caller: 1, executor: 2, sent: 0, returned: 5, status: 'returned' });
    const b = call({ caller: 1, executor: 2, sent: 1, conn: 2, status: 'disconnected' });
    const r = analyzeChains({ calls: [a, b], threads, processes, closed: new Map([[2, 8]]), at: 10, stuckMs: 5000 });
    expect(r.outstanding).toBe(0);
    // The call the disconnect cut is still shown, aged at the disconnect.
    expect(r.interrupted).toBe(1);
    expect(r.chains.map((n) => [n.call, n.interrupted, n.ageMs])).toEqual([[b.id, true, 7]]);
    expect(analyzeChains({ calls: [a, b], threads, processes, closed: new Map([[2, 8]]), at: 4, stuckMs: 5000 }).outstanding).toBe(2);
  });
});
