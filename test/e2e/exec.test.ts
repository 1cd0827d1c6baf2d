// `ipc-trace exec` as a user runs it: a parent that spawns IPC children the
// way Bitcoin Core does (dirname(argv0)/EXE -ipcfd N) has every child
// interposed on and recorded in one session; its exit code is ipc-trace's.

import { it, expect } from 'vitest';
import { chmodSync, mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ROOT } from '../helpers.js';
import { runCli } from '../cli/run.js';

it('records every child the command spawns, in one database', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ipc-trace-exec-e2e-'));
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const fixtures = join(ROOT, 'test/proxy/fixtures');
  for (const f of ['fake-parent.cjs', 'fake-child.cjs']) chmodSync(join(fixtures, f), 0o755);
  symlinkSync(process.execPath, join(bin, 'fake-parent'));
  symlinkSync(join(fixtures, 'fake-child.cjs'), join(bin, 'fake-child'));
  const db = join(dir, 's.sqlite');
  const r = runCli(['exec', '--db', db, '--log', join(dir, 's.log'), '--', join(bin, 'fake-parent'), join(fixtures, 'fake-parent.cjs'), join(dir, 'result.json'), '--exit', '3']);
  expect(r.code).toBe(3);
  const d = new Database(db, { readonly: true });
  const conns = d.prepare('SELECT label FROM connections ORDER BY id').pluck().all() as string[];
  // two -ipcfd children of the parent, and two of the nested parent it runs through pass-through
  expect(conns).toHaveLength(4);
  for (const c of conns) expect(c).toMatch(/^exec:fake-parent\[\d+\] -> exec:fake-child\[\d+\]$/);
  const bytes = d.prepare('SELECT sum(length(bytes)) FROM chunks').pluck().get() as number;
  expect(bytes).toBeGreaterThan(1000);
  d.close();
});
