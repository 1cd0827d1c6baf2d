// Runs the built CLI (dist/, built by `pretest`) as a user would.

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from '../helpers.js';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout as a byte string (latin1), for byte-exact comparisons. */
  bytes: string;
}

export function runCli(args: string[], env: Record<string, string> = {}, input?: string): RunResult {
  const r = spawnSync(process.execPath, [join(ROOT, 'dist/cli/main.js'), ...args], {
    env: { ...process.env, ...env },
    input,
    maxBuffer: 1 << 28,
  });
  return { code: r.status, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8'), bytes: r.stdout.toString('latin1') };
}
