// Real Cap'n Proto C++ peers (built from Debian's libcapnp-dev) talking
// through the recording proxy: clients run their scenarios
// (calls, pipelining, capabilities both ways, callbacks, recursion,
// exceptions) through ipc-trace and get the right answers; ipc-trace records
// every call decoded with the user's schema (--schema, compiled with capnp).

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ROOT } from '../helpers.js';
import { buildCalcPeer, PEERS } from './peers/build.js';

let dir = '';
let peer = '';
let server: ChildProcess;
let proxy: ChildProcess;

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

function run(bin: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('exit', (code) => resolve({ code, out }));
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ipc-trace-cpp-proxy-'));
  peer = buildCalcPeer(dir);
  server = spawn(peer, ['server', join(dir, 'up.sock')], { stdio: ['ignore', 'pipe', 'inherit'] });
  await waitFor(server, 'stdout', 'listening');
  proxy = spawn(
    process.execPath,
    [join(ROOT, 'dist/cli/main.js'), '--listen', join(dir, 'p.sock'), '--connect', join(dir, 'up.sock'), '--db', join(dir, 's.sqlite'), '--log', join(dir, 's.log'), '--schema', join(PEERS, 'calc.capnp')],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  await waitFor(proxy, 'stderr', 'listening on');
}, 300000);

afterAll(() => {
  server?.kill();
  proxy?.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('C++ peers through the proxy', () => {
  it('C++ clients run every scenario correctly through ipc-trace', async () => {
    // One after another: the C++ server keeps per-process state (keep/poke/drop), so
    // its clients must not overlap (they crash even without ipc-trace in between).
    for (let i = 0; i < 4; i++) {
      const r = await run(peer, ['client', join(dir, 'p.sock')]);
      expect(r.code, r.out).toBe(0);
      expect(r.out).toContain('nested cpp-calc(2)>cpp-cb(2)>cpp-calc(1)>cpp-cb(1)>cpp-calc(0)>cpp-leaf');
    }
  });

  it('records their calls, capabilities, exceptions and releases', async () => {
    proxy.kill('SIGINT');
    await new Promise((r) => proxy.once('exit', r));
    const d = new Database(join(dir, 's.sqlite'), { readonly: true });
    const titles = new Set(d.prepare('SELECT title FROM calls').pluck().all() as string[]);
    for (const t of ['Calculator.add', 'Calculator.makeCounter', 'Counter.next', 'Calculator.callBack', 'Callback.invoke', 'Calculator.nested', 'Callback.recurse', 'Calculator.fail']) {
      expect(titles, t).toContain(t);
    }
    expect(d.prepare("SELECT count(*) FROM calls WHERE status = 'exception'").pluck().get()).toBeGreaterThanOrEqual(4);
    expect(d.prepare("SELECT count(*) FROM calls WHERE status = 'pending'").pluck().get()).toBe(0);
    // Callbacks travel the other way.
    expect(d.prepare("SELECT count(DISTINCT dir) FROM calls WHERE title = 'Callback.invoke' OR title = 'Calculator.add'").pluck().get()).toBe(2);
    // Capabilities named from the schema: Counter objects per connection.
    expect(d.prepare("SELECT count(*) FROM capabilities WHERE iface = 'Counter'").pluck().get()).toBeGreaterThanOrEqual(4);
    expect(d.prepare("SELECT count(*) FROM message_rows WHERE type = 'release'").pluck().get()).toBeGreaterThan(0);
    expect(d.prepare('SELECT count(*) FROM message_rows WHERE error IS NOT NULL').pluck().get()).toBe(0);
    d.close();
  });
});
