// `ipc-trace demo --scenario deadlock`: the wallet's scheduler thread holds
// cs_wallet while it waits (Chain.waitForNotificationsIfTipChanged) for the
// node's b-scheduler, which is stuck delivering blockConnected to a wallet
// worker that needs cs_wallet. Both processes really hang; the demo ends the
// recording with the calls outstanding and kills them; `chains` shows it.

import { it, expect } from 'vitest';
import { runDemo, openDb, isRunning, processPids, chainsJson, expectNoStackTrace } from './helpers.js';

it('hangs both processes for real, and chains shows the stuck calls and the cycle', () => {
  const r = runDemo(['--scenario', 'deadlock', '--duration', '8']);
  expect(r.code, r.stderr).toBe(0);
  expectNoStackTrace(r.stderr);
  expect(r.stderr).toMatch(/deadlock: recording stopped with both processes hung/);
  const db = openDb(r.db);
  let walletPid: number;
  try {
    const pending = db.prepare("SELECT title FROM calls WHERE status = 'pending'").pluck().all() as string[];
    expect(pending).toContain('Chain.waitForNotificationsIfTipChanged');
    expect(pending).toContain('ChainNotifications.blockConnected');
    [walletPid] = processPids(db, 'bitcoin-wallet') as [number];
  } finally {
    db.close();
  }
  expect(isRunning(r.nodePid)).toBe(false);
  expect(isRunning(walletPid)).toBe(false);

  const c = chainsJson(r.db, ['--stuck', '1']);
  expect(c.outstanding).toBeGreaterThan(2);
  // outstanding calls on both processes' threads
  expect(c.threads.some((t) => t.process.startsWith('bitcoin-node-') && t.stack.length > 0)).toBe(true);
  expect(c.threads.some((t) => t.process.startsWith('bitcoin-wallet-') && t.stack.length > 0)).toBe(true);
  const stuck = c.chains.filter((n) => n.stuck && n.ageMs > 1000);
  // the wallet's own thread waits in Chain.waitForNotificationsIfTipChanged (holding cs_wallet)…
  const walletWait = stuck.find((n) => /^bitcoin-wallet-\d+\/b-scheduler-\d+$/.test(n.waiter) && n.title === 'Chain.waitForNotificationsIfTipChanged');
  expect(walletWait, JSON.stringify(stuck.map((n) => [n.waiter, n.title]))).toBeDefined();
  expect(walletWait!.executor).toMatch(/^bitcoin-node-\d+ \(from bitcoin-wallet-\d+\/b-scheduler-\d+\)$/);
  // …while the node's scheduler waits in blockConnected, run by a wallet worker waiting for cs_wallet
  const nodeCall = stuck.find((n) => /^bitcoin-node-\d+\/b-scheduler-\d+$/.test(n.waiter) && n.title === 'ChainNotifications.blockConnected');
  expect(nodeCall).toBeDefined();
  expect(nodeCall!.executor).toMatch(/^bitcoin-wallet-\d+ \(from bitcoin-node-\d+\/b-scheduler-\d+\)$/);
  // the cycle through both processes
  const cycle = c.deadlocks.find((d) => d.calls.includes(walletWait!.call) && d.calls.includes(nodeCall!.call));
  expect(cycle, JSON.stringify(c.deadlocks.map((d) => d.calls))).toBeDefined();
  expect(cycle!.threads.some((t) => t.startsWith('bitcoin-node-'))).toBe(true);
  expect(cycle!.threads.some((t) => t.startsWith('bitcoin-wallet-'))).toBe(true);
}, 60000);
