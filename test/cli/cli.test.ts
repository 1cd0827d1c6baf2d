// The command line as a user meets it: help, version, exit codes, one-line
// errors, and decode/schemas output.

import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './run.js';
import { ROOT, readJsonl } from '../helpers.js';

const ECHO = join(ROOT, 'test/fixtures/captures/echo-01.hexlog');
const tmp = mkdtempSync(join(tmpdir(), 'ipc-trace-cli-'));

function oneLineError(r: { stderr: string }): void {
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(/^ipc-trace: /);
  expect(r.stderr).not.toMatch(/\bat .*\.js:\d+/);
}

describe('ipc-trace CLI', () => {
  it('prints its version and help', () => {
    const v = runCli(['--version']);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/^ipc-trace \d+\.\d+\.\d+\n$/);
    const h = runCli(['--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain('decode --hexlog FILE');
    for (const cmd of ['decode', 'schemas']) {
      const c = runCli([cmd, '--help']);
      expect(c.code).toBe(0);
      expect(c.stdout).toMatch(new RegExp(`^usage: ipc-trace ${cmd}`));
    }
  });

  it('exits 2 with one line on bad usage', () => {
    for (const args of [[], ['frobnicate'], ['decode'], ['decode', '--hexlog'], ['decode', '--hexlog', ECHO, '--format', 'xml'], ['decode', '--bogus'], ['schemas', 'extra']]) {
      const r = runCli(args);
      expect(r.code, args.join(' ')).toBe(2);
      if (args.length > 0) oneLineError(r);
    }
  });

  it('exits 1 with one line on bad input', () => {
    const missing = runCli(['decode', '--hexlog', join(tmp, 'nope.hexlog')]);
    expect(missing.code).toBe(1);
    oneLineError(missing);
    expect(missing.stderr).toContain('cannot read');

    const bad = join(tmp, 'bad.hexlog');
    writeFileSync(bad, '# ok\n> 0000\n? zz\n');
    const r = runCli(['decode', '--hexlog', bad]);
    expect(r.code).toBe(1);
    oneLineError(r);
    expect(r.stderr).toContain('bad.hexlog:3');

    const odd = join(tmp, 'odd.hexlog');
    writeFileSync(odd, '> 000\n');
    expect(runCli(['decode', '--hexlog', odd]).stderr).toContain('odd.hexlog:1: not an even number of hex digits');
  });

  it('says what to install when --schema needs a missing capnp compiler', () => {
    const schema = join(tmp, 'x.capnp');
    writeFileSync(schema, '@0xd1a2b3c4d5e6f701;\n');
    const r = runCli(['decode', '--hexlog', ECHO, '--schema', schema], { CAPNP: join(tmp, 'no-such-capnp') });
    expect(r.code).toBe(1);
    oneLineError(r);
    expect(r.stderr).toContain('apt-get install capnproto libcapnp-dev');
    const nofile = runCli(['schemas', '--schema', join(tmp, 'missing.capnp')]);
    expect(nofile.code).toBe(1);
    expect(nofile.stderr).toContain('schema file not found');
  });

  it('decodes a capture to jsonl with the reference decoder values', () => {
    const r = runCli(['decode', '--hexlog', ECHO]);
    expect(r.code).toBe(0);
    const ours = r.bytes.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const golden = readJsonl(join(ROOT, 'test/golden/captures/echo-01.jsonl'));
    expect(ours.map((o) => [o.n, o.dir, o.type, o.name, o.text, o.exception])).toEqual(
      golden.map((g) => [g.n, g.dir, g.type, g.name, g.text, g.exception]),
    );
  });

  it('decodes to readable log lines, optionally cut like libmultiprocess', () => {
    const r = runCli(['decode', '--hexlog', ECHO, '--format', 'log']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe('#0 > bootstrap q0');
    expect(lines).toContain(
      '#12 > call q0 cap#3 Echo.echo$Params caps=[receiverHosted 2, senderHosted 1] (context = (thread = <external capability>, callbackThread = <external capability>), echo = "hallo")',
    );
    // UTF-8 text is escaped by LogEscape as in -debug=ipc: h\c3\a9llo
    expect(r.stdout).toContain('echo = "h\\c3\\a9llo w\\c3\\b6rld \\e2\\82\\bf"');
    const cut = runCli(['decode', '--hexlog', ECHO, '--format', 'log', '--max-chars', '20']);
    const line = cut.stdout.split('\n').find((l) => l.startsWith('#12 '))!;
    expect(line.endsWith('senderHosted 1] (context = (thread = ...')).toBe(true);
  });

  it('lists the bundled interfaces with ids and method ordinals', () => {
    const r = runCli(['schemas']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Init 0x8838c700ba5cba65 \(ipc\/init\.capnp\)$/m);
    expect(r.stdout).toContain('  @7 makeWalletLoader *');
    expect(r.stdout).toContain('  @0 construct\n');
    expect(r.stdout).toMatch(/^ThreadMap 0xee5e37179ad9dc9d /m);
    expect(r.stdout).toMatch(/^WalletLoader 0xba10da251bfac23a \(ipc\/wallet\.capnp\) extends ChainClient$/m);
    expect(r.stdout).toMatch(/^Mining 0xf9c68436df3af39e[\s\S]*?@6 interrupt\n/m);
  });
});
