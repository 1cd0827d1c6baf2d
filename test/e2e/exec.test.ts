// `ipc-trace exec` as a user runs it: a parent that spawns IPC children the
// way Bitcoin Core does (dirname(argv0)/EXE -ipcfd N) has every child
// interposed on and recorded in one session; its exit code is ipc-trace's.

import { it, expect } from 'vitest';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
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
  // The child by its own pid and by the pid its parent launched (the shim's).
  for (const c of conns) expect(c).toMatch(/^exec:fake-parent\[\d+\] -> exec:fake-child\[\d+, launched as \d+\]$/);
  const result = JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8')) as { ipc: { childPid: number } };
  expect(conns.some((c) => c.endsWith(`, launched as ${result.ipc.childPid}]`))).toBe(true);
  expect(r.stderr).not.toContain('warning');
  const bytes = d.prepare('SELECT sum(size) FROM chunk_blocks').pluck().get() as number;
  expect(bytes).toBeGreaterThan(1000);
  d.close();
});

/** A bin dir with the fake parent (the node binary, so argv0 reaches it) and the fake child. */
function fakeBin(): { dir: string; bin: string; fixtures: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ipc-trace-exec-e2e-'));
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const fixtures = join(ROOT, 'test/proxy/fixtures');
  for (const f of ['fake-parent.cjs', 'fake-child.cjs']) chmodSync(join(fixtures, f), 0o755);
  symlinkSync(process.execPath, join(bin, 'fake-parent'));
  symlinkSync(join(fixtures, 'fake-child.cjs'), join(bin, 'fake-child'));
  return { dir, bin, fixtures };
}

it("interposes on a child spawned as libmultiprocess's examples do: dirname(argv0)/EXE FD", () => {
  const { dir, bin, fixtures } = fakeBin();
  const db = join(dir, 's.sqlite');
  const r = runCli(['exec', '--db', db, '--log', join(dir, 's.log'), '--', join(bin, 'fake-parent'), join(fixtures, 'fake-parent.cjs'), join(dir, 'result.json'), '--bare']);
  expect(r.code, r.stderr).toBe(0);
  const result = JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8')) as { ipc: { echoOk: boolean; sentBytes: number; childPid: number } };
  expect(result.ipc.echoOk).toBe(true);
  const d = new Database(db, { readonly: true });
  const conns = d.prepare('SELECT label FROM connections').pluck().all() as string[];
  expect(conns).toEqual([expect.stringMatching(new RegExp(`^exec:fake-parent\\[\\d+\\] -> exec:fake-child\\[\\d+, launched as ${result.ipc.childPid}\\]$`))]);
  const sent = d.prepare("SELECT sum(size) FROM chunk_blocks WHERE dir = '>'").pluck().get() as number;
  expect(sent).toBe(result.ipc.sentBytes);
  d.close();
  expect(r.stderr).not.toContain('warning');
});

it('warns at the end when the command ran but no child was interposed on', () => {
  const { dir } = fakeBin();
  const db = join(dir, 's.sqlite');
  const r = runCli(['exec', '--db', db, '--', '/bin/sh', '-c', 'exit 0']);
  expect(r.code).toBe(0);
  expect(r.stderr).toMatch(/ipc-trace: warning: \/bin\/sh ran but spawned no IPC child .* holds no traffic/);
});
