// Helpers for the demo tests: run `ipc-trace demo` from the built package
// (dist/, built by `pretest` or `npx tsc`) as a user would, and read the
// session database it wrote.

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { expect, onTestFinished } from 'vitest';
import { ROOT } from '../helpers.js';
import { runCli, RunResult } from '../cli/run.js';

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

export interface ChainNodeJson {
  call: number;
  title: string;
  waiter: string;
  executor: string;
  ageMs: number;
  stuck: boolean;
  queuedBehind: number | null;
  children: ChainNodeJson[];
}

export interface ChainsJson {
  outstanding: number;
  chains: ChainNodeJson[];
  deadlocks: { threads: string[]; calls: number[] }[];
  stuck: { call: number; title: string; ageMs: number; leafThread: string; leafProcess: string }[];
  threads: { thread: string; process: string; stack: { call: number; title: string; as: string }[] }[];
}

export function allNodes(ns: ChainNodeJson[]): ChainNodeJson[] {
  return ns.flatMap((n) => [n, ...allNodes(n.children)]);
}

/** No stack traces on stderr (errors are one line each). */
export function expectNoStackTrace(stderr: string): void {
  expect(stderr).not.toMatch(/^\s+at .+[(:]\d+/m);
  expect(stderr).not.toMatch(/internal error/);
}
