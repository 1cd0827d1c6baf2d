// `ipc-trace demo --scenario deadlock`: the wallet's scheduler thread holds
// cs_wallet while it waits (Chain.waitForNotificationsIfTipChanged) for the
// node's b-scheduler, which is stuck delivering blockConnected to a wallet
// worker that needs cs_wallet. Both processes really hang; the demo ends the
// recording with the calls outstanding and kills them. A plain `chains DB`
// finds the deadlock: the two b-scheduler threads form the cycle, the HTTP
// workers wait behind it.

import { it, expect } from 'vitest';
import { runDemo, openDb, isRunning, processPids, chainsJson, expectNoStackTrace, expectDemoDeadlock } from './helpers.js';
import { runCli } from '../cli/run.js';

for (const duration of [5, 8]) {
  it(`hangs both processes for real (--duration ${duration}), and a plain chains DB reports the deadlock`, () => {
    const r = runDemo(['--scenario', 'deadlock', '--duration', String(duration)]);
    expect(r.code, r.stderr).toBe(0);
    expectNoStackTrace(r.stderr);
    expect(r.stderr).toMatch(/deadlock: recording stopped with both processes hung/);
    // The hint needs no option to show the deadlock, and runs from a clone.
    expect(r.stderr).toMatch(/inspect it with: npx ipc-trace chains \S+demo\.sqlite {3}\(/);
    expect(r.stderr).not.toContain('--stuck');
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

    const c = chainsJson(r.db);
    expectDemoDeadlock(c);
    expect(new Set(c.deadlocks[0]!.steps.map((s) => s.waiter.pid))).toEqual(new Set([r.nodePid, walletPid]));

    const text = runCli(['chains', r.db]);
    expect(text.code).toBe(0);
    const lines = text.stdout.split('\n');
    expect(lines[0]).toBe('Found 1 IPC deadlock');
    // One line per edge, each followed by where its call is blocked; the last closes the loop.
    const nodeEdge = lines.findIndex((l) => /^ {2}bitcoin-node-\d+\/b-scheduler-\d+ waits \S+ on ChainNotifications\.blockConnected \[call \d+\]$/.test(l));
    const walletEdge = lines.findIndex((l) => /^ {2}bitcoin-wallet-\d+\/b-scheduler-\d+ waits \S+ on Chain\.waitForNotificationsIfTipChanged \[call \d+\]$/.test(l));
    expect(nodeEdge, text.stdout).toBeGreaterThan(0);
    expect(Math.abs(walletEdge - nodeEdge), text.stdout).toBe(3);
    expect(lines[nodeEdge + 1]).toMatch(/^ {4}→ runs in bitcoin-wallet-\d+ on the worker serving it, makes no call: blocked inside bitcoin-wallet-\d+$/);
    expect(lines[walletEdge + 1]).toMatch(/^ {4}→ runs in bitcoin-node-\d+ on the worker serving it, makes no call: blocked inside bitcoin-node-\d+$/);
    expect(lines[Math.max(nodeEdge, walletEdge) + 2]).toMatch(/^ {6}where bitcoin-\S+\/b-scheduler-\d+ waits \(first line\): the cycle closes$/);
    expect(text.stdout).toMatch(new RegExp(`gdb -p ${walletPid}, thread apply all bt: frame blockConnected, in the thread running request #\\d+$`, 'm'));
    expect(text.stdout).not.toContain('Threads:');
    expect(runCli(['chains', r.db, '--threads']).stdout).toContain('Threads:');
    // For scripts: a deadlock fails the check.
    expect(runCli(['chains', r.db, '--check']).code).toBe(1);
  }, 90000);
}
