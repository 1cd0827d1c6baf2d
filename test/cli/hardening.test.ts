// The command line as a new user meets it: help and version everywhere,
// usage errors exit 2, outputs are checked before anything is created, a
// closed standard output ends the log but never the recording.

import { describe, it, expect, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './run.js';
import { ROOT } from '../helpers.js';
import { SessionReader } from '../../src/store/reader.js';

const tmp = mkdtempSync(join(tmpdir(), 'ipc-trace-hard-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function oneLineError(r: { stderr: string }): void {
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(/^ipc-trace: /);
  expect(r.stderr).not.toMatch(/internal error|\bat .*\.js:\d+/);
}

/** A proxy command line that would record into dir (nothing listens upstream: it stops at its checks). */
function proxyArgs(dir: string, ...more: string[]): string[] {
  return ['--listen', join(dir, 'in.sock'), '--connect', join(dir, 'up.sock'), '--db', join(dir, 's.sqlite'), ...more];
}

describe('help, version and usage errors', () => {
  it('--listen --help shows the proxy help; the main help lists the proxy options', () => {
    const r = runCli(['--listen', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^usage: ipc-trace --listen ADDR --connect ADDR/);
    const h = runCli(['--help']);
    for (const opt of ['--db FILE', '--log FILE|-', '--force', '--schema FILE', '--max-chars N', '--no-tui', 'export DB', 'query DB SQL']) {
      expect(h.stdout).toContain(opt);
    }
  });

  it('every command accepts --version; after exec\'s -- it belongs to the command', () => {
    for (const args of [['chains', '--version'], ['export', '-V'], ['--listen', 'a', '--version']]) {
      const r = runCli(args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/^ipc-trace \d+\.\d+\.\d+\n$/);
    }
    const dir = mkdtempSync(join(tmp, 'ver-'));
    const e = runCli(['exec', '--db', join(dir, 'e.sqlite'), '--', '/bin/echo', 'x', '--version']);
    expect(e.code).toBe(0);
    expect(e.stdout).toBe('x --version\n');
    expect(e.stdout).not.toContain('ipc-trace');
  });

  it('a bad --listen or --connect address is bad usage (exit 2), and creates nothing', () => {
    const dir = mkdtempSync(join(tmp, 'addr-'));
    for (const args of [proxyArgs(dir).map((a) => (a.endsWith('in.sock') ? 'foo:bar' : a)), proxyArgs(dir).map((a) => (a.endsWith('up.sock') ? 'tcp:h:99999' : a))]) {
      const r = runCli(args);
      expect(r.code, args.join(' ')).toBe(2);
      oneLineError(r);
      expect(r.stderr).toContain('bad address');
    }
    expect(readdirSync(dir)).toEqual([]);
  });

  it('query rejects a statement that writes with one line', () => {
    const dir = mkdtempSync(join(tmp, 'q-'));
    const db = join(dir, 'd.sqlite');
    const r0 = runCli(['demo', '--duration', '0.5', '--db', db, '--no-tui']);
    expect(r0.code).toBe(0);
    const r = runCli(['query', db, 'DELETE FROM calls']);
    expect(r.code).toBe(1);
    oneLineError(r);
    expect(r.stderr).toContain('read-only SQL');
    expect(r.stderr).not.toContain('run()');
    const bad = runCli(['query', db, 'SELEC 1']);
    expect(bad.code).toBe(1);
    oneLineError(bad);
    const n = runCli(['query', db, "SELECT value FROM meta WHERE key = 'command'"]);
    expect(n.stdout).toMatch(/^value\nipc-trace demo --duration 0.5 /);
  });
});

describe('outputs', () => {
  it('a --log that cannot be created leaves no database behind, so the rerun works', () => {
    const dir = mkdtempSync(join(tmp, 'log-'));
    const r = runCli(proxyArgs(dir, '--log', join(dir, 'nonexistent', 'x.log')));
    expect(r.code).toBe(1);
    oneLineError(r);
    expect(r.stderr).toMatch(/--log .*x\.log: no directory/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses an existing --log or --db and a symbolic link, leaving them untouched; --force replaces a regular file', () => {
    const dir = mkdtempSync(join(tmp, 'exist-'));
    const log = join(dir, 'x.log');
    writeFileSync(log, 'old log\n');
    const r = runCli(proxyArgs(dir, '--log', log));
    expect(r.code).toBe(1);
    oneLineError(r);
    expect(r.stderr).toContain('already exists');
    expect(existsSync(join(dir, 's.sqlite'))).toBe(false);
    expect(readFileSync(log, 'utf8')).toBe('old log\n');

    const target = join(dir, 'target');
    writeFileSync(target, 'target\n');
    const link = join(dir, 'link.log');
    symlinkSync(target, link);
    for (const force of [[], ['--force']]) {
      const s = runCli(proxyArgs(dir, '--log', link, ...force));
      expect(s.code).toBe(1);
      oneLineError(s);
      expect(s.stderr).toContain('symbolic link');
    }
    expect(readFileSync(target, 'utf8')).toBe('target\n');
    expect(lstatSync(link).isSymbolicLink()).toBe(true);

    const db = join(dir, 'db.sqlite');
    writeFileSync(db, 'not a database');
    const d = runCli(['demo', '--duration', '0.5', '--db', db, '--no-tui']);
    expect(d.code).toBe(1);
    oneLineError(d);
    expect(readFileSync(db, 'utf8')).toBe('not a database');
    const f = runCli(['demo', '--duration', '0.5', '--db', db, '--log', log, '--force', '--no-tui']);
    expect(f.code, f.stderr).toBe(0);
    expect(statSync(db).mode & 0o777).toBe(0o600);
    expect(statSync(log).mode & 0o777).toBe(0o600);
    expect(readFileSync(log, 'latin1')).not.toContain('old log');
  });

  it('a closed standard output (| head -1) ends the log, never the recording', () => {
    const dir = mkdtempSync(join(tmp, 'head-'));
    const db = join(dir, 'd.sqlite');
    const main = join(ROOT, 'dist/cli/main.js');
    const r = spawnSync('sh', ['-c', `umask 000; "${process.execPath}" "${main}" demo --no-tui --duration 3 --db "${db}" | head -1`], {
      encoding: 'utf8',
    });
    expect(r.stdout.split('\n')[0]).toMatch(/ IPC wire connect /);
    expect(r.stderr).toContain('session recorded in');
    expect(r.stderr).toContain(`inspect it with: npx ipc-trace chains ${db}`);
    expect(statSync(db).mode & 0o777).toBe(0o600);
    const reader = SessionReader.open(db);
    try {
      expect(reader.span().ended).not.toBeNull();
      // Three seconds of the demo: many calls recorded after the reader went away.
      expect(reader.callCount()).toBeGreaterThan(10);
    } finally {
      reader.close();
    }
  });
});
