// Ending a session database without its recording worker: a clean stop whose
// worker did not finish in time (it runs niced, and load in the proxy's own
// session can leave it almost no CPU; src/cli/recording.ts decides when).
// The relay's thread, idle once the relay has stopped, opens the database,
// takes the write lock once the worker can commit no more (the ring's TAKEN
// flag: src/session/ring.ts) and writes the end in one transaction, as the
// worker would have:
//   * what the worker had not committed becomes gaps with their true sizes:
//     per connection and direction, the bytes the relay handed to recording
//     minus what the database holds (chunks, gap and gap+ rows), as a 'gap'
//     row with its errors row, or 'gap+' when the direction has a gap already
//     (Store.gap / growGap: the same rows);
//   * connections the relay closed are closed with its time and reason
//     (Store.close), and their calls and capabilities as SessionModel.close
//     leaves them (statusAtClose, retired, released at the close's time:
//     closeRows below); a connection whose open row was never committed is
//     counted as skipped, with its bytes;
//   * meta: `ended`, `dropped_bytes` (every byte handed to recording minus
//     the chunks the database holds), the skipped counts and
//     `recording_cut` (when, and why the end was written this way).
// New rows get seqs after the highest the worker published before its
// commits. If the worker had committed its own end (`ended`), nothing is
// written.

import Database from 'better-sqlite3';
import type { Dir } from '../decoder/messages.js';
import type { RecordingCut } from '../session/recorder.js';
import { statusAtClose } from '../session/model.js';
import type { CallStatus } from '../session/records.js';
import { Store } from './store.js';

type DB = Database.Database;

/** What a takeover wrote. */
export interface TakeoverReport {
  /** The worker had committed its own end: nothing was written. */
  alreadyEnded: boolean;
  /** 'gap' and 'gap+' rows written, and their bytes. */
  gaps: number;
  gapBytes: number;
  /** Connections closed, and their calls interrupted (pending ones). */
  closed: number;
  disconnected: number;
  /** Connections counted as skipped (their open row was never committed). */
  skipped: number;
  /** meta.dropped_bytes as written. */
  droppedBytes: number;
  /** ms waiting for the write lock (the worker's transaction rolled back), and writing. */
  lockMs: number;
  writeMs: number;
}

const DIRS: readonly Dir[] = ['>', '<'];
const now = () => performance.timeOrigin + performance.now();

export class Takeover {
  private constructor(private readonly db: DB) {}

  /**
   * Opens the session database. Open it before the worker is stopped: its
   * connection then never is the last one to close (which folds the WAL into
   * the file, on the worker's slow thread).
   */
  static open(path: string): Takeover {
    return new Takeover(new Database(path, { fileMustExist: true }));
  }

  /**
   * Ends the session in one transaction, waiting up to `waitMs` for the write
   * lock (the worker's transaction, if one is open, is rolled back when its
   * thread ends). `cut` is asked once the lock is held: the worker can
   * commit no more, so what it published is final. `why` goes to
   * meta.recording_cut after the time.
   */
  end(cut: () => RecordingCut, why: string, waitMs: number): TakeoverReport {
    const db = this.db;
    const t0 = now();
    db.pragma(`busy_timeout = ${Math.max(1, Math.round(waitMs))}`);
    db.exec('BEGIN IMMEDIATE');
    const t1 = now();
    try {
      const r = this.write(cut(), why);
      db.exec('COMMIT');
      return { ...r, lockMs: t1 - t0, writeMs: now() - t1 };
    } catch (e) {
      if (db.inTransaction) db.exec('ROLLBACK');
      throw e;
    }
  }

  private write(cut: RecordingCut, why: string): Omit<TakeoverReport, 'lockMs' | 'writeMs'> {
    const db = this.db;
    const r = { alreadyEnded: false, gaps: 0, gapBytes: 0, closed: 0, disconnected: 0, skipped: 0, droppedBytes: 0 };
    if (db.prepare("SELECT value FROM meta WHERE key = 'ended'").pluck().get() !== undefined) return { ...r, alreadyEnded: true };
    const store = Store.resume(db, cut.committed.seq);
    const connRow = db.prepare('SELECT seq_open AS seqOpen, opened, closed FROM connections WHERE id = ?');
    const chunksOf = db.prepare('SELECT dir, sum(size) AS bytes, max(last_time) AS last FROM chunk_blocks WHERE conn = ? GROUP BY dir');
    let skippedBytes = 0;
    // The recorded connections among those the relay still knows, with what the database holds of them.
    const conns: { c: RecordingCut['conns'][number]; opened: number; closed: boolean; bytes: Map<Dir, number>; last: Map<Dir, number> }[] = [];
    let fromSeq = Infinity;
    for (const c of cut.conns) {
      const row = connRow.get(c.id) as { seqOpen: number; opened: number; closed: number | null } | undefined;
      if (!row) {
        r.skipped++;
        skippedBytes += c.handed[0] + c.handed[1];
        continue;
      }
      fromSeq = Math.min(fromSeq, row.seqOpen);
      const bytes = new Map<Dir, number>();
      const last = new Map<Dir, number>();
      for (const b of chunksOf.all(c.id) as { dir: Dir; bytes: number; last: number }[]) {
        bytes.set(b.dir, b.bytes);
        last.set(b.dir, b.last);
      }
      conns.push({ c, opened: row.opened, closed: row.closed !== null, bytes, last });
    }
    // Gaps recorded so far: events of these connections come after the oldest one's open.
    const gapped = new Map<string, { bytes: number; last: number }>();
    if (conns.length > 0) {
      const ids = new Set(conns.map((x) => x.c.id));
      const rows = db.prepare("SELECT conn, dir, bytes, time FROM stream_events WHERE seq > ? AND kind IN ('gap', 'gap+')").all(fromSeq) as { conn: number; dir: Dir; bytes: number; time: number }[];
      for (const g of rows) {
        if (!ids.has(g.conn)) continue;
        const k = `${g.conn}${g.dir}`;
        const e = gapped.get(k);
        gapped.set(k, { bytes: (e?.bytes ?? 0) + g.bytes, last: Math.max(e?.last ?? 0, g.time) });
      }
    }
    let gapErrors: Map<string, number | bigint> | null = null;
    const closing = new Map<number, number>();
    for (const x of conns) {
      const id = x.c.id;
      for (const [i, dir] of DIRS.entries()) {
        const k = `${id}${dir}`;
        const g = gapped.get(k);
        const missing = x.c.handed[i]! - (x.bytes.get(dir) ?? 0) - (g?.bytes ?? 0);
        if (missing <= 0) continue;
        // In time, the gap starts where the direction's record stops.
        const time = Math.max(x.opened, x.last.get(dir) ?? 0, g?.last ?? 0);
        // A direction with a gap row already grows it ('gap+'), as the store does while recording.
        if (g) gapErrors ??= new Map((db.prepare("SELECT id, conn, dir FROM errors WHERE kind = 'gap'").all() as { id: number; conn: number; dir: Dir }[]).map((e) => [`${e.conn}${e.dir}`, e.id]));
        const err = g ? gapErrors!.get(k) : undefined;
        if (g && err !== undefined) {
          store.knownGap(id, dir, err, g.bytes);
          store.growGap(id, dir, missing, time);
        } else store.gap({ id }, dir, missing, time);
        r.gaps++;
        r.gapBytes += missing;
      }
      if (x.c.closed && !x.closed) {
        store.close({ id }, x.c.closed.time, x.c.closed.reason);
        closing.set(id, x.c.closed.time);
        r.closed++;
      }
    }
    r.disconnected = this.closeRows(closing);
    const chunkBytes = db.prepare('SELECT coalesce(sum(size), 0) FROM chunk_blocks').pluck().get() as number;
    r.droppedBytes = Math.max(0, cut.handedBytes - chunkBytes);
    const skippedConnections = cut.skippedConnections + r.skipped;
    if (skippedConnections > 0) {
      store.setMeta('skipped_connections', String(skippedConnections));
      store.setMeta('skipped_bytes', String(cut.skippedBytes + skippedBytes));
    }
    if (r.droppedBytes > 0) store.setMeta('dropped_bytes', String(r.droppedBytes));
    const at = new Date().toISOString();
    store.setMeta('recording_cut', `${at} ${why}`);
    store.setMeta('ended', at);
    return r;
  }

  /**
   * The rows of closed connections' calls and capabilities as
   * SessionModel.close leaves them (src/session/model.ts, where the rule
   * lives): each call not yet retired gets statusAtClose and is retired; each
   * capability not released is released at the close's time. One pass over
   * each table (neither has an index on its connection). Returns how many
   * calls were interrupted.
   */
  private closeRows(closing: Map<number, number>): number {
    if (closing.size === 0) return 0;
    const db = this.db;
    let interrupted = 0;
    const setCall = db.prepare('UPDATE calls SET status = ?, retired = 1 WHERE id = ?');
    for (const c of db.prepare('SELECT id, conn, status FROM calls WHERE retired = 0').all() as { id: number; conn: number; status: CallStatus }[]) {
      if (!closing.has(c.conn)) continue;
      const status = statusAtClose(c.status);
      if (status !== c.status) interrupted++;
      setCall.run(status, c.id);
    }
    const release = db.prepare('UPDATE capabilities SET released = ? WHERE id = ?');
    for (const c of db.prepare('SELECT id, conn FROM capabilities WHERE released IS NULL').all() as { id: number; conn: number }[]) {
      const t = closing.get(c.conn);
      if (t !== undefined) release.run(t, c.id);
    }
    return interrupted;
  }

  /**
   * Closes the database. `alone`: no other connection has it open any more
   * (the worker's thread has ended), so the WAL is folded in and the file
   * left in rollback mode, as the worker leaves a finished session;
   * otherwise it stays a WAL database (readers handle it as one recorded
   * while it was killed).
   */
  close(alone: boolean): void {
    const db = this.db;
    try {
      if (alone) {
        db.pragma('wal_checkpoint(TRUNCATE)');
        db.pragma('journal_mode = DELETE');
      }
    } finally {
      db.close();
    }
  }
}
