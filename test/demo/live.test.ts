// `chains` on a live session, while the demo still records: the deadlock
// scenario is reported as soon as its calls are far past their usual times
// (the figure is printed, not asserted); `chains` taken again and again on
// a live normal session never reports a deadlock.

import { it, expect } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { ROOT } from '../helpers.js';
import { startDemo, sleep, expectDemoDeadlock, type ChainsJson } from './helpers.js';
import { runCli } from '../cli/run.js';



function chainsNow(db: string): ChainsJson | null {
  if (!existsSync(db)) return null;
  const r = runCli(['chains', db, '--json']);
  if (r.code !== 0) return null; // not a session database yet
  return JSON.parse(r.stdout) as ChainsJson;
}

it('reports the deadlock of a live session while the demo still runs', async () => {
  const demo = startDemo(['--scenario', 'deadlock', '--duration', '14']);
  // While the hang is young, calls cross their hang limits one by one: the first report can name a
  // cycle through an HTTP worker before blockConnected is past its limit. It must settle on the
  // b-scheduler pair while the demo still runs.
  let found: ChainsJson | null = null;
  let first: ChainsJson | null = null;
  const isDemoDeadlock = (c: ChainsJson) => {
    try {
      expectDemoDeadlock(c);
      return true;
    } catch {
      return false;
    }
  };
  while (demo.running() && !found) {
    const c = chainsNow(demo.db);
    if (c?.deadlocks.length) first ??= c;
    if (c?.deadlocks.length && isDemoDeadlock(c)) found = c;
    else await sleep(200);
  }
  if (first && first !== found) console.log('live: the first deadlock reported was another cycle, before the b-scheduler pair');
  expect(found, `${demo.stderr()}\nfirst report: ${JSON.stringify(first?.deadlocks)}`).not.toBeNull();
  expect(found!.when).toContain('(now; session still recording)');
  expectDemoDeadlock(found!);
  // How long after the hang began (its first call was sent) the report came: a figure, not an assertion.
  const age = Math.max(...found!.deadlocks[0]!.steps.map((s) => found!.chains.find((n) => n.call === s.call)?.ageMs ?? 0));
  console.log(`live deadlock reported ${(age / 1000).toFixed(1)} s after its oldest call was sent`);
  expect(await demo.exited).toBe(0);
}, 90000);

it('never reports a deadlock on a live normal session, asked again and again', async () => {
  const demo = startDemo(['--duration', '12']);
  let asked = 0;
  let outstandingSeen = 0;
  while (demo.running()) {
    const c = chainsNow(demo.db);
    if (c) {
      asked++;
      outstandingSeen += c.outstanding;
      expect(c.deadlocks, JSON.stringify(c.deadlocks)).toEqual([]);
      expect(c.verdict).toMatch(/^No deadlock; \d+ outstanding calls?$/);
    }
    await sleep(100);
  }
  expect(await demo.exited).toBe(0);
  console.log(`chains asked ${asked} times on the live normal session; ${outstandingSeen} outstanding calls seen in all`);
  expect(asked).toBeGreaterThan(5);
}, 90000);

it('shows a stopped process (SIGSTOP) as stuck calls to attach to, never as a deadlock', async () => {
  const demo = startDemo(['--duration', '20']);
  const pids = async () => {
    for (;;) {
      const c = chainsNow(demo.db);
      const r = c ? runCli(['query', demo.db, 'SELECT label, pid FROM processes WHERE pid IS NOT NULL']) : null;
      const rows = r?.code === 0 ? r.stdout.trim().split('\n').slice(1) : [];
      const node = rows.find((l) => l.startsWith('bitcoin-node-'));
      const wallet = rows.find((l) => l.startsWith('bitcoin-wallet-'));
      if (node && wallet) return { node: Number(node.split(/\s+|,|\t/).pop()), wallet: Number(wallet.split(/\s+|,|\t/).pop()) };
      if (!demo.running()) throw new Error(`the demo ended early: ${demo.stderr()}`);
      await sleep(200);
    }
  };
  const { node, wallet } = await pids();
  await sleep(3000); // traffic both ways
  for (const [name, pid] of [
    ['bitcoin-wallet', wallet],
    ['bitcoin-node', node],
  ] as const) {
    process.kill(pid, 'SIGSTOP');
    try {
      let c: ChainsJson | null = null;
      let stuckIn = false;
      for (let i = 0; i < 15 && !stuckIn; i++) {
        await sleep(400);
        c = chainsNow(demo.db);
        expect(c?.deadlocks ?? [], `${name} stopped: ${JSON.stringify(c?.deadlocks)}`).toEqual([]);
        stuckIn = !!c?.stuck.some((s) => s.blocked.thread.pid === pid);
      }
      // What hangs on the stopped process is listed with it as the place to attach to.
      expect(stuckIn, `${name} stopped: ${JSON.stringify(c?.stuck)}`).toBe(true);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await sleep(1500);
  }
  expect(await demo.exited).toBe(0);
}, 90000);
