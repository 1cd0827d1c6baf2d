// Output files ipc-trace creates: mode 0600 whatever the umask, never through
// a symbolic link, never over an existing file unless forced.

import { describe, it, expect, afterAll } from 'vitest';
import { lstatSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, closeSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkOutputFile, createOutputFile, writeOutputFile } from '../../src/cli/output.js';
import { UserError } from '../../src/decoder/sources.js';

const tmp = mkdtempSync(join(tmpdir(), 'ipc-trace-output-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function withUmask<T>(mask: number, fn: () => T): T {
  const old = process.umask(mask);
  try {
    return fn();
  } finally {
    process.umask(old);
  }
}

describe('createOutputFile', () => {
  it('creates a new file with mode 0600 even under umask 000', () => {
    const p = join(tmp, 'new.log');
    const fd = withUmask(0, () => createOutputFile(p));
    writeSync(fd, 'x');
    closeSync(fd);
    expect(statSync(p).mode & 0o777).toBe(0o600);
    expect(readFileSync(p, 'utf8')).toBe('x');
  });

  it('refuses an existing file, and replaces it (0600, truncated) only when forced', () => {
    const p = join(tmp, 'existing.log');
    writeFileSync(p, 'keep me', { mode: 0o644 });
    expect(() => createOutputFile(p, { option: '--log' })).toThrow(UserError);
    expect(() => createOutputFile(p, { option: '--log' })).toThrow(/--log .*existing\.log already exists \(use --force/);
    expect(readFileSync(p, 'utf8')).toBe('keep me');
    writeOutputFile(p, Buffer.from('new'), { force: true });
    expect(readFileSync(p, 'utf8')).toBe('new');
    expect(statSync(p).mode & 0o777).toBe(0o600);
  });

  it('never writes through a symbolic link, forced or not', () => {
    const target = join(tmp, 'target');
    writeFileSync(target, 'target');
    const link = join(tmp, 'link.log');
    symlinkSync(target, link);
    const dangling = join(tmp, 'dangling.log');
    symlinkSync(join(tmp, 'nowhere'), dangling);
    for (const p of [link, dangling]) {
      for (const force of [false, true]) {
        expect(() => createOutputFile(p, { force })).toThrow(/symbolic link/);
      }
    }
    expect(readFileSync(target, 'utf8')).toBe('target');
    expect(lstatSync(join(tmp, 'dangling.log')).isSymbolicLink()).toBe(true);
    expect(() => lstatSync(join(tmp, 'nowhere'))).toThrow();
  });

  it('checks without creating: a missing directory or a directory in the way is a one-line user error', () => {
    const missing = join(tmp, 'no-such-dir', 'x.log');
    expect(() => checkOutputFile(missing, { option: '--log' })).toThrow(/^cannot create --log .*: no directory /);
    expect(() => checkOutputFile(tmp, { force: true })).toThrow(/not a regular file/);
    const fresh = join(tmp, 'fresh.log');
    checkOutputFile(fresh);
    expect(() => lstatSync(fresh)).toThrow();
  });
});
