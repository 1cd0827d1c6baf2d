// Call chains and deadlocks from session rows: the demo's deadlock shape
// (the two b-scheduler threads form the cycle, HTTP workers wait behind it),
// processes that are merely stopped (stuck, not a deadlock), two independent
// cycles, hang limits from the session's own timings, long-polls, calls
// queued on a busy thread, interrupted calls; the text report.

import { describe, it, expect } from 'vitest';
import { World } from './build.js';
import { analyzeChains, formatChains, hangLimits, MethodTimings, HANG_FACTOR, HANG_FLOOR_MS, UNSEEN_LIMIT_MS, type ChainReport } from '../../src/chains/chains.js';

/** The demo's deadlock: wallet b-scheduler holds cs_wallet waiting on the node, whose scheduler is stuck in the wallet. */
function demoDeadlock(httpWorkers = 4) {
  const w = new World();
  const node = w.process('bitcoin-node');
  const wallet = w.process('bitcoin-wallet');
  const nodeSched = w.client(node, 'b-scheduler');
  const walletSched = w.client(wallet, 'b-scheduler');
  const http = Array.from({ length: httpWorkers }, (_, i) => w.client(node, `b-httpworker.${i}`));
  const walletForSched = w.worker(wallet, nodeSched);
  const nodeForWalletSched = w.worker(node, walletSched);
  const walletForHttp = http.map((h) => w.worker(wallet, h));
  // Normal traffic before the hang: every method is fast.
  w.history('Chain.waitForNotificationsIfTipChanged', walletSched, nodeForWalletSched, 2);
  if (http.length) w.history('Wallet.getBalances', http[0]!, walletForHttp[0]!, 5);
  const blockConnected = w.call('ChainNotifications.blockConnected', nodeSched, walletForSched, 0);
  const waitFor = w.call('Chain.waitForNotificationsIfTipChanged', walletSched, nodeForWalletSched, 50);
  const httpCalls = http.map((h, i) => {
    const c = w.call('Wallet.getBalances', h, walletForHttp[i]!, 100 + 100 * i);
    // Some wallet workers got cs_wallet's reader side and call back; the callback runs on the waiting HTTP thread.
    if (i % 2 === 1) w.call('Chain.waitForNotificationsIfTipChanged', walletForHttp[i]!, h, 120 + 100 * i, { parent: c });
    return c;
  });
  return { w, node, wallet, nodeSched, walletSched, http, walletForSched, nodeForWalletSched, blockConnected, waitFor, httpCalls };
}

const threadIdsOf = (r: ChainReport) => r.deadlocks.map((d) => d.steps.map((s) => s.waiter.thread));

describe('deadlock detection', () => {
  it('finds the cycle of the two b-scheduler threads and puts the HTTP workers behind it', () => {
    const d = demoDeadlock();
    const r = analyzeChains(d.w.input(4000));
    expect(r.deadlocks).toHaveLength(1);
    const dl = r.deadlocks[0]!;
    // The cycle from its oldest call: node b-scheduler → blockConnected in the wallet ⇄ wallet b-scheduler → waitFor… in the node.
    expect(dl.steps.map((s) => [s.waiter.thread, s.call, s.blocked.call, s.blocked.thread.thread, s.how])).toEqual([
      [d.nodeSched, d.blockConnected, d.blockConnected, d.walletForSched, 'blocked-inside'],
      [d.walletSched, d.waitFor, d.waitFor, d.nodeForWalletSched, 'blocked-inside'],
    ]);
    expect(new Set(dl.processes)).toEqual(new Set([d.node, d.wallet]));
    expect(new Set(dl.calls)).toEqual(new Set([d.blockConnected, d.waitFor]));
    // Every HTTP worker is behind it, none in it.
    expect(dl.behind.map((b) => b.waiter.thread).sort()).toEqual([...d.http].sort());
    expect(dl.behind.map((b) => b.call).sort()).toEqual([...d.httpCalls].sort());
    for (const b of dl.behind) expect([d.blockConnected, d.waitFor]).toContain(b.on);
    // Nothing else is listed as stuck on its own.
    expect(r.stuck).toEqual([]);
  });

  it('prefers the cycle through the originating threads over one through a worker serving a remote caller', () => {
    // An HTTP worker's wallet call, already waiting on its callback in the node, before the wallet's scheduler waits:
    // blockConnected is blocked in the wallet where both that worker and the wallet's b-scheduler wait.
    const d = demoDeadlock(0);
    const http = d.w.client(d.node, 'b-httpworker.0');
    const worker = d.w.worker(d.wallet, http);
    const early = d.w.call('Wallet.getBalances', http, worker, 10);
    d.w.call('Chain.waitForNotificationsIfTipChanged', worker, http, 20, { parent: early });
    const r = analyzeChains(d.w.input(4000));
    expect(threadIdsOf(r)).toEqual([[d.nodeSched, d.walletSched]]);
    expect(r.deadlocks[0]!.behind.map((b) => b.call)).toEqual([early]);
  });

  it('does not name the cycle through a worker while the one through the originating threads is still forming', () => {
    // The HTTP worker's wait started before the wallet scheduler's: for a moment its calls have all
    // passed their limits while the scheduler's wait, already slow, has not.
    const d = demoDeadlock(0);
    const http = d.w.client(d.node, 'b-httpworker.0');
    const worker = d.w.worker(d.wallet, http);
    const early = d.w.call('Wallet.getBalances', http, worker, -30);
    d.w.call('Chain.waitForNotificationsIfTipChanged', worker, http, -20, { parent: early });
    const between = 50 + UNSEEN_LIMIT_MS - 30; // blockConnected and the worker's calls hung, the scheduler's wait not yet
    const r = analyzeChains(d.w.input(between));
    expect(r.chains.find((c) => c.call === d.waitFor)!.hung).toBe(false);
    expect(r.chains.find((c) => c.call === early)!.hung).toBe(true);
    expect(r.deadlocks).toEqual([]);
    expect(threadIdsOf(analyzeChains(d.w.input(50 + UNSEEN_LIMIT_MS + 1)))).toEqual([[d.nodeSched, d.walletSched]]);
  });

  it('knows that waitForNotificationsIfTipChanged waits for the thread delivering notifications, not an older RPC thread', () => {
    // An HTTP worker's wallet call, blocked on cs_wallet too, sent just before blockConnected: the oldest call,
    // yet the node worker running waitForNotificationsIfTipChanged waits for the b-scheduler, not for it.
    const d = demoDeadlock(0);
    const http = d.w.client(d.node, 'b-httpworker.0');
    const early = d.w.call('Wallet.getNewDestination', http, d.w.worker(d.wallet, http), -1);
    const r = analyzeChains(d.w.input(4000));
    expect(threadIdsOf(r)).toEqual([[d.nodeSched, d.walletSched]]);
    expect(r.deadlocks[0]!.behind.map((b) => [b.call, b.on])).toEqual([[early, d.waitFor]]);
  });

  it('reports nothing while the calls are within their methods\' usual times', () => {
    const d = demoDeadlock();
    expect(analyzeChains(d.w.input(300)).deadlocks).toEqual([]);
    // blockConnected never completed before: it counts as hung after the floor.
    expect(analyzeChains(d.w.input(50 + UNSEEN_LIMIT_MS + 1)).deadlocks).toHaveLength(1);
  });

  it('waits for every call of the cycle to pass its method\'s limit (10 × p99 of the session\'s completed calls)', () => {
    const d = demoDeadlock();
    // In this session waitForNotificationsIfTipChanged usually takes 300 ms: a 2 s wait is not yet telling.
    d.w.history('Chain.waitForNotificationsIfTipChanged', d.walletSched, d.nodeForWalletSched, 300, 50);
    const limit = HANG_FACTOR * 300;
    expect(hangLimits(d.w.calls, 0).limitFor('Chain.waitForNotificationsIfTipChanged')).toBe(limit);
    expect(analyzeChains(d.w.input(50 + limit - 100)).deadlocks).toEqual([]);
    expect(analyzeChains(d.w.input(50 + limit + 100)).deadlocks).toHaveLength(1);
  });

  it('does not call a three-process chain into a stopped process a deadlock: it is stuck, with the thread to attach to', () => {
    const w = new World();
    const gui = w.process('bitcoin-gui');
    const node = w.process('bitcoin-node');
    const wallet = w.process('bitcoin-wallet'); // SIGSTOPped
    const guiMain = w.client(gui, 'bitcoin-gui');
    const nodeForGui = w.worker(node, guiMain);
    const walletForNodeWorker = w.worker(wallet, nodeForGui);
    const nodeSched = w.client(node, 'b-scheduler');
    const walletForSched = w.worker(wallet, nodeSched);
    const walletSched = w.client(wallet, 'b-scheduler');
    const nodeForWalletSched = w.worker(node, walletSched);
    w.history('Wallet.getBalances', nodeForGui, walletForNodeWorker, 3);
    w.history('Chain.getHeight', walletSched, nodeForWalletSched, 1);
    const top = w.call('Node.getBalances', guiMain, nodeForGui, 0);
    const inner = w.call('Wallet.getBalances', nodeForGui, walletForNodeWorker, 5, { conn: 2 });
    const sched = w.call('ChainNotifications.blockConnected', nodeSched, walletForSched, 200, { conn: 2 });
    // The wallet's own call into the node was answered before it stopped.
    w.call('Chain.getHeight', walletSched, nodeForWalletSched, 10, { conn: 2, returned: 11, status: 'returned' });
    const r = analyzeChains(w.input(10000));
    expect(r.deadlocks).toEqual([]);
    expect(r.chains.map((n) => n.call)).toEqual([top, sched]);
    expect(r.chains[0]!.children.map((n) => n.call)).toEqual([inner]);
    expect(r.stuck.map((s) => [s.call, s.blocked.call, s.blocked.thread.thread, s.blocked.thread.process])).toEqual([
      [top, inner, walletForNodeWorker, wallet],
      [sched, sched, walletForSched, wallet],
    ]);
  });

  it('does not make a cycle of chains blocked in one stopped process (each runs its callback on its own waiting thread)', () => {
    const w = new World();
    const node = w.process('bitcoin-node'); // SIGSTOPped
    const wallet = w.process('bitcoin-wallet');
    const http = w.client(node, 'b-httpworker.0');
    const nodeSched = w.client(node, 'b-scheduler');
    const walletSched = w.client(wallet, 'b-scheduler');
    const walletForHttp = w.worker(wallet, http);
    const walletForSched = w.worker(wallet, nodeSched);
    const nodeForWalletSched = w.worker(node, walletSched);
    const h = w.call('Wallet.createTransaction', http, walletForHttp, 0);
    w.call('Chain.estimateSmartFee', walletForHttp, http, 10, { parent: h });
    const s = w.call('ChainNotifications.blockConnected', nodeSched, walletForSched, 20);
    w.call('Chain.findBlock', walletForSched, nodeSched, 30, { parent: s });
    w.call('Chain.waitForNotificationsIfTipChanged', walletSched, nodeForWalletSched, 40);
    const r = analyzeChains(w.input(10000));
    expect(r.deadlocks).toEqual([]);
    expect(new Set(r.stuck.map((x) => x.blocked.thread.process))).toEqual(new Set([node]));
  });

  it('reports threads blocked in one process by each other (no IPC cycle) as stuck, not as an IPC deadlock', () => {
    const w = new World();
    const a = w.process('bitcoin-node');
    const b = w.process('bitcoin-wallet');
    const t1 = w.client(a, 't1');
    const t2 = w.client(a, 't2');
    const b1 = w.worker(b, t1);
    const b2 = w.worker(b, t2);
    const c1 = w.call('Wallet.a', t1, b1, 0);
    w.call('Chain.x', b1, t1, 10, { parent: c1 }); // runs on t1, blocked in the node
    const c2 = w.call('Wallet.b', t2, b2, 20);
    w.call('Chain.y', b2, t2, 30, { parent: c2 }); // runs on t2, blocked in the node
    const r = analyzeChains(w.input(10000));
    expect(r.deadlocks).toEqual([]);
    expect(r.stuck.map((s) => s.call)).toEqual([c1, c2]);
  });

  it('reports two independent cycles separately, each with the chains behind it', () => {
    const one = demoDeadlock(1);
    const w = one.w;
    // A second node/wallet pair in the same session, hanging the same way a second later.
    const node2 = w.process('bitcoin-node');
    const wallet2 = w.process('bitcoin-wallet');
    const s2 = w.client(node2, 'b-scheduler');
    const ws2 = w.client(wallet2, 'b-scheduler');
    const h2 = w.client(node2, 'b-httpworker.0');
    const bc2 = w.call('ChainNotifications.blockConnected', s2, w.worker(wallet2, s2), 1000, { conn: 2 });
    const wf2 = w.call('Chain.waitForNotificationsIfTipChanged', ws2, w.worker(node2, ws2), 1050, { conn: 2 });
    const hc2 = w.call('Wallet.getBalances', h2, w.worker(wallet2, h2), 1100, { conn: 2 });
    const r = analyzeChains(w.input(8000));
    expect(threadIdsOf(r)).toEqual([
      [one.nodeSched, one.walletSched],
      [s2, ws2],
    ]);
    expect(r.deadlocks[0]!.behind.map((b) => b.call)).toEqual(one.httpCalls);
    expect(r.deadlocks[1]!.steps.map((s) => s.call)).toEqual([bc2, wf2]);
    expect(r.deadlocks[1]!.behind.map((b) => b.call)).toEqual([hc2]);
    expect(new Set(r.deadlocks[1]!.processes)).toEqual(new Set([node2, wallet2]));
    expect(formatChains(r, { when: 'now' })).toMatch(/^Found 2 IPC deadlocks\n/);
  });

  it('follows a cycle round three processes, and through a nested call into a third process', () => {
    const w = new World();
    const [p1, p2, p3] = [w.process('bitcoin-node'), w.process('bitcoin-wallet'), w.process('bitcoin-gui')];
    const [t1, t2, t3] = [w.client(p1, 't1'), w.client(p2, 't2'), w.client(p3, 't3')];
    const a = w.call('Wallet.a', t1, w.worker(p2, t1), 0);
    const b = w.call('Gui.b', t2, w.worker(p3, t2), 10, { conn: 2 });
    const c = w.call('Chain.c', t3, w.worker(p1, t3), 20, { conn: 3 });
    const r = analyzeChains(w.input(5000));
    expect(r.deadlocks).toHaveLength(1);
    expect(r.deadlocks[0]!.steps.map((s) => [s.waiter.thread, s.call, s.blocked.thread.process])).toEqual([
      [t1, a, p2],
      [t2, b, p3],
      [t3, c, p1],
    ]);
    expect(new Set(r.deadlocks[0]!.processes)).toEqual(new Set([p1, p2, p3]));

    // The wallet's call runs in the GUI on a worker that calls the node, where t1 holds what it needs.
    const v = new World();
    const [q1, q2, q3] = [v.process('bitcoin-node'), v.process('bitcoin-wallet'), v.process('bitcoin-gui')];
    const [u1, u2] = [v.client(q1, 't1'), v.client(q2, 't2')];
    const guiWorker = v.worker(q3, u2);
    const x = v.call('Wallet.a', u1, v.worker(q2, u1), 0);
    const y = v.call('Gui.b', u2, guiWorker, 10, { conn: 2 });
    const z = v.call('Chain.c', guiWorker, v.worker(q1, guiWorker), 20, { conn: 3 });
    const rv = analyzeChains(v.input(5000));
    expect(rv.deadlocks[0]!.steps.map((s) => [s.call, s.path, s.blocked.call])).toEqual([
      [x, [x], x],
      [y, [y, z], z],
    ]);
    const text = formatChains(rv, { when: 'now' });
    expect(text).toContain(`    → runs in ${v.threads[guiWorker - 1]!.label}, which waits on Chain.c [call ${z}]`);
  });

  it('closes a cycle through a call queued behind a busy thread', () => {
    const w = new World();
    const node = w.process('bitcoin-node');
    const wallet = w.process('bitcoin-wallet');
    const ns = w.client(node, 'b-scheduler');
    const ws = w.client(wallet, 'b-scheduler');
    const wfs = w.worker(wallet, ns);
    const nfw = w.worker(node, ws);
    // The node worker serving the wallet's scheduler is busy with a call blocked in the node (on the scheduler)…
    const a = w.call('ChainNotifications.blockConnected', ns, wfs, 0);
    const busy = w.call('Chain.waitForNotificationsIfTipChanged', ws, nfw, 10);
    // …and the wallet worker's next request to that same node worker waits behind it.
    const q = w.call('Chain.findBlock', wfs, nfw, 20, { parent: a });
    const r = analyzeChains(w.input(5000));
    expect(r.chains.find((n) => n.call === a)!.children[0]!.queuedBehind).toBe(busy);
    expect(r.deadlocks).toHaveLength(1);
    const steps = r.deadlocks[0]!.steps;
    expect(steps.map((s) => [s.call, s.blocked.call, s.how])).toEqual([
      [a, q, 'queued'],
      [busy, busy, 'blocked-inside'],
    ]);
  });
});

describe('hang limits', () => {
  it('are 10 × the p99 of a method\'s completed calls up to the time, at least the floor; the floor for a method not seen completing', () => {
    const w = new World();
    const p = w.process('bitcoin-node');
    const q = w.process('bitcoin-wallet');
    const t = w.client(p, 'b-scheduler');
    const x = w.worker(q, t);
    for (let i = 1; i <= 100; i++) w.call('Wallet.slow', t, x, i * 1000, { returned: i * 1000 + i * 10, status: 'returned' });
    w.call('Wallet.fast', t, x, 0, { returned: 2, status: 'returned' });
    const at = 200000;
    expect(hangLimits(w.calls, at).limitFor('Wallet.slow')).toBe(HANG_FACTOR * 990);
    expect(hangLimits(w.calls, at).limitFor('Wallet.fast')).toBe(HANG_FLOOR_MS);
    expect(hangLimits(w.calls, at).limitFor('Wallet.unseen')).toBe(UNSEEN_LIMIT_MS);
    // Only calls completed by the time count.
    expect(hangLimits(w.calls, 50500).limitFor('Wallet.slow')).toBe(HANG_FACTOR * 500);
  });

  it('kept from a change feed (rows repeated across deltas) equal those computed from the rows at once', () => {
    const d = demoDeadlock();
    d.w.history('Wallet.slow', d.nodeSched, d.walletForSched, 300, 7);
    const t = new MethodTimings();
    for (const c of [...d.w.calls, ...d.w.calls]) t.add(c);
    const all = hangLimits(d.w.calls, 0);
    for (const title of ['Wallet.slow', 'Wallet.getBalances', 'Chain.waitForNotificationsIfTipChanged', 'ChainNotifications.blockConnected']) {
      expect(t.limitFor(title), title).toBe(all.limitFor(title));
    }
    expect(t.limitFor('Wallet.slow')).toBe(3000);
    expect(analyzeChains({ ...d.w.input(4000), limits: t }).deadlocks).toHaveLength(1);
  });
});

describe('chains', () => {
  function pair() {
    const w = new World();
    const wallet = w.process('bitcoin-wallet');
    const node = w.process('bitcoin-node');
    const rpc = w.client(wallet, 'wallet-rpc');
    const nodeForRpc = w.worker(node, rpc);
    const sched = w.client(node, 'b-scheduler');
    const walletForSched = w.worker(wallet, sched);
    return { w, wallet, node, rpc, nodeForRpc, sched, walletForSched };
  }

  it('keeps a tree when rows name parents that would loop (calls sent at the same moment, rows from an import or merge)', () => {
    const { w, rpc, nodeForRpc, sched, walletForSched } = pair();
    const a = w.call('Chain.m1', rpc, nodeForRpc, 0);
    const b = w.call('ChainNotifications.m2', sched, walletForSched, 0);
    const c = w.call('Chain.m3', walletForSched, sched, 0, { parent: 4 });
    w.call('ChainNotifications.m4', nodeForRpc, rpc, 0, { parent: c });
    w.call('Chain.m5', rpc, nodeForRpc, 0, { parent: 5 });
    const r = analyzeChains(w.input(10_000));
    const seen: number[] = [];
    const visit = (n: ChainReport['chains'][number]) => {
      seen.push(n.call);
      n.children.forEach(visit);
    };
    r.chains.forEach(visit);
    expect(seen.sort((x, y) => x - y)).toEqual([a, b, c, 4, 5]);
  });

  it('puts a call made by a thread while it runs another call under that call', () => {
    const { w, rpc, nodeForRpc, walletForSched } = pair();
    const a = w.call('Chain.findBlock', rpc, nodeForRpc, 0);
    const b = w.call('ChainNotifications.blockConnected', nodeForRpc, walletForSched, 1, { conn: 2 });
    const r = analyzeChains(w.input(10));
    expect(r.chains).toHaveLength(1);
    expect(r.chains[0]!.children.map((n) => n.call)).toEqual([b]);
    expect(r.chains[0]!.waiter).toMatchObject({ thread: rpc, label: 'bitcoin-wallet-100/wallet-rpc-101', role: 'client', pid: 100 });
  });

  it('runs a request posted to a waiting thread on top of its wait, as libmultiprocess does: no queue, no cycle', () => {
    const { w, rpc, sched } = pair();
    w.call('Chain.findBlock', rpc, sched, 0);
    w.call('ChainNotifications.blockConnected', sched, rpc, 1, { conn: 2 });
    const r = analyzeChains(w.input(60000));
    expect(r.deadlocks).toEqual([]);
    expect(r.chains.every((n) => n.queuedBehind === null)).toBe(true);
  });

  it('shows a call queued behind another on a busy thread', () => {
    const { w, rpc, nodeForRpc, sched } = pair();
    const a = w.call('Mining.waitTipChanged', rpc, nodeForRpc, 0);
    const b = w.call('Mining.getTip', sched, nodeForRpc, 5);
    const r = analyzeChains(w.input(100));
    expect(r.chains.find((n) => n.call === b)!.queuedBehind).toBe(a);
    const t = r.threads.find((s) => s.thread.thread === nodeForRpc)!;
    expect(t.stack.map((e) => [e.call, e.as])).toEqual([
      [a, 'executing'],
      [b, 'queued'],
    ]);
    expect(formatChains(r, { when: 'x', threads: true })).toContain(`queued behind call ${a}`);
  });

  it('leaves out calls that returned or whose connection closed before the time, but keeps those a disconnect cut', () => {
    const { w, rpc, nodeForRpc } = pair();
    w.call('Chain.a', rpc, nodeForRpc, 0, { returned: 5, status: 'returned' });
    const b = w.call('Chain.b', rpc, nodeForRpc, 1, { conn: 2, status: 'disconnected' });
    w.connections.push({ id: 2, closed: 8 });
    const r = analyzeChains(w.input(10));
    expect(r.outstanding).toBe(0);
    expect(r.interrupted).toBe(1);
    expect(r.chains.map((n) => [n.call, n.interrupted, n.ageMs])).toEqual([[b, true, 7]]);
    expect(analyzeChains(w.input(4)).outstanding).toBe(2);
  });

  it('marks calls past --stuck as stuck, independently of deadlock detection', () => {
    const { w, rpc, nodeForRpc } = pair();
    const a = w.call('Chain.a', rpc, nodeForRpc, 0);
    expect(analyzeChains(w.input(300, 200)).chains[0]).toMatchObject({ call: a, stuck: true, hung: false });
    expect(analyzeChains(w.input(300)).chains[0]).toMatchObject({ call: a, stuck: false, hung: false });
    expect(analyzeChains(w.input(300, 200)).stuck.map((s) => s.call)).toEqual([a]);
  });
});

describe('the text report', () => {
  it('says the verdict first, then one line per edge of the cycle, the threads behind it, and where to attach gdb', () => {
    const d = demoDeadlock();
    const r = analyzeChains(d.w.input(4100));
    const text = formatChains(r, { when: 'now' });
    const lines = text.split('\n');
    expect(lines[0]).toBe('Found 1 IPC deadlock');
    const label = (t: number) => d.w.threads[t - 1]!.label;
    const first = lines.findIndex((l) => l.includes(`${label(d.nodeSched)} waits 4.1s on ChainNotifications.blockConnected [call ${d.blockConnected}]`));
    expect(first).toBeGreaterThan(0);
    // The worker each process made for the calling thread is named by its process, short.
    expect(label(d.walletForSched)).toBe(`bitcoin-wallet-200 (from ${label(d.nodeSched)})`);
    expect(lines[first + 1]).toBe('    → runs in bitcoin-wallet-200 on the worker serving it, makes no call: blocked inside bitcoin-wallet-200');
    expect(lines[first + 2]).toBe('      (a lock or condition the wire cannot show)');
    expect(lines[first + 3]).toContain(`${label(d.walletSched)} waits 4.0s on Chain.waitForNotificationsIfTipChanged [call ${d.waitFor}]`);
    expect(lines[first + 4]).toBe('    → runs in bitcoin-node-100 on the worker serving it, makes no call: blocked inside bitcoin-node-100');
    expect(lines[first + 5]).toBe(`      where ${label(d.nodeSched)} waits (first line): the cycle closes`);
    expect(lines[first + 6]).toMatch(/^ {2}4 threads blocked behind it:$/);
    // Each thread behind it on two lines: what it waits on, then where that is blocked.
    for (let i = 0; i < 4; i++) {
      expect(lines[first + 7 + 2 * i]).toContain(`${label(d.http[i]!)} waits`);
      // A callback runs on the waiting HTTP thread itself: said so, not named twice.
      expect(lines[first + 8 + 2 * i]).toBe(
        i % 2 === 1
          ? `      → Chain.waitForNotificationsIfTipChanged [call ${d.httpCalls[i]! + 1}] in the same thread, blocked inside bitcoin-node-100`
          : '      run by bitcoin-wallet-200 on the worker serving it, blocked inside bitcoin-wallet-200',
      );
    }
    // gdb: the wallet (pid 200) thread running blockConnected, found by its request number; the how on the next line.
    const gdb = lines.indexOf(`    gdb -p 200, thread apply all bt: frame blockConnected, in the thread running request #${d.blockConnected}`);
    expect(gdb).toBeGreaterThan(first);
    expect(lines[gdb + 1]).toBe(`      (its -debug=ipc line "IPC server executing request #${d.blockConnected}" names the LWP)`);
    // Every line of the report fits a 120-column terminal, given labels of this length.
    for (const l of lines) expect(l.length, l).toBeLessThanOrEqual(120);
    expect(text).not.toContain('Threads:');
    expect(formatChains(r, { when: 'now', threads: true })).toContain('Threads:');
  });

  it('names a client thread to attach to by its LWP', () => {
    const w = new World();
    const a = w.process('bitcoin-node');
    const b = w.process('bitcoin-wallet');
    const t = w.client(a, 'b-httpworker.0');
    const x = w.worker(b, t);
    const c = w.call('Wallet.createTransaction', t, x, 0);
    w.call('Chain.estimateSmartFee', x, t, 10, { parent: c });
    const text = formatChains(analyzeChains(w.input(6000)), { when: 'now' });
    expect(text.split('\n')[0]).toBe('No deadlock; 2 outstanding calls');
    expect(text).toContain(`gdb -p 100, thread apply all bt: frame estimateSmartFee, in thread LWP ${/-(\d+)$/.exec(w.threads[t - 1]!.label)![1]} (b-httpworker.0-`);
  });
});
