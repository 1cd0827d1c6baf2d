// `ipc-trace demo --scenario disconnect`: the wallet process kills itself
// (SIGKILL) while serving a call; the node's outstanding calls fail with a
// disconnect, the node shuts down cleanly, the demo exits 0.

import { it, expect } from 'vitest';
import { runDemo, openDb, isRunning, expectNoStackTrace, deadlocksOverTime } from './helpers.js';
import { runCli } from '../cli/run.js';

it('records the calls a dying wallet leaves outstanding as disconnected', () => {
  const r = runDemo(['--scenario', 'disconnect', '--duration', '12']);
  expect(r.code, r.stderr).toBe(0);
  expectNoStackTrace(r.stderr);
  expect(r.stderr).toMatch(/bitcoin-wallet: simulating a crash \(SIGKILL\) while serving Wallet\.\w+/);
  expect(r.stderr).toMatch(/bitcoin-node: lost the connection to bitcoin-wallet/);
  const db = openDb(r.db);
  let cut: number[] = [];
  try {
    const disconnected = db.prepare("SELECT id, title, dir FROM calls WHERE status = 'disconnected'").all() as { id: number; title: string; dir: string }[];
    cut = disconnected.map((c) => c.id);
    expect(disconnected.length).toBeGreaterThan(0);
    // among them the node's call the wallet was serving
    expect(disconnected.some((c) => c.dir === '>' && /^Wallet\.(getBalances|createTransaction)$/.test(c.title))).toBe(true);
    expect(db.prepare("SELECT count(*) FROM calls WHERE status = 'pending'").pluck().get()).toBe(0);
    const conn = db.prepare('SELECT closed, close_reason AS reason FROM connections').get() as { closed: number | null; reason: string | null };
    expect(conn.closed).not.toBeNull();
  } finally {
    db.close();
  }
  // chains at the end of the session shows the calls the disconnect cut, as they stood.
  const chains = runCli(['chains', r.db, '--json']);
  type Node = { call: number; interrupted: boolean; children: Node[] };
  const report = JSON.parse(chains.stdout) as { outstanding: number; interrupted: number; chains: Node[] };
  expect(report.outstanding).toBe(0);
  const shown: number[] = [];
  const walk = (n: Node) => {
    if (n.interrupted) shown.push(n.call);
    n.children.forEach(walk);
  };
  report.chains.forEach(walk);
  expect(shown.sort((a, b) => a - b)).toEqual(cut.sort((a, b) => a - b));
  expect(report.interrupted).toBe(cut.length);
  expect(runCli(['chains', r.db, '--threads']).stdout).toContain('(interrupted by disconnect)');
  const text = runCli(['chains', r.db]).stdout;
  expect(text).toMatch(/^No deadlock; 0 outstanding calls\n/);
  // Each chain the disconnect cut, as it stood.
  const cutRoots = report.chains.filter((n) => n.interrupted).map((n) => n.call);
  expect(cutRoots.length).toBeGreaterThan(0);
  for (const id of cutRoots) expect(text).toMatch(new RegExp(`wait(ed|s) \\S+ on \\S+ \\[call ${id}\\]`));
  // Calls cut by a crash are not a deadlock, at any moment.
  expect(deadlocksOverTime(r.db).withDeadlock).toEqual([]);
  expect(isRunning(r.nodePid)).toBe(false);
}, 60000);
