// Helpers for the demo tests: run `ipc-trace demo` from the built package
// (dist/, built by `pretest` or `npx tsc`) as a user would, and read the
// session database it wrote.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { expect, onTestFinished } from 'vitest';
import { ROOT } from '../helpers.js';
import { runCli, RunResult } from '../cli/run.js';
import { SessionReader } from '../../src/store/reader.js';
import { analyzeChains, chainInput, verdict } from '../../src/chains/chains.js';

export interface DemoRun extends RunResult {
  dir: string;
  db: string;
  log: string;
  /** The node's pid, from the demo's status line. */
  nodePid: number;
}

export function requireBuilt(): void {
  for (const f of ['dist/cli/main.js', 'dist/node/main.js', 'dist/wallet/main.js']) {
    if (!existsSync(join(ROOT, f))) throw new Error(`${f} is missing: build first (npx tsc -p tsconfig.json)`);
  }
}

/** Runs `ipc-trace demo --no-tui --db D --log L ARGS…`. */
export function runDemo(args: string[]): DemoRun {
  requireBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'ipc-trace-demo-test-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const db = join(dir, 'demo.sqlite');
  const log = join(dir, 'demo.log');
  const r = runCli(['demo', '--no-tui', '--db', db, '--log', log, ...args]);
  const m = /bitcoin-node pid (\d+)/.exec(r.stderr);
  return { ...r, dir, db, log, nodePid: m ? Number(m[1]) : -1 };
}

export function openDb(path: string): Database.Database {
  // A closed session database has no write-ahead log left behind.
  expect(existsSync(`${path}-wal`), 'the database was not closed').toBe(false);
  return new Database(path, { readonly: true });
}

export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The pids in thread names like `bitcoin-wallet-123/…` of the session. */
export function processPids(db: Database.Database, exe: string): number[] {
  const labels = db.prepare('SELECT label FROM processes').pluck().all() as string[];
  return labels.map((l) => new RegExp(`^${exe}-(\\d+)$`).exec(l)).filter((m): m is RegExpExecArray => m !== null).map((m) => Number(m[1]));
}

/** `ipc-trace chains DB --json ARGS…`. */
export function chainsJson(db: string, args: string[] = []): ChainsJson {
  const r = runCli(['chains', db, '--json', ...args]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as ChainsJson;
}

export interface ThreadRefJson {
  thread: number | null;
  process: number;
  label: string;
  processLabel: string;
  pid: number | null;
}

export interface ChainNodeJson {
  call: number;
  title: string;
  waiter: ThreadRefJson;
  executor: ThreadRefJson;
  ageMs: number;
  stuck: boolean;
  hung: boolean;
  interrupted: boolean;
  queuedBehind: number | null;
  children: ChainNodeJson[];
}

export interface BlockedJson {
  call: number;
  title: string;
  thread: ThreadRefJson;
  requestNo: number | null;
  heldBy: { hold: number; what: 'call' | 'return' | 'queued' } | null;
}

export interface ChainsJson {
  when: string;
  verdict: string;
  outstanding: number;
  interrupted: number;
  chains: ChainNodeJson[];
  deadlocks: {
    steps: { waiter: ThreadRefJson; call: number; title: string; path: number[]; blocked: BlockedJson; how: string }[];
    processes: number[];
    threads: number[];
    calls: number[];
    behind: { waiter: ThreadRefJson; call: number; title: string; blocked: BlockedJson; on: number }[];
  }[];
  stuck: { waiter: ThreadRefJson; call: number; title: string; blocked: BlockedJson }[];
  threads: { thread: ThreadRefJson; stack: { call: number; title: string; as: string }[] }[];
}

/**
 * The chains report at every `stepMs` of a recorded session, from its first
 * connection to its last event: the moments with a deadlock, and how many
 * moments were looked at.
 */
export function deadlocksOverTime(db: string, stepMs = 100): { moments: number; withDeadlock: { at: number; verdict: string }[] } {
  const reader = SessionReader.open(db);
  try {
    const span = reader.span();
    const out: { at: number; verdict: string }[] = [];
    let moments = 0;
    for (let at = span.start!; at <= span.last!; at += stepMs) {
      const r = analyzeChains(chainInput(reader, at));
      moments++;
      if (r.deadlocks.length) out.push({ at: at - span.start!, verdict: verdict(r) });
    }
    return { moments, withDeadlock: out };
  } finally {
    reader.close();
  }
}

export function allNodes(ns: ChainNodeJson[]): ChainNodeJson[] {
  return ns.flatMap((n) => [n, ...allNodes(n.children)]);
}

const NODE_SCHED = /^bitcoin-node-\d+\/b-scheduler-\d+$/;
const WALLET_SCHED = /^bitcoin-wallet-\d+\/b-scheduler-\d+$/;
const HTTP = /^bitcoin-node-\d+\/b-httpworker\.\d-\d+$/;

/** The demo's cycle, as the report must show it; the HTTP workers behind it. */
export function expectDemoDeadlock(c: ChainsJson): void {
  expect(c.verdict).toBe('Found 1 IPC deadlock');
  expect(c.deadlocks).toHaveLength(1);
  const d = c.deadlocks[0]!;
  // The cycle starts at its oldest call: either scheduler may have called first.
  expect(d.steps).toHaveLength(2);
  const bySched = [...d.steps].sort((a, b) => (NODE_SCHED.test(a.waiter.label) ? -1 : NODE_SCHED.test(b.waiter.label) ? 1 : 0));
  expect(bySched.map((s) => [s.waiter.label, s.title])).toEqual([
    [expect.stringMatching(NODE_SCHED), 'ChainNotifications.blockConnected'],
    [expect.stringMatching(WALLET_SCHED), 'Chain.waitForNotificationsIfTipChanged'],
  ]);
  const ages = c.chains.filter((n) => d.steps.some((s) => s.call === n.call)).map((n) => [n.call, n.ageMs] as const);
  expect(d.steps[0]!.call).toBe([...ages].sort((a, b) => b[1] - a[1])[0]![0]);
  // Each blocked where it was called, by the worker serving the other scheduler.
  expect(bySched[0]!.blocked.thread.label).toMatch(/^bitcoin-wallet-\d+ \(from bitcoin-node-\d+\/b-scheduler-\d+\)$/);
  expect(bySched[1]!.blocked.thread.label).toMatch(/^bitcoin-node-\d+ \(from bitcoin-wallet-\d+\/b-scheduler-\d+\)$/);
  // Ids as well as labels: the threads and processes of the cycle.
  expect(d.threads).toEqual(expect.arrayContaining(d.steps.map((s) => s.waiter.thread)));
  expect(new Set(d.processes)).toEqual(new Set(d.steps.map((s) => s.waiter.process)));
  expect(d.processes).toHaveLength(2);
  // The HTTP workers wait behind it: every hung chain an HTTP worker started is listed there, none is in the cycle.
  const behind = d.behind.map((b) => b.waiter.label);
  for (const l of behind) expect(l).toMatch(HTTP);
  const httpHung = c.chains.filter((n) => HTTP.test(n.waiter.label) && n.hung).map((n) => n.call);
  expect(d.behind.map((b) => b.call).sort()).toEqual(httpHung.sort());
  for (const b of d.behind) expect(d.calls.concat(d.behind.map((x) => x.call))).toContain(b.on);
}

/** No stack traces on stderr (errors are one line each). */
export function expectNoStackTrace(stderr: string): void {
  expect(stderr).not.toMatch(/^\s+at .+[(:]\d+/m);
  expect(stderr).not.toMatch(/internal error/);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts `ipc-trace demo --no-tui` in the background (stopped with SIGINT at the end of the test): its database, log and a way to wait for it. */
export function startDemo(args: string[]) {
  requireBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'ipc-trace-live-demo-'));
  const db = join(dir, 'demo.sqlite');
  const log = join(dir, 'demo.log');
  const child = spawn(process.execPath, [join(ROOT, 'dist/cli/main.js'), 'demo', '--no-tui', '--db', db, '--log', log, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  onTestFinished(async () => {
    if (child.exitCode === null) child.kill('SIGINT');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }, 30000);
  return { db, log, exited, stderr: () => stderr, running: () => child.exitCode === null, interrupt: () => child.kill('SIGINT') };
}
