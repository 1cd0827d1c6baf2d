// ExecSession and the exec shim (src/proxy/exec.ts, src/proxy/shim.ts) with a
// fake Bitcoin Core parent/child pair (test/proxy/fixtures/).
//
// The shim runs as its own node process, so it must be compiled JavaScript:
// beforeAll compiles src/proxy/shim.ts (and the two modules it imports) with
// the project's TypeScript into a temp dir and passes it as `shimEntry`
// (ExecSession's default is dist/proxy/shim.js from `npm run build`).
//
// The fake parent must see the argv[0] ExecSession gives it, which a #! script
// does not (the kernel replaces argv[0] with the script path), so the command
// is `<tmp>/bin/fake-parent`, a symlink to the node binary, with the fixture
// script as its first argument; `<tmp>/bin/fake-child` is a symlink to the
// fake-child fixture (a #!/usr/bin/env node script).

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ExecSession, resolveCommand, shimScript } from '../../src/proxy/exec.js';
import { UserError } from '../../src/decoder/sources.js';
import { RecordingTap, tempDir, within, sleep } from './helpers.js';
import { Interceptor } from '../../src/intercept/engine.js';
import { parseRule } from '../../src/intercept/rules.js';
import { loadSchemaBundle, rpcSchemaSet } from '../../src/decoder/sources.js';
import { callMessage } from '../../src/rpc/envelope.js';
import { createHash } from 'node:crypto';

const ROOT = join(import.meta.dirname, '..', '..');
const FIXTURES = join(import.meta.dirname, 'fixtures');
let build: { dir: string; cleanup: () => void };
let shimEntry: string;

beforeAll(() => {
  build = tempDir('ipt-shim-');
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '--outDir', build.dir, '--rootDir', join(ROOT, 'src'), '--module', 'NodeNext',
    '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--strict', '--skipLibCheck', '--types', 'node',
    join(ROOT, 'src', 'proxy', 'shim.ts')], { encoding: 'utf8', cwd: ROOT });
  if (r.status !== 0) throw new Error(`compiling the shim failed:\n${r.stdout}${r.stderr}`);
  writeFileSync(join(build.dir, 'package.json'), '{"type":"module"}\n');
  shimEntry = join(build.dir, 'proxy', 'shim.js');
  for (const f of ['fake-parent.cjs', 'fake-child.cjs', 'capnp-parent.cjs']) chmodSync(join(FIXTURES, f), 0o755);
}, 20000);

afterAll(() => build?.cleanup());

interface IpcResult {
  sentHash: string;
  recvHash: string;
  sentBytes: number;
  recvBytes: number;
  echoOk: boolean;
  childExit: { code: number | null; signal: string | null };
  /** The pid the parent spawned (the shim's). */
  childPid: number;
}
interface RunResult { code?: number | null; signal?: string | null; stdout?: string; error?: string }
interface FakeResult {
  argv0: string;
  pid: number;
  dir: string;
  version: RunResult;
  fail: RunResult;
  killed: RunResult;
  ipc: IpcResult;
  ipc5: IpcResult;
  nested?: RunResult;
  sockError?: string;
}

interface ChildReport { fd: number; pid: number; fds: Record<string, string> }

/** A dir with the fake programs, as COMMAND's directory. */
function fakeBin(root: string): string {
  const bin = join(root, 'real');
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'fake-parent'));
  symlinkSync(join(FIXTURES, 'fake-child.cjs'), join(bin, 'fake-child'));
  writeFileSync(join(bin, 'README'), 'not executable\n');
  return bin;
}

async function runFake(bash: string | null | undefined) {
  const tmp = tempDir('ipt-exec-');
  try {
    const bin = fakeBin(tmp.dir);
    const resultFile = join(tmp.dir, 'result.json');
    const reportFile = join(tmp.dir, 'children.jsonl');
    const tap = new RecordingTap();
    const logs: string[] = [];
    const session = new ExecSession({
      command: join(bin, 'fake-parent'),
      args: [join(FIXTURES, 'fake-parent.cjs'), resultFile, '--exit', '3'],
      tap,
      log: (l) => logs.push(l),
      shimEntry,
      bash,
      // #!/usr/bin/env node must find this node.
      env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`, FAKE_CHILD_REPORT: reportFile },
    });
    await session.start();
    const shimDir = session.shimDir!;
    const shims = readdirSync(shimDir).sort();
    const code = await within(session.wait(), 15000, 'fake parent exit');
    await session.stop();
    const result = JSON.parse(readFileSync(resultFile, 'utf8')) as FakeResult;
    const nested = JSON.parse(readFileSync(`${resultFile}.nested.json`, 'utf8')) as FakeResult;
    const children = readFileSync(reportFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as ChildReport);
    return { tap, logs, code, result, nested, shimDir, shims, children };
  } finally {
    tmp.cleanup();
  }
}

function checkRun(r: Awaited<ReturnType<typeof runFake>>): void {
  const { tap, code, result, nested, shimDir, shims, children } = r;
  // COMMAND's exit code comes back from wait(); the session cleaned up.
  expect(code).toBe(3);
  expect(existsSync(shimDir)).toBe(false);
  // Every executable of COMMAND's dir got a shim, nothing else.
  expect(shims).toEqual(['fake-child', 'fake-parent']);
  // COMMAND ran with argv[0] in the shim dir, and so did the nested parent (pass-through).
  expect(result.argv0).toBe(join(shimDir, 'fake-parent'));
  expect(nested.argv0).toBe(join(shimDir, 'fake-parent'));
  expect(result.nested).toMatchObject({ code: 0, signal: null });
  for (const res of [result, nested]) {
    // Not -ipcfd: passed through, with output, exit codes and signals intact.
    expect(res.version).toEqual({ code: 0, signal: null, stdout: 'fake-child 1.0 (1 args)' });
    expect(res.fail).toMatchObject({ code: 5, signal: null });
    expect(res.killed).toMatchObject({ code: null, signal: 'SIGTERM' });
    // -ipcfd: the parent still gets a byte-exact echo, and the child's exit code.
    expect(res.sockError).toBeUndefined();
    for (const ipc of [res.ipc, res.ipc5]) {
      expect(ipc.echoOk).toBe(true);
      expect(ipc.recvBytes).toBe(ipc.sentBytes);
      expect(ipc.childExit).toEqual({ code: 7, signal: null });
    }
  }
  // Each real child got `-ipcfd 3` with fd 3 a socket, and no other socket in
  // fds 3..9: it did not inherit the parent's socket (fd 5 in the shim).
  expect(children.length).toBe(4);
  for (const ch of children) {
    expect(ch.fd).toBe(3);
    expect(ch.fds['3']).toMatch(/^socket:/);
    for (const [n, target] of Object.entries(ch.fds)) if (n !== '3') expect(target, `fd ${n}`).not.toMatch(/^socket:/);
  }
  // The tap saw the four interposed connections, named and with the right directions.
  expect(tap.problems).toEqual([]);
  const conns = [...tap.conns.values()];
  expect(conns.length).toBe(4);
  expect(new Set(conns.map((c) => c.open.id)).size).toBe(4);
  for (const res of [result, nested]) {
    for (const ipc of [res.ipc, res.ipc5]) {
      const c = conns.find((x) => x.digest!['>'] === ipc.sentHash);
      expect(c, `connection from fake-parent[${res.pid}]`).toBeDefined();
      expect(c!.open.listen).toBe(`exec:fake-parent[${res.pid}]`);
      // The child's own pid, and the pid the parent spawned (the shim's).
      expect(c!.open.upstream).toBe(`exec:fake-child[${children.find((ch) => c!.open.upstream.startsWith(`exec:fake-child[${ch.pid},`))?.pid}, launched as ${ipc.childPid}]`);
      expect(c!.digest!['<']).toBe(ipc.recvHash);
      expect(c!.bytes['>']).toBe(ipc.sentBytes);
      expect(c!.ends.sort()).toEqual(['<', '>']);
      expect(c!.seq[0]).toBe('>');
      expect(c!.close!.reason).toBeNull();
    }
  }
}

describe('ExecSession', () => {
  it('interposes on -ipcfd children (bash pass-through)', async () => {
    const r = await runFake(undefined);
    checkRun(r);
    // The fixture child exits with 7: worth a line each.
    expect(r.logs.length).toBe(4);
    for (const l of r.logs) expect(l).toMatch(/^connection #\d: exec:fake-child\[\d+, launched as \d+\] exited with code 7$/);
  }, 20000);

  it('interposes on -ipcfd children (node pass-through fallback)', async () => {
    const r = await runFake(null);
    checkRun(r);
  }, 20000);

  it('reports a missing command as a UserError and leaves no temp dir', async () => {
    expect(() => resolveCommand('/nonexistent/bitcoin-node')).toThrow(UserError);
    expect(() => resolveCommand('no-such-command-ipc-trace', '/nonexistent')).toThrow(/not found in PATH/);
    const s = new ExecSession({ command: '/nonexistent/bitcoin-node', args: [], tap: new RecordingTap(), shimEntry });
    await expect(s.start()).rejects.toThrow(UserError);
    // Exists but cannot be executed (its interpreter is missing): spawn fails after the shims were made.
    const tmp = tempDir('ipt-exec-');
    try {
      const script = join(tmp.dir, 'broken');
      writeFileSync(script, '#!/nonexistent/interpreter\n', { mode: 0o755 });
      const b = new ExecSession({ command: script, args: [], tap: new RecordingTap(), shimEntry });
      await expect(b.start()).rejects.toThrow(/cannot run .*broken: .*ENOENT/);
      expect(existsSync(b.shimDir!)).toBe(false);
      await within(b.stop(), 2000, 'stop after a failed start');
    } finally {
      tmp.cleanup();
    }
  });

  it('stop() terminates a running command', async () => {
    const tmp = tempDir('ipt-exec-');
    try {
      const script = join(tmp.dir, 'sleeper');
      writeFileSync(script, '#!/bin/sh\nexec sleep 30\n', { mode: 0o755 });
      const s = new ExecSession({ command: script, args: [], tap: new RecordingTap(), shimEntry });
      await s.start();
      const dir = s.shimDir!;
      expect(existsSync(join(dir, 'sleeper'))).toBe(true);
      await within(s.stop(), 8000, 'stop');
      expect(await s.wait()).toBe(128 + 15);
      expect(existsSync(dir)).toBe(false);
    } finally {
      tmp.cleanup();
    }
  });

  it('forwards SIGTERM to the command and removes its signal handlers on stop()', async () => {
    const tmp = tempDir('ipt-exec-');
    try {
      const script = join(tmp.dir, 'trapper');
      writeFileSync(script, '#!/bin/sh\ntrap \'kill $!; exit 42\' TERM\nsleep 30 &\nwait\n', { mode: 0o755 });
      const before = process.listeners('SIGTERM');
      const s = new ExecSession({ command: script, args: [], tap: new RecordingTap(), shimEntry });
      await s.start();
      const ours = process.listeners('SIGTERM').filter((l) => !before.includes(l));
      expect(ours.length).toBe(1);
      await sleep(200); // let sh install its trap
      (ours[0] as () => void)(); // as if ipc-trace received SIGTERM
      expect(await within(s.wait(), 5000, 'command exit')).toBe(42);
      await s.stop();
      expect(process.listeners('SIGTERM').filter((l) => !before.includes(l))).toEqual([]);
    } finally {
      tmp.cleanup();
    }
  });

  it('writes shims that quote paths safely', () => {
    const text = shimScript({ real: "/opt/it's here/bitcoin-node", node: '/usr/bin/node', entry: '/x/shim.js', control: '/t/c.sock', shimDir: '/t/bin', bash: '/bin/bash' });
    expect(text.startsWith('#!/bin/sh\n')).toBe(true);
    expect(text).toContain(`'/opt/it'\\''s here/bitcoin-node'`);
    const r = spawnSync('/bin/sh', ['-n', '-c', text]);
    expect(r.status).toBe(0);
  });
});

describe('ExecSession with an interceptor', () => {
  const schemas = loadSchemaBundle([], []).set;
  const call = (q: number, ifaceName: string, method: string): Uint8Array => {
    const i = [...schemas.interfaces.values()].find((x) => x.name === ifaceName)!;
    const m = i.methods.find((x) => x.name === method)!;
    return callMessage(q, i.id, m.ordinal, { kind: 'importedCap', id: 0 }, () => []).bytes;
  };
  const until = async (cond: () => boolean, ms = 15000) => {
    const end = Date.now() + ms;
    while (!cond() && Date.now() < end) await sleep(10);
    expect(cond()).toBe(true);
  };

  it('shims relay by themselves while no rule is in force and hand chunks over while one is; the switches reorder and lose nothing', async () => {
    const tmp = tempDir('ipt-exec-icpt-');
    try {
      const bin = fakeBin(tmp.dir);
      const frames: Uint8Array[] = [];
      for (let q = 0; q < 8000; q++) frames.push(q % 40 === 39 ? call(q, 'ChainNotifications', 'blockConnected') : call(q, 'Chain', 'getHeight'));
      const stream = Buffer.concat(frames);
      const streamFile = join(tmp.dir, 'stream.bin');
      writeFileSync(streamFile, stream);
      const resultFile = join(tmp.dir, 'result.json');
      const eng = new Interceptor(schemas, rpcSchemaSet(), [], () => {});
      const tap = new RecordingTap();
      const session = new ExecSession({
        command: join(bin, 'fake-parent'),
        args: [join(FIXTURES, 'capnp-parent.cjs'), resultFile, streamFile],
        tap,
        shimEntry,
        interceptor: eng,
        env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` },
      });
      await session.start();
      const recorded = () => [...tap.conns.values()].reduce((n, c) => n + c.bytes['>'], 0);
      // No rule: the shim relays by itself; this process only records the copies.
      await until(() => session.relayModes.join() === 'd');
      let back = session.sentBack;
      let at = recorded();
      await until(() => recorded() > at + 20000);
      expect(session.sentBack).toBe(back);
      // A rule: chunks come here and what goes on is written back; blockConnected is held.
      const rule = parseRule('hold', 'method:blockConnected');
      eng.addRule(rule);
      await until(() => eng.heldList().length > 0);
      expect(session.relayModes.join()).toBe('i');
      eng.removeRule(rule.id);
      back = session.sentBack;
      // Every blockConnected read before the rule was dropped is held (how many chunks came by then is timing).
      expect(eng.release('all')).toBeGreaterThanOrEqual(1);
      expect(session.sentBack).toBeGreaterThan(back);
      // Nothing held, no rule: back to relaying by itself.
      await until(() => session.relayModes.join() === 'd');
      back = session.sentBack;
      at = recorded();
      await until(() => recorded() > at + 20000);
      expect(session.sentBack).toBe(back);
      expect(await within(session.wait(), 60000, 'capnp parent exit')).toBe(0);
      await session.stop();
      const result = JSON.parse(readFileSync(resultFile, 'utf8')) as { sent: number; recv: number; equal: boolean };
      expect(result).toMatchObject({ sent: stream.length, recv: stream.length, equal: true });
      // The recording has every byte, in order, both ways.
      const [c] = [...tap.conns.values()];
      const sha = createHash('sha256').update(stream).digest('hex');
      expect([c!.bytes['>'], c!.bytes['<']]).toEqual([stream.length, stream.length]);
      expect([c!.digest!['>'], c!.digest!['<']]).toEqual([sha, sha]);
    } finally {
      tmp.cleanup();
    }
  }, 90000);
});
