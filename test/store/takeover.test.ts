// Ending a session database without its recording worker (src/store/takeover.ts),
// on a real database: what the worker committed stays; what the relay handed
// beyond it becomes gap rows of the true size ('gap+' where the direction had a
// gap); the relay's closes are written with the calls and capabilities as
// SessionModel.close leaves them; a connection never committed is skipped; meta
// ends the session and says why. And the worker's side of the fence: once the
// ring says TAKEN, its transactions roll back.

import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Recording } from '../../src/cli/recording.js';
import { Takeover } from '../../src/store/takeover.js';
import { createRing, RingReader, RingWriter, TakenOver } from '../../src/session/ring.js';
import type { RecordItem, RecordingCut } from '../../src/session/recorder.js';
import { captureFrames } from '../../src/soak/traffic.js';
import { SessionReader } from '../../src/store/reader.js';

const dir = mkdtempSync(join(tmpdir(), 'ipt-takeover-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Calls from the client side and nothing back: every call stays pending.
const calls = captureFrames('template-01', '>');
const sum = (fs: Uint8Array[]) => fs.reduce((a, f) => a + f.length, 0);

function record(name: string): { rec: Recording; db: string; seq: () => number } {
  const db = join(dir, name);
  const rec = new Recording({ db, schemaFiles: [], importDirs: [], maxChars: Infinity, command: 'test', printLog: false });
  let seq = 0;
  // As the worker publishes it (record-worker.ts): the highest seq of each transaction, before its commit.
  rec.store.beforeCommit = (s) => (seq = Math.max(seq, s));
  return { rec, db, seq: () => seq };
}

const data = (id: number, dir: '>' | '<', frames: Uint8Array[], t: number): RecordItem[] => frames.map((bytes, i) => ({ k: 'data', id, dir, bytes, time: t + i }));

function rows<T>(db: string, sql: string, ...args: unknown[]): T[] {
  const d = new Database(db, { readonly: true });
  try {
    return d.prepare(sql).all(...args) as T[];
  } finally {
    d.close();
  }
}

describe('takeover', () => {
  it('records what the worker had not committed as gaps of their true size, writes the closes and ends the session', () => {
    const { rec, db, seq } = record('cut.sqlite');
    const t = 1_800_000_000_000;
    const f1 = calls.slice(0, 6);
    const f2 = calls.slice(6, 12);
    const f3 = calls.slice(12, 16);
    rec.process([
      { k: 'open', info: { id: 1, time: t, label: 'one' } },
      { k: 'open', info: { id: 2, time: t, label: 'two' } },
      { k: 'open', info: { id: 3, time: t, label: 'three' } },
      ...data(1, '>', f1, t + 1),
      ...data(2, '>', f2, t + 1),
      { k: 'gap', id: 2, dir: '<', bytes: 700, time: t + 20 },
      ...data(3, '>', f3, t + 1),
      { k: 'close', id: 3, time: t + 30, reason: null },
    ]);
    const committedSeq = seq();
    const pending1 = rows<{ n: number }>(db, "SELECT count(*) AS n FROM calls WHERE conn = 1 AND status = 'pending'")[0]!.n;
    expect(pending1).toBeGreaterThan(0);
    const caps1 = rows<{ n: number }>(db, 'SELECT count(*) AS n FROM capabilities WHERE conn = 1 AND released IS NULL')[0]!.n;
    // The worker's thread ends without its end (its connection closes; nothing more is committed).
    rec.store.db.close();

    const extra1 = 5000; // handed on connection 1 after the worker's last commit
    const extra2 = 300; // dropped on 2's '<' after its gap: a 'gap+'
    const skipped4 = 4321; // connection 4: its open never committed
    const cut: RecordingCut = {
      // The relay skipped one connection (111 bytes), the worker another whose close it committed (111 bytes).
      committed: { records: 0, seq: committedSeq, skippedConnections: 1, skippedBytes: 111 },
      conns: [
        { id: 3, handed: [sum(f3), 0], closed: { time: t + 30, reason: null } },
        { id: 1, handed: [sum(f1) + extra1, 0], closed: { time: t + 40, reason: 'client: write EPIPE' } },
        { id: 4, handed: [skipped4, 0], closed: { time: t + 41, reason: null } },
        { id: 2, handed: [sum(f2), 700 + extra2], closed: null },
      ],
      tracked: true,
      handedBytes: sum(f1) + extra1 + sum(f2) + 700 + extra2 + sum(f3) + skipped4 + 222,
      skippedConnections: 1 + 1,
      skippedBytes: 222,
    };
    const tk = Takeover.open(db);
    const r = tk.end(() => cut, 'test: the worker was stopped', 1000);
    tk.close(true);
    expect(r).toMatchObject({ alreadyEnded: false, gaps: 2, gapBytes: extra1 + extra2, closed: 1, disconnected: pending1, skipped: 1 });

    // Chunks and gaps of each direction add up to what the relay handed.
    const held = new Map<string, number>();
    for (const x of rows<{ k: string; n: number }>(db, "SELECT conn || dir AS k, sum(size) AS n FROM chunk_blocks GROUP BY conn, dir UNION ALL SELECT conn || dir, sum(bytes) FROM stream_events WHERE kind IN ('gap', 'gap+') GROUP BY conn, dir")) held.set(x.k, (held.get(x.k) ?? 0) + x.n);
    for (const c of cut.conns.filter((c) => c.id !== 4)) {
      expect(held.get(`${c.id}>`) ?? 0, `${c.id}>`).toBe(c.handed[0]);
      expect(held.get(`${c.id}<`) ?? 0, `${c.id}<`).toBe(c.handed[1]);
    }
    const events = rows<{ seq: number; conn: number; dir: string; kind: string; bytes: number }>(db, "SELECT seq, conn, dir, kind, bytes FROM stream_events WHERE kind IN ('gap', 'gap+') ORDER BY seq");
    expect(events.map((e) => [e.conn, e.dir, e.kind, e.bytes])).toEqual([
      [2, '<', 'gap', 700],
      [1, '>', 'gap', extra1],
      [2, '<', 'gap+', extra2],
    ]);
    // The new rows come after everything the worker committed.
    for (const e of events.slice(1)) expect(e.seq).toBeGreaterThan(committedSeq);
    const errs = rows<{ conn: number; dir: string | null; kind: string; message: string }>(db, 'SELECT conn, dir, kind, message FROM errors ORDER BY id');
    expect(errs).toEqual([
      { conn: 2, dir: '<', kind: 'gap', message: `recorder fell behind: ${700 + extra2} bytes relayed but not recorded` },
      { conn: 1, dir: '>', kind: 'gap', message: `recorder fell behind: ${extra1} bytes relayed but not recorded` },
      { conn: 1, dir: null, kind: 'transport', message: 'client: write EPIPE' },
    ]);

    const conns = rows<{ id: number; closed: number | null; reason: string | null; seq: number | null }>(db, 'SELECT id, closed, close_reason AS reason, seq_close AS seq FROM connections ORDER BY id');
    expect(conns.map((c) => [c.id, c.closed, c.reason])).toEqual([
      [1, t + 40, 'client: write EPIPE'],
      [2, null, null],
      [3, t + 30, null],
    ]);
    expect(conns[0]!.seq).toBeGreaterThan(events[1]!.seq);
    // Connection 1's calls as a close leaves them; 2 is still open, its calls pending.
    const status = (conn: number) => rows<{ status: string; retired: number; n: number }>(db, 'SELECT status, retired, count(*) AS n FROM calls WHERE conn = ? GROUP BY 1, 2', conn);
    expect(status(1)).toEqual([{ status: 'disconnected', retired: 1, n: pending1 }]);
    expect(status(2).every((s) => s.status === 'pending' && s.retired === 0)).toBe(true);
    expect(rows<{ n: number }>(db, 'SELECT count(*) AS n FROM capabilities WHERE conn = 1 AND released = ?', t + 40)[0]!.n).toBe(caps1);

    const meta = Object.fromEntries(rows<{ key: string; value: string }>(db, 'SELECT key, value FROM meta').map((m) => [m.key, m.value]));
    expect(meta.ended).toBeDefined();
    expect(meta.recording_cut).toMatch(/^\d{4}-.*Z test: the worker was stopped$/);
    expect(meta.skipped_connections).toBe('3');
    expect(Number(meta.skipped_bytes)).toBe(222 + skipped4);
    const gapBytes = events.reduce((a, e) => a + e.bytes, 0);
    expect(Number(meta.dropped_bytes)).toBe(gapBytes + Number(meta.skipped_bytes));
    // A finished session: one plain file, readable as any.
    expect(rows<{ journal_mode: string }>(db, 'PRAGMA journal_mode')[0]!.journal_mode).toBe('delete');
    const reader = SessionReader.open(db);
    expect(reader.query('SELECT DISTINCT conn FROM v_outstanding ORDER BY conn')).toEqual([{ conn: 2 }]);
    expect(reader.gapBytes()).toBe(gapBytes);
    reader.close();
  });

  it('writes nothing when the worker had committed its end', () => {
    const { rec, db } = record('ended.sqlite');
    rec.process([{ k: 'open', info: { id: 1, time: 1, label: 'one' } }, ...data(1, '>', calls.slice(0, 3), 2)]);
    rec.finish(0);
    const before = rows<{ key: string; value: string }>(db, 'SELECT key, value FROM meta ORDER BY key');
    const tk = Takeover.open(db);
    const r = tk.end(() => ({ committed: { records: 0, seq: 0, skippedConnections: 0, skippedBytes: 0 }, conns: [{ id: 1, handed: [99999, 0], closed: { time: 5, reason: null } }], tracked: true, handedBytes: 99999, skippedConnections: 0, skippedBytes: 0 }), 'test', 1000);
    tk.close(true);
    expect(r.alreadyEnded).toBe(true);
    expect(rows(db, 'SELECT key, value FROM meta ORDER BY key')).toEqual(before);
    expect(rows(db, 'SELECT * FROM stream_events')).toEqual([]);
  });

  it("once the ring says TAKEN, the worker's transactions roll back", () => {
    const { rec, db } = record('fence.sqlite');
    const ring = createRing(1024);
    const reader = new RingReader(ring);
    rec.store.beforeCommit = (s) => reader.beforeCommit(s);
    rec.process([{ k: 'open', info: { id: 1, time: 1, label: 'one' } }]);
    new RingWriter(ring).takeOver();
    expect(() => rec.process([{ k: 'open', info: { id: 2, time: 2, label: 'two' } }])).toThrow(TakenOver);
    expect(() => rec.store.setMeta('ended', 'x')).toThrow(TakenOver);
    rec.store.db.close();
    expect(rows<{ id: number }>(db, 'SELECT id FROM connections')).toEqual([{ id: 1 }]);
    expect(rows(db, "SELECT value FROM meta WHERE key = 'ended'")).toEqual([]);
    // What it published before each commit bounds every committed seq.
    expect(new RingWriter(ring).committed().seq).toBeGreaterThanOrEqual(1);
  });
});
