// Two proxies in series (client → A → B → server) record the same calls
// twice; merge must give each call once, as one proxy in the middle would.

import { describe, it, expect, afterAll } from 'vitest';
import { spawn, ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers.js';
import { replayThrough } from '../support/hexlog-peers.js';
import { runCli } from '../cli/run.js';
import { SessionReader } from '../../src/store/reader.js';

const CAP = join(ROOT, 'test/fixtures/captures');
const dir = mkdtempSync(join(tmpdir(), 'ipc-trace-chained-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function proxy(listen: string, connect: string, db: string): Promise<ChildProcess> {
  const p = spawn(process.execPath, [join(ROOT, 'dist/cli/main.js'), '--listen', listen, '--connect', connect, '--db', db, '--no-tui', '--log', `${db}.log`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let err = '';
    p.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('listening on')) resolve(p);
    });
    p.once('exit', () => reject(new Error(`proxy exited: ${err}`)));
  });
}

function rows(p: string) {
  const r = SessionReader.open(p);
  try {
    return r.rows();
  } finally {
    r.close();
  }
}

describe('merge of chained proxies', () => {
  it('keeps each call once when two proxies in series recorded it', async () => {
    const near = join(dir, 'near.sqlite');
    const far = join(dir, 'far.sqlite');
    const pFar = await proxy(join(dir, 'far.sock'), join(dir, 'up.sock'), far);
    const pNear = await proxy(join(dir, 'near.sock'), join(dir, 'far.sock'), near);
    for (const s of ['mining-01', 'cli-01']) await replayThrough(join(CAP, `${s}.hexlog`), join(dir, 'near.sock'), join(dir, 'up.sock'));
    for (const p of [pNear, pFar]) {
      p.kill('SIGINT');
      await new Promise((r) => p.once('exit', r));
    }
    const a = rows(near);
    const b = rows(far);
    expect(a.calls.length).toBeGreaterThan(0);
    expect(b.calls.length).toBe(a.calls.length);
    // Each proxy names the server after the socket it connects to: two placeholders for one process.
    expect(a.processes.map((p) => p.label)).not.toEqual(b.processes.map((p) => p.label));
    const out = join(dir, 'merged.sqlite');
    const r = runCli(['merge', near, far, '--db', out]);
    expect(r.code, r.stderr).toBe(0);
    const m = rows(out);
    expect(m.calls.length).toBe(a.calls.length);
    expect(m.connections.length).toBe(a.connections.length);
    expect(m.processes.length).toBe(a.processes.length);
    expect(m.caps.length).toBe(a.caps.length);
    const key = (x: typeof m, c: (typeof m.calls)[number]) =>
      `${c.title} ${c.questionId} ${c.params} ${x.processes.find((p) => p.id === c.clientProcess)!.label.replace(/ \[.*/, '')} ${c.parent === null ? '-' : x.calls.find((p) => p.id === c.parent)!.title}`;
    expect(m.calls.map((c) => key(m, c)).sort()).toEqual(a.calls.map((c) => key(a, c)).sort());
    // Sessions that are not the same connections stay apart: merging with another capture's keeps both.
    const other = join(dir, 'echo.sqlite');
    expect(runCli(['import', join(CAP, 'echo.client.log'), join(CAP, 'echo.node.log'), '--db', other]).code).toBe(0);
    const both = join(dir, 'both.sqlite');
    expect(runCli(['merge', near, far, other, '--db', both]).code).toBe(0);
    expect(rows(both).calls.length).toBe(a.calls.length + rows(other).calls.length);
  }, 60000);
});
