// Decoder checks that need system packages: the goldens still equal what the
// C++ reference decoder prints, the committed schema bundle equals a fresh
// compile, and --schema compiles the user's files with the capnp tool.

import { describe, it, expect } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, readJsonl } from '../helpers.js';
import { runCli } from '../cli/run.js';

const tmp = mkdtempSync(join(tmpdir(), 'ipc-trace-sys-'));

describe('decoder with the reference tools', () => {
  it('goldens equal a fresh run of capnp-oracle on every fixture', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts/make-goldens.mjs'), '--check'], { encoding: 'utf8' });
    expect(r.stderr + r.stdout).toContain('goldens are up to date');
    expect(r.status).toBe(0);
  }, 600000);

  it('the committed schema bundles equal a fresh compile (npm run schemas)', () => {
    const before = ['bitcoin.cgr', 'rpc.cgr'].map((f) => readFileSync(join(ROOT, 'schemas/compiled', f)));
    execFileSync('sh', [join(ROOT, 'scripts/build-schemas.sh')], { stdio: 'ignore' });
    const after = ['bitcoin.cgr', 'rpc.cgr'].map((f) => readFileSync(join(ROOT, 'schemas/compiled', f)));
    expect(after[0]!.equals(before[0]!)).toBe(true);
    expect(after[1]!.equals(before[1]!)).toBe(true);
  });

  it('--schema compiles user schemas at run time and decodes with them', () => {
    const mp = join(ROOT, 'test/fixtures/schemas/mpexample');
    const args = ['decode', '--hexlog', join(ROOT, 'test/fixtures/captures/mpexample-mpcalculator-01.hexlog'), '-I', mp];
    for (const f of ['init.capnp', 'calculator.capnp', 'printer.capnp']) args.push('--schema', join(mp, f));
    const r = runCli(args);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const ours = r.bytes.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const golden = readJsonl(join(ROOT, 'test/golden/captures/mpexample-mpcalculator-01.jsonl'));
    expect(ours.map((o) => [o.name, o.text, o.exception])).toEqual(golden.map((g) => [g.name, g.text, g.exception]));
    expect(ours.some((o) => String(o.name).startsWith('CalculatorInterface.'))).toBe(true);
    const listed = runCli(['schemas', '-I', mp, '--schema', join(mp, 'calculator.capnp')]);
    expect(listed.stdout).toMatch(/^CalculatorInterface 0x[0-9a-f]+ \(calculator\.capnp\)$/m);
  });

  it('a missing import or a parse error is one line naming the file', () => {
    const a = join(tmp, 'a.capnp');
    writeFileSync(a, '@0xd1a2b3c4d5e6f701;\nusing B = import "nowhere/b.capnp";\nstruct S { b @0 :B.T; }\n');
    const r1 = runCli(['schemas', '--schema', a]);
    expect(r1.code).toBe(1);
    expect(r1.stderr.trim().split('\n')).toHaveLength(1);
    expect(r1.stderr).toMatch(/a\.capnp:2.*nowhere\/b\.capnp/);

    const c = join(tmp, 'c.capnp');
    writeFileSync(c, '@0xd1a2b3c4d5e6f702;\nstruct S { x @0 :Int32 = ; }\n');
    const r2 = runCli(['schemas', '--schema', c]);
    expect(r2.code).toBe(1);
    expect(r2.stderr.trim().split('\n')).toHaveLength(1);
    expect(r2.stderr).toMatch(/c\.capnp:2/);
  });
});
