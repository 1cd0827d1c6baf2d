// Breakpoints on the wire between real Cap'n Proto C++ peers (Debian's
// libcapnp): calls held by --hold and then released with `ipc-trace release`
// complete normally (pipelined calls included), and a Call failed by --fail
// reaches the C++ client as a proper exception with the given text, while
// the server never sees it.

import { it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, spawnSync, ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ROOT } from '../helpers.js';
import { buildCalcPeer, PEERS } from './peers/build.js';

let dir = '';
let peer = '';
let server: ChildProcess;
let proxy: ChildProcess;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function waitFor(p: ChildProcess, stream: 'stdout' | 'stderr', text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    p[stream]!.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes(text)) resolve();
    });
    p.once('exit', (c) => reject(new Error(`exited ${c} before '${text}': ${buf}`)));
  });
}

const cli = (args: string[]) => spawnSync(process.execPath, [join(ROOT, 'dist/cli/main.js'), ...args], { encoding: 'utf8' });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ipc-trace-cpp-intercept-'));
  peer = buildCalcPeer(dir);
  server = spawn(peer, ['server', join(dir, 'up.sock')], { stdio: ['ignore', 'pipe', 'inherit'] });
  await waitFor(server, 'stdout', 'listening');
  const rules = join(dir, 'rules');
  writeFileSync(rules, '# held until released, pipelined calls too\nhold method:Calculator.add | method:Counter.next\nfail method:Calculator.fail=injected by ipc-trace\n');
  proxy = spawn(
    process.execPath,
    [join(ROOT, 'dist/cli/main.js'), '--listen', join(dir, 'p.sock'), '--connect', join(dir, 'up.sock'), '--db', join(dir, 's.sqlite'), '--log', join(dir, 's.log'), '--schema', join(PEERS, 'calc.capnp'), '--rules', rules],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  await waitFor(proxy, 'stderr', 'listening on');
}, 300000);

afterAll(() => {
  server?.kill();
  proxy?.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it('held calls complete normally once released; a failed call is a C++ exception with the given text', async () => {
  const client = spawn(peer, ['client', join(dir, 'p.sock')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  client.stdout.on('data', (d: Buffer) => (out += d.toString()));
  client.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => client.on('exit', (c) => r(c)));
  const db = join(dir, 's.sqlite');
  const seen = new Set<string>();
  let releases = 0;
  while (client.exitCode === null) {
    const list = cli(['release', db, '--list']);
    expect(list.status, list.stderr).toBe(0);
    if (list.stdout.trim() !== 'nothing held') {
      for (const l of list.stdout.trim().split('\n')) seen.add(/^#\d+ c\d+ [<>] call (\S+)/.exec(l)?.[1] ?? l);
      // While held, the client is waiting: nothing after it has been printed.
      if (seen.has('Calculator.add') && releases === 0) expect(out).not.toContain('add 42');
      const r = cli(['release', db, 'all']);
      expect(r.status, r.stderr).toBe(0);
      releases++;
    }
    await sleep(150);
  }
  expect(await exited, out).toBe(0);
  expect([...seen].sort()).toEqual(['Calculator.add', 'Counter.next']);
  expect(out).toContain('add 42');
  expect(out).toContain('next 11 12');
  expect(out).toContain('readCounter 101');
  expect(out).toMatch(/^fail 0 .*injected by ipc-trace$/m);
  expect(out).not.toContain('on purpose');
  expect(out).toContain('done');

  proxy.kill('SIGINT');
  await new Promise((r) => proxy.once('exit', r));
  const d = new Database(db, { readonly: true });
  try {
    const fails = d.prepare("SELECT status, exception FROM calls WHERE title = 'Calculator.fail'").all();
    expect(fails).toEqual([{ status: 'exception', exception: 'failed: injected by ipc-trace' }]);
    const iv = d.prepare('SELECT kind, title FROM interventions ORDER BY seq').all() as { kind: string; title: string }[];
    expect(iv.filter((x) => x.kind === 'hold').map((x) => x.title)).toEqual(['Calculator.add', 'Counter.next', 'Counter.next']);
    expect(iv.filter((x) => x.kind === 'release').length).toBe(3);
    expect(iv.filter((x) => x.kind === 'fail').map((x) => x.title)).toEqual(['Calculator.fail']);
    expect(d.prepare("SELECT count(*) FROM calls WHERE status = 'pending'").pluck().get()).toBe(0);
    expect(d.prepare('SELECT count(*) FROM message_rows WHERE error IS NOT NULL').pluck().get()).toBe(0);
  } finally {
    d.close();
  }
}, 120000);
