// The relay benchmark's C++ echo peers (Debian's libcapnp-dev) through the
// recording proxy: every answer comes back intact with 32 calls in flight, and
// the session database holds every call, returned, with its params decoded
// against the echo schema.

import { it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { accepting } from '../../src/bench/relay-client.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SessionReader } from '../../src/store/reader.js';
import { ROOT } from '../helpers.js';
import { buildEchoPeer, runEchoClient, ECHO_SCHEMA } from '../../src/bench/echo-peer.js';

let dir = '';
let bin = '';
const procs: ChildProcess[] = [];


beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ipc-trace-echo-'));
  bin = buildEchoPeer(dir);
  procs.push(spawn(bin, ['server', join(dir, 'up.sock')], { stdio: 'ignore' }));
  await accepting(join(dir, 'up.sock'));
}, 300000);

afterAll(() => {
  for (const p of procs) p.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it('C++ echo calls through the recording proxy come back intact and are all recorded', async () => {
  const db = join(dir, 's.sqlite');
  const proxy = spawn(
    process.execPath,
    [join(ROOT, 'dist/cli/main.js'), '--listen', join(dir, 'p.sock'), '--connect', join(dir, 'up.sock'), '--db', db, '--schema', ECHO_SCHEMA, '--no-tui'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const exited = new Promise<number | null>((r) => proxy.on('exit', (code) => r(code)));
  await accepting(join(dir, 'p.sock'));
  const f = runEchoClient(bin, join(dir, 'p.sock'), 500, 32, 100);
  expect(f.ok).toBe(true);
  proxy.kill('SIGTERM');
  expect(await exited).toBe(0);
  const d = SessionReader.open(db);
  // 200 warm-up calls, 500 sequential, 500 with 32 in flight.
  const calls = d.query("SELECT status, count(*) AS n FROM calls WHERE title = 'Echo.echo' GROUP BY status");
  const params = d.query("SELECT params FROM v_calls WHERE title = 'Echo.echo' LIMIT 1")[0]!.params as string;
  d.close();
  expect(calls).toEqual([{ status: 'returned', n: 1200 }]);
  expect(params).toMatch(/^\(data = "/);
}, 120000);
