// The recorder at its limits: a stop that runs out of time records the rest as
// gaps of their true size; storage that fails (a file size limit standing in
// for a full disk) is reported once while the relay goes on; a killed proxy
// leaves a readable database holding an exact prefix of the traffic.

import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ROOT } from '../helpers.js';
import { SessionReader } from '../../src/store/reader.js';
import { runCli } from '../cli/run.js';
import { captureFrames, startEcho, startProxy, pump } from '../../src/soak/traffic.js';

const dir = mkdtempSync(join(tmpdir(), 'ipt-lim-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const frames = captureFrames();

interface Totals {
  chunks: Record<string, number>;
  gaps: Record<string, number>;
  meta: Record<string, string>;
}

function totals(db: string): Totals {
  const d = new Database(db, { readonly: true });
  const chunks: Record<string, number> = {};
  const gaps: Record<string, number> = {};
  for (const r of d.prepare('SELECT conn, dir, sum(size) AS n FROM chunk_blocks GROUP BY conn, dir').all() as { conn: number; dir: string; n: number }[]) chunks[`${r.conn}${r.dir}`] = r.n;
  for (const r of d.prepare("SELECT conn, dir, sum(bytes) AS n FROM stream_events WHERE kind IN ('gap', 'gap+') GROUP BY conn, dir").all() as { conn: number; dir: string; n: number }[]) gaps[`${r.conn}${r.dir}`] = r.n;
  const meta = Object.fromEntries((d.prepare('SELECT key, value FROM meta').all() as { key: string; value: string }[]).map((r) => [r.key, r.value]));
  d.close();
  return { chunks, gaps, meta };
}

describe('recorder limits', () => {
  it('a stop out of time records what it could not decode as gaps of their true size, and ends the session', async () => {
    const { RecordingHandle } = (await import(join(ROOT, 'dist/cli/recording.js'))) as typeof import('../../src/cli/recording.js');
    const db = join(dir, 'stop.sqlite');
    const h = await RecordingHandle.start({ db, schemaFiles: [], importDirs: [], maxChars: Infinity, command: 'test', printLog: false });
    const c = h.client;
    const sent: Record<string, number> = { '1>': 0, '1<': 0, '2>': 0 };
    const t = Date.now();
    c.open({ id: 1, time: t, label: 'one' });
    c.open({ id: 2, time: t, label: 'two' });
    // A backlog far larger than the worker decodes before the (already passed) deadline.
    for (let i = 0; i < 60000; i++) {
      const f = frames[i % frames.length]!;
      const dir = i % 2 ? '<' : '>';
      c.data(1, dir, f, t);
      sent[`1${dir}`] += f.length;
    }
    c.data(2, '>', frames[0]!, t);
    sent['2>'] += frames[0]!.length;
    c.close(1, t, null);
    await h.finish(0);
    const r = totals(db);
    for (const k of Object.keys(sent)) expect((r.chunks[k] ?? 0) + (r.gaps[k] ?? 0), k).toBe(sent[k]);
    const gapTotal = Object.values(r.gaps).reduce((a, b) => a + b, 0);
    expect(gapTotal).toBeGreaterThan(0);
    expect(Number(r.meta.dropped_bytes)).toBe(gapTotal);
    expect(r.meta.ended).toBeDefined();
  });

  it('a stop whose database must be closed at once stops decoding before its drain deadline: the rest as gaps of their true size, the session ended', async () => {
    const { RecordingHandle } = (await import(join(ROOT, 'dist/cli/recording.js'))) as typeof import('../../src/cli/recording.js');
    const db = join(dir, 'closeby.sqlite');
    const h = await RecordingHandle.start({ db, schemaFiles: [], importDirs: [], maxChars: Infinity, command: 'test', printLog: false });
    const c = h.client;
    const sent: Record<string, number> = { '1>': 0, '1<': 0 };
    const t = Date.now();
    c.open({ id: 1, time: t, label: 'one' });
    for (let i = 0; i < 60000; i++) {
      const f = frames[i % frames.length]!;
      const dir = i % 2 ? '<' : '>';
      c.data(1, dir, f, t);
      sent[`1${dir}`] += f.length;
    }
    c.close(1, t, null);
    // A minute to decode, but the database is due now: what its end costs leaves no time for decoding.
    const r0 = await h.finish(60000, 0);
    expect(r0.phases).not.toBeNull();
    const r = totals(db);
    const gapTotal = Object.values(r.gaps).reduce((a, b) => a + b, 0);
    // A worker that had not even read the connection's open by then skips it whole (counted with its bytes).
    const skipped = Number(r.meta.skipped_bytes ?? 0);
    if (skipped === 0) for (const k of Object.keys(sent)) expect((r.chunks[k] ?? 0) + (r.gaps[k] ?? 0), k).toBe(sent[k]);
    else expect(skipped).toBe(sent['1>']! + sent['1<']!);
    expect(gapTotal + skipped).toBeGreaterThan(0);
    expect(Number(r.meta.dropped_bytes)).toBe(gapTotal + skipped);
    expect(r.meta.ended).toBeDefined();
  });

  it('storage that fails is reported once, the relay goes on byte for byte, and the database stays readable', async () => {
    const echo = join(dir, 'e1.sock');
    const server = await startEcho(echo);
    const db = join(dir, 'full.sqlite');
    // A 1 MiB file size limit (sh counts 512-byte blocks; SIGXFSZ ignored, so writes fail with EFBIG) stands in for a full disk.
    const p = await startProxy(join(dir, 'p1.sock'), echo, db, [], "trap '' XFSZ; ulimit -f 2048");
    const results = await Promise.all([0, 1, 2, 3].map(() => pump(join(dir, 'p1.sock'), frames, { count: 20000 })));
    for (const r of results) expect(r.exact).toBe(true);
    expect(results.reduce((a, r) => a + r.sent, 0)).toBeGreaterThan(4 << 20);
    p.proc.kill('SIGTERM');
    expect(await p.exited).toEqual({ code: 0, signal: null });
    server.close();
    const lines = p.stderr().split('\n').filter((l) => l.includes('recording stopped'));
    expect(lines).toHaveLength(1);
    // The database is still a readable session (how much got in before the limit depends on timing;
    // the soak suite's disk-full run on a real tmpfs checks recording_error and ended in meta).
    const r = totals(db);
    expect(r.meta.schema_version).toBeDefined();
  });

  it('a killed proxy leaves a readable database holding an exact prefix of the traffic', async () => {
    const echo = join(dir, 'e2.sock');
    const server = await startEcho(echo);
    const db = join(dir, 'kill.sqlite');
    const p = await startProxy(join(dir, 'p2.sock'), echo, db);
    let stop = false;
    const run = pump(join(dir, 'p2.sock'), frames, { until: () => stop, window: 64 * 1024 }).catch(() => null);
    await new Promise((r) => setTimeout(r, 1500));
    p.proc.kill('SIGKILL');
    stop = true;
    await p.exited;
    await run;
    server.close();
    const reader = SessionReader.open(db);
    const sentPrefix = Buffer.concat(Array.from({ length: 200 }, (_, i) => frames[i % frames.length]!));
    const got = Buffer.concat([...reader.stream()].flatMap((it) => (it.k === 'data' && it.dir === '>' ? [it.bytes] : [])));
    reader.close();
    expect(got.length).toBeGreaterThan(0);
    const n = Math.min(got.length, sentPrefix.length);
    expect(got.subarray(0, n).equals(sentPrefix.subarray(0, n))).toBe(true);
  });

  it('a second SIGTERM while stopping cuts the drain short and the database still ends, its drops adding up', async () => {
    const echo = join(dir, 'e3.sock');
    const server = await startEcho(echo);
    const db = join(dir, 'twice.sqlite');
    const p = await startProxy(join(dir, 'p3.sock'), echo, db);
    let stop = false;
    const runs = Array.from({ length: 8 }, () => pump(join(dir, 'p3.sock'), frames, { until: () => stop }).catch(() => null));
    await new Promise((r) => setTimeout(r, 1000));
    p.proc.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 20));
    p.proc.kill('SIGTERM');
    expect(await p.exited).toEqual({ code: 0, signal: null });
    stop = true;
    await Promise.all(runs);
    server.close();
    const r = totals(db);
    expect(r.meta.ended).toBeDefined();
    const gaps = Object.values(r.gaps).reduce((a, b) => a + b, 0);
    expect(Number(r.meta.dropped_bytes ?? 0)).toBe(gaps + Number(r.meta.skipped_bytes ?? 0));
  });

  it('a session with gaps replays to the same log as it printed live, and its gap rows add up', async () => {
    const { RecordingHandle } = (await import(join(ROOT, 'dist/cli/recording.js'))) as typeof import('../../src/cli/recording.js');
    const db = join(dir, 'gaps.sqlite');
    const log = join(dir, 'gaps.log');
    // A small ring fills at once: both directions of #1 get a gap that keeps growing, #2 is skipped.
    const h = await RecordingHandle.start({ db, log, schemaFiles: [], importDirs: [], maxChars: Infinity, command: 'test' }, { ringBytes: 64 * 1024 });
    const c = h.client;
    let t = Date.now() - 10_000;
    c.open({ id: 1, time: t, label: 'one' });
    let sent = 0;
    for (let i = 0; i < 3000; i++) {
      const f = frames[i % frames.length]!;
      c.data(1, i % 2 ? '<' : '>', f, (t += 1));
      sent += f.length;
      if (i === 1500) c.open({ id: 2, time: t, label: 'two' });
      if (i % 300 === 0) await new Promise((r) => setTimeout(r, 5)); // the worker reads meanwhile
    }
    c.close(1, (t += 1), null);
    await h.finish();
    const r = totals(db);
    const recorded = Object.values(r.chunks).reduce((a, b) => a + b, 0);
    const gaps = Object.values(r.gaps).reduce((a, b) => a + b, 0);
    expect(gaps).toBeGreaterThan(0);
    expect(recorded + gaps).toBe(sent);
    expect(Number(r.meta.dropped_bytes)).toBe(gaps);
    const d = new Database(db, { readonly: true });
    expect(d.prepare("SELECT count(*) FROM stream_events WHERE kind = 'gap+'").pluck().get()).toBeGreaterThan(0);
    d.close();
    const replayed = runCli(['replay', db]);
    expect(replayed.code).toBe(0);
    expect(replayed.bytes).toBe(readFileSync(log, 'latin1'));
  });
});
