// A clean stop whose recording worker cannot finish (a test hook makes it stop
// reading for good after a number of ring records, as a worker that gets no CPU
// would): the proxy's own thread ends the database (src/store/takeover.ts), the
// proxy exits 0, and the session reads as any: ended, the gaps and skipped bytes
// adding up to what was dropped, the relay's closes written, `chains` and
// `query` working.

import { it, expect, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { runCli } from '../cli/run.js';
import { captureFrames, startEcho, startProxy, pump } from '../../src/soak/traffic.js';

const dir = mkdtempSync(join(tmpdir(), 'ipt-takeover-e2e-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it('a stop whose worker never finishes still ends the database: gaps of the true size, closes, meta', async () => {
  const echoPath = join(dir, 'echo.sock');
  const echo = await startEcho(echoPath);
  const proxyPath = join(dir, 'proxy.sock');
  const db = join(dir, 'cut.sqlite');
  const log = join(dir, 'cut.log');
  process.env.IPC_TRACE_TEST_WORKER_STALL = '300';
  process.env.IPC_TRACE_STOP_TIMES = '1';
  let p: Awaited<ReturnType<typeof startProxy>>;
  try {
    p = await startProxy(proxyPath, echoPath, db, ['--log', log]);
  } finally {
    delete process.env.IPC_TRACE_TEST_WORKER_STALL;
    delete process.env.IPC_TRACE_STOP_TIMES;
  }
  try {
    const frames = captureFrames('template-01');
    let stop = false;
    // One connection open until the proxy stops (its open is the ring's first record: committed); short ones closing meanwhile.
    const long = pump(proxyPath, frames, { until: () => stop }).catch(() => null);
    await sleep(200);
    const short = await Promise.all([1, 2, 3].map(() => pump(proxyPath, frames, { count: 40 })));
    await sleep(200);
    p.proc.kill('SIGTERM');
    const exit = await p.exited;
    stop = true;
    const l = await long;
    echo.close();
    const stderr = p.stderr();
    expect(exit.code, stderr).toBe(0);
    expect(stderr).toContain('its end was written without it');
    // Where the time went (printed: timing is not asserted).
    console.log(/stopped in .*/.exec(stderr)?.[0]);

    const d = new Database(db, { readonly: true });
    const meta = Object.fromEntries((d.prepare('SELECT key, value FROM meta').all() as { key: string; value: string }[]).map((r) => [r.key, r.value]));
    const chunkBytes = d.prepare('SELECT coalesce(sum(size), 0) FROM chunk_blocks').pluck().get() as number;
    const gapBytes = d.prepare("SELECT coalesce(sum(bytes), 0) FROM stream_events WHERE kind IN ('gap', 'gap+')").pluck().get() as number;
    const first = d.prepare('SELECT closed, close_reason AS reason FROM connections WHERE id = 1').get() as { closed: number | null; reason: string | null };
    const statuses = d.prepare('SELECT status, retired, count(*) AS n FROM calls WHERE conn = 1 GROUP BY 1, 2').all() as { status: string; retired: number; n: number }[];
    const pendingOnClosed = d.prepare('SELECT count(*) FROM calls c JOIN connections k ON k.id = c.conn WHERE k.closed IS NOT NULL AND (c.status = ? OR c.retired = 0)').pluck().get('pending') as number;
    d.close();

    expect(meta.ended).toBeDefined();
    expect(meta.recording_cut).toContain('its end was written without it');
    const dropped = Number(meta.dropped_bytes);
    expect(gapBytes).toBeGreaterThan(0);
    expect(dropped).toBe(gapBytes + Number(meta.skipped_bytes ?? 0));
    // Every byte relayed is recorded or dropped: each echoed byte crossed the relay twice.
    const sent = short.reduce((a, r) => a + r.sent, l?.sent ?? 0);
    const received = short.reduce((a, r) => a + r.received, l?.received ?? 0);
    expect(chunkBytes + dropped).toBeGreaterThanOrEqual(2 * received);
    expect(chunkBytes + dropped).toBeLessThanOrEqual(2 * sent);
    // The long connection: closed by the proxy's stop, written by the takeover; its pending calls disconnected.
    expect(first.closed).not.toBeNull();
    expect(first.reason).toBe('proxy stopped');
    expect(statuses.some((s) => s.status === 'disconnected')).toBe(true);
    expect(statuses.every((s) => s.retired === 1 && s.status !== 'pending')).toBe(true);
    expect(pendingOnClosed).toBe(0);
    expect(existsSync(`${db}-reserve`)).toBe(false);
    expect(readFileSync(log, 'utf8').trimEnd().split('\n').pop()).toMatch(/ IPC wire recording cut: .*its end was written without it/);

    const chains = runCli(['chains', db]);
    expect(chains.code, chains.stderr).toBe(0);
    const q = runCli(['query', db, 'SELECT count(*) AS n FROM v_outstanding']);
    expect(q.code, q.stderr).toBe(0);
    const replay = runCli(['replay', db, '--no-tui']);
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.stdout).toContain('recorder gap');
  } finally {
    p.proc.kill('SIGKILL');
    echo.close();
  }
}, 30000);
