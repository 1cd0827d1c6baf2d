// /proc stat files read in one place (src/proxy/proc-stat.ts): fields are
// counted from after the command name, which may hold spaces and parentheses.

import { it, expect } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { statCpuMs, statFields } from '../../src/proxy/proc-stat.js';
import { threadCpuMs, threadNice } from '../../src/proxy/priority.js';

it('counts fields from after the command name, and reads CPU time in ms', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ipt-stat-'));
  try {
    const f = join(dir, 'stat');
    // pid (comm) state ppid … utime=12 stime=30 cutime=5 cstime=7 … nice=10
    const fields = ['S', '1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '12', '30', '5', '7', '20', '10'];
    writeFileSync(f, `4242 (my (odd) name) ${fields.join(' ')} 1 0\n`);
    expect(statFields(f)?.slice(0, 3)).toEqual(['S', '1', '2']);
    expect(statFields(f)?.[16]).toBe('10');
    expect(statCpuMs(f)).toBe(420);
    expect(statFields(join(dir, 'none'))).toBeNull();
    expect(statCpuMs(join(dir, 'none'))).toBeNull();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it.runIf(process.platform === 'linux')('reads this process and thread as the kernel reports them', () => {
  expect(statFields('/proc/self/stat')?.[0]).toMatch(/^[RSDTtZI]$/);
  expect(statCpuMs('/proc/self/stat')).toBeGreaterThanOrEqual(0);
  // The main thread's id is the pid.
  expect(threadNice(process.pid)).toBe(Number(statFields(`/proc/self/task/${process.pid}/stat`)![16]));
  expect(threadCpuMs()).toBeGreaterThanOrEqual(0);
});
