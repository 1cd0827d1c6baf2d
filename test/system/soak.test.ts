// The reliability suite's short run (npm run soak -- --short): its outcomes
// (byte-exact relay under load and malformed traffic, drop figures that add
// up, a stop that finishes, disk full reported once and recorded in meta) are
// checked by the suite itself, which exits non-zero when one is wrong. Its
// speed and memory figures are printed for the reader, never asserted.

import { it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from '../helpers.js';

it('the short soak run finds every outcome as expected', () => {
  const r = spawnSync(process.execPath, [join(ROOT, 'dist/soak/soak.js'), '--short'], { encoding: 'utf8', timeout: 170_000 });
  process.stdout.write(r.stdout);
  expect(r.stderr).toBe('');
  expect(r.stdout).toContain('soak: every outcome as expected');
  expect(r.status).toBe(0);
}, 180_000);
