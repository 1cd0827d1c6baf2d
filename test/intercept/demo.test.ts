// Breakpoints on the wire against the bundled demo (normal scenario), run as
// a user would: the deadlock reproduced on demand with one hold and
// `ipc-trace release`, a process rule, an injected exception, a delay, a
// disconnect, bad rules.

import { it, expect, onTestFinished } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers.js';
import { startDemo, sleep, runDemo, openDb, expectNoStackTrace, type ChainsJson } from '../demo/helpers.js';
import { runCli } from '../cli/run.js';



interface Held {
  id: number;
  title: string;
}

/** `ipc-trace release DB --list`, parsed (null while the session's control socket is not up). */
function heldNow(db: string): Held[] | null {
  const r = runCli(['release', db, '--list']);
  if (r.code !== 0) return null;
  if (r.stdout.trim() === 'nothing held') return [];
  return r.stdout
    .trim()
    .split('\n')
    .map((l) => {
      const m = /^#(\d+) c\d+ [<>] (?:call|return) (\S+)/.exec(l);
      expect(m, l).not.toBeNull();
      return { id: Number(m![1]), title: m![2]! };
    });
}

it('holding blockConnected (one rule, added live) while a wallet thread calls the node reproduces the demo deadlock, and chains names it', async () => {
  // The wallet's b-scheduler catches up with the chain (Chain.waitForNotificationsIfTipChanged)
  // every few seconds. Once blockConnected is held, the wallet's tip stays behind the node's: its
  // next call waits in the node for b-scheduler, which waits on the held blockConnected. The rule
  // names the node's thread (thread:), matched as the session model attributes it.
  const demo = startDemo(['--scenario', 'normal', '--duration', '60', '--intercept']);
  const until = Date.now() + 20000;
  while (Date.now() < until && heldNow(demo.db) === null) await sleep(200);
  expect(heldNow(demo.db), demo.stderr()).toEqual([]);
  expect((statSync(`${demo.db}.ctl`).mode & 0o777).toString(8)).toBe('600');
  await sleep(4000); // the wallet's threads are up and have called the node
  const add = runCli(['release', demo.db, '--add-rule', 'hold thread:b-scheduler & method:blockConnected']);
  expect(add.code, add.stderr).toBe(0);
  let report: ChainsJson | null = null;
  while (Date.now() < until + 30000 && demo.running() && !report) {
    const c = runCli(['chains', demo.db, '--json']);
    if (c.code === 0) {
      const j = JSON.parse(c.stdout) as ChainsJson;
      if (j.deadlocks.length) report = j;
    }
    if (!report) await sleep(300);
  }
  expect(report, demo.stderr()).not.toBeNull();
  const titles = report!.deadlocks[0]!.steps.map((s) => s.title).sort();
  expect(titles).toEqual(['Chain.waitForNotificationsIfTipChanged', 'ChainNotifications.blockConnected']);
  // One message held: the node's blockConnected (from its b-scheduler), with what waits behind it.
  const still = heldNow(demo.db)!;
  expect(still.map((h) => h.title)).toEqual(['ChainNotifications.blockConnected']);
  // chains says who holds it: ipc-trace, not the wallet.
  const step = report!.deadlocks[0]!.steps.find((s) => s.title === 'ChainNotifications.blockConnected')!;
  expect(step.blocked.heldBy).toEqual({ hold: still[0]!.id, what: 'call' });
  expect(report!.deadlocks[0]!.steps.find((s) => s.title !== step.title)!.blocked.heldBy).toBeNull();
  const text = runCli(['chains', demo.db]).stdout;
  expect(text).toContain(`held by ipc-trace (hold #${still[0]!.id}): bitcoin-wallet-`);
  expect(text).toContain(`release hold #${still[0]!.id}`);
  // Without the rule (else the next block's blockConnected is held again and the cycle comes back),
  // releasing lets the normal scenario go on: no lock is really held in it.
  const rules = runCli(['release', demo.db, '--rules']).stdout.trim().split('\n');
  expect(rules.map((l) => l.replace(/^\d+: /, ''))).toEqual(['hold thread:b-scheduler & method:blockConnected']);
  expect(runCli(['release', demo.db, '--drop-rule', rules[0]!.split(':')[0]!]).code).toBe(0);
  const rel = runCli(['release', demo.db, 'all']);
  expect(rel.code, rel.stderr).toBe(0);
  expect(rel.stdout).toMatch(/^released 1/);
  let after: ChainsJson | null = null;
  for (let i = 0; i < 30 && demo.running(); i++) {
    await sleep(300);
    const c = runCli(['chains', demo.db, '--json']);
    after = JSON.parse(c.stdout) as ChainsJson;
    if (after.deadlocks.length === 0) break;
  }
  expect(after?.deadlocks.length).toBe(0);
  // Ctrl-C: the session ends cleanly.
  demo.interrupt();
  const code = await Promise.race([demo.exited, sleep(60000).then(() => 'timeout')]);
  expect(code, demo.stderr()).toBe(0);
  expectNoStackTrace(demo.stderr());
  // Recorded: the hold and the release are interventions and log lines; replay prints them again.
  const db = openDb(demo.db);
  try {
    const kinds = db.prepare('SELECT kind, count(*) AS n FROM interventions GROUP BY kind').all() as { kind: string; n: number }[];
    expect(Object.fromEntries(kinds.map((k) => [k.kind, k.n]))).toEqual({ hold: 1, release: 1 });
  } finally {
    db.close();
  }
  const replay = runCli(['replay', demo.db, '--no-tui']);
  expect(replay.stdout).toMatch(/IPC wire hold #\d+ call ChainNotifications\.blockConnected \(question \d+\)/);
  expect(replay.stdout).toMatch(/IPC wire release #\d+ call ChainNotifications\.blockConnected/);
  expect(existsSync(`${demo.db}.ctl`)).toBe(false);
}, 150000);

it("--hold 'proc:wallet' holds calls to or from the process the session names bitcoin-wallet-PID", async () => {
  const demo = startDemo(['--scenario', 'normal', '--duration', '30', '--hold', 'proc:wallet']);
  let held: Held[] | null = null;
  const until = Date.now() + 20000;
  while (Date.now() < until && !(held ?? []).length) {
    await sleep(200);
    held = heldNow(demo.db);
  }
  expect(held, demo.stderr()).not.toBeNull();
  demo.interrupt();
  expect(await demo.exited, demo.stderr()).toBe(0);
  const db = openDb(demo.db);
  try {
    const hold = db.prepare("SELECT time, question_id AS q, title FROM interventions WHERE kind = 'hold' ORDER BY seq LIMIT 1").get() as { time: number; q: number; title: string };
    expect(held!.map((h) => h.title)).toContain(hold.title);
    // The held call is one between the node and a process named bitcoin-wallet-PID.
    const c = db.prepare('SELECT p1.label AS client, p2.label AS server FROM calls JOIN processes p1 ON p1.id = calls.client_process JOIN processes p2 ON p2.id = calls.server_process WHERE title = ? AND question_id = ? AND abs(sent - ?) < 1').get(hold.title, hold.q, hold.time) as { client: string; server: string };
    expect([c.client, c.server].some((l) => /^bitcoin-wallet-\d+$/.test(l))).toBe(true);
  } finally {
    db.close();
  }
}, 90000);

it('--fail answers the node\'s getBalances with the injected exception; the callee never runs it', () => {
  const r = runDemo(['--scenario', 'normal', '--duration', '5', '--fail', 'method:Wallet.getBalances=no balances today']);
  expect(r.code, r.stderr).toBe(0);
  const db = openDb(r.db);
  try {
    const calls = db.prepare("SELECT status, exception FROM calls WHERE title = 'Wallet.getBalances'").all() as { status: string; exception: string | null }[];
    expect(calls.length).toBeGreaterThan(0);
    for (const c of calls) expect(c).toEqual({ status: 'exception', exception: 'failed: no balances today' });
    const fails = db.prepare("SELECT count(*) FROM interventions WHERE kind = 'fail' AND title = 'Wallet.getBalances'").pluck().get() as number;
    expect(fails).toBe(calls.length);
    // Other methods of the same interface still work.
    expect(db.prepare("SELECT count(*) FROM calls WHERE title = 'Wallet.tryGetBalances' AND status = 'returned'").pluck().get()).toBeGreaterThan(0);
  } finally {
    db.close();
  }
  const log = runCli(['replay', r.db, '--no-tui']).stdout;
  expect(log).toMatch(/IPC wire injected exception for call Wallet\.getBalances \(question \d+\): "no balances today"/);
});

it('--delay shifts the latency of matching calls by the given time', () => {
  const r = runDemo(['--scenario', 'normal', '--duration', '6', '--delay', 'method:getWalletTxs=300ms']);
  expect(r.code, r.stderr).toBe(0);
  const db = openDb(r.db);
  try {
    const lat = db.prepare("SELECT returned - sent FROM calls WHERE title = 'Wallet.getWalletTxs' AND returned IS NOT NULL").pluck().all() as number[];
    expect(lat.length).toBeGreaterThan(0);
    // The delay is a floor of every such call's latency; the median is within 10% of the delay plus the usual time.
    for (const l of lat) expect(l).toBeGreaterThanOrEqual(299);
    const median = [...lat].sort((a, b) => a - b)[Math.floor(lat.length / 2)]!;
    console.log(`getWalletTxs latency with --delay 300ms: median ${median.toFixed(1)} ms over ${lat.length} calls`);
    // The delay is applied once (a loose bound: the machine's noise is not measured here).
    expect(median).toBeLessThan(600);
    expect(db.prepare("SELECT count(*) FROM interventions WHERE kind = 'delay'").pluck().get()).toBe(lat.length);
  } finally {
    db.close();
  }
});

it('--disconnect closes the connection at the first matching call: the calls outstanding are interrupted', () => {
  const r = runDemo(['--scenario', 'normal', '--duration', '6', '--disconnect', 'method:getWalletTxs']);
  expect(r.stderr).toMatch(/bitcoin-node: lost the connection to bitcoin-wallet/);
  expectNoStackTrace(r.stderr);
  const db = openDb(r.db);
  try {
    const conn = db.prepare('SELECT close_reason FROM connections').pluck().get() as string;
    expect(conn).toMatch(/disconnect rule 'disconnect method:getWalletTxs'/);
    const cut = db.prepare("SELECT title FROM calls WHERE status = 'disconnected'").pluck().all() as string[];
    expect(cut).toContain('Wallet.getWalletTxs');
  } finally {
    db.close();
  }
  const chains = JSON.parse(runCli(['chains', r.db, '--json']).stdout) as { interrupted: number };
  expect(chains.interrupted).toBeGreaterThan(0);
});

it('bad rules: one line and exit 2, no database; --rules FILE errors name the line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ipc-trace-rules-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const db = join(dir, 'x.sqlite');
  for (const args of [['--hold', 'method:('], ['--delay', 'method:x'], ['--fail', 'return & method:x']]) {
    const r = runCli(['demo', '--no-tui', '--db', db, ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expectNoStackTrace(r.stderr);
    expect(existsSync(db)).toBe(false);
  }
  const rules = join(dir, 'rules.txt');
  writeFileSync(rules, '# a race\nhold method:blockConnected\nwait method:x\n');
  const r = runCli(['demo', '--no-tui', '--db', db, '--rules', rules]);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain(`${rules}:3: unknown rule action 'wait'`);
  const missing = runCli(['release', join(dir, 'none.sqlite')]);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toMatch(/no running ipc-trace session with intercept rules/);
});

it('--intercept: a rule added while live (ipc-trace release --add-rule) applies from then on; dropped, it stops', async () => {
  const demo = startDemo(['--scenario', 'normal', '--duration', '30', '--intercept']);
  const until = Date.now() + 20000;
  while (Date.now() < until && heldNow(demo.db) === null) await sleep(200);
  expect(runCli(['release', demo.db, '--rules']).stdout.trim()).toBe('no rules');
  // Let some getBalances calls through first.
  await sleep(2500);
  const add = runCli(['release', demo.db, '--add-rule', 'fail method:Wallet.getBalances=added live']);
  expect(add.code, add.stderr).toBe(0);
  const id = Number(/^rule (\d+):/.exec(add.stdout)![1]);
  await sleep(2500);
  const bad = runCli(['release', demo.db, '--add-rule', 'hold (']);
  expect(bad.code).toBe(1);
  expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  expect(runCli(['release', demo.db, '--drop-rule', String(id)]).stdout.trim()).toBe(`removed rule ${id}`);
  demo.interrupt();
  expect(await demo.exited, demo.stderr()).toBe(0);
  const db = openDb(demo.db);
  try {
    const calls = db.prepare("SELECT sent, status, exception FROM calls WHERE title = 'Wallet.getBalances' ORDER BY sent").all() as { sent: number; status: string; exception: string | null }[];
    const failed = db.prepare("SELECT time FROM interventions WHERE kind = 'fail'").pluck().all() as number[];
    expect(failed.length).toBeGreaterThan(0);
    const first = Math.min(...failed);
    const last = Math.max(...failed);
    // Before the rule: returned normally; while it was in force: every one failed with its text.
    expect(calls.filter((c) => c.sent < first).every((c) => c.status === 'returned')).toBe(true);
    expect(calls.filter((c) => c.sent < first).length).toBeGreaterThan(0);
    for (const c of calls.filter((c) => c.sent >= first && c.sent <= last)) expect(c.exception).toBe('failed: added live');
  } finally {
    db.close();
  }
}, 90000);
