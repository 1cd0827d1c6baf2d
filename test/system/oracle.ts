// The C++ reference decoder, as scripts/make-goldens.mjs builds it, run with
// the schema set the capture goldens use for Bitcoin Core traffic.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers.js';

let binary: string | null = null;
export function oracleBinary(): string {
  binary ??= execFileSync(process.execPath, [join(ROOT, 'scripts/make-goldens.mjs'), '--oracle'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
    .trim()
    .split('\n')
    .pop()!;
  return binary;
}

/** The oracle's JSON lines for a hexlog, decoded with the bundled schemas. */
export function oracleDecode(hexlog: Buffer): Record<string, unknown>[] {
  const manifest = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/captures/manifest.json'), 'utf8')) as {
    schemaSets: Record<string, { include: string[]; files: string[] }>;
  };
  const set = manifest.schemaSets.bitcoin!;
  const args = [...set.include.flatMap((d) => ['-I', join(ROOT, d)]), ...set.files.map((f) => join(ROOT, f))];
  const out = execFileSync(oracleBinary(), args, { input: hexlog, maxBuffer: 1 << 30 });
  return out
    .toString('latin1')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
