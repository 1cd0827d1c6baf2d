// The session database: one SQLite file per session (WAL). As a pipeline
// sink it records raw chunks, stream events, decoded messages and errors;
// as a consumer of the change feed (`apply`) it writes the session model's
// rows each batch changed.

import type { Intervention } from '../intercept/engine.js';
import Database from 'better-sqlite3';
import { closeSync, existsSync, openSync, rmSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import type { DecodedMessage, Dir } from '../decoder/messages.js';
import type { Sink, ConnOpen } from '../session/pipeline.js';
import type { Update } from '../session/model.js';
import type { ConnRecord } from '../session/records.js';
import type { CallRow, ConnRow, Delta } from '../session/rows.js';
import { STORE_DDL, STORE_SCHEMA_VERSION } from './schema.js';
import { redactCall, secretByteRanges, zeroRange } from '../redact/redact.js';
import { BlockWriter, OpenStream } from './blocks.js';
import { UserError } from '../decoder/sources.js';

type DB = Database.Database;

interface CallRefs {
  p: number | null;
  r: number | null;
  callMsg: number | bigint | null;
  returnMsg: number | bigint | null;
  /** The call has no row yet (its Call was seen in this recording): a plain INSERT, cheaper than a REPLACE. */
  fresh: boolean;
}

const noRefs = (fresh: boolean): CallRefs => ({ p: null, r: null, callMsg: null, returnMsg: null, fresh });

/** Removes a session database and its WAL files (--force; a recording that could not start). */
export function removeSession(path: string): void {
  for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
}

/** Default file name: ipc-trace-YYYYMMDD-HHMMSS.sqlite (local time). */
export function defaultDbName(now = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `ipc-trace-${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}-${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}.sqlite`;
}

export function openExisting(path: string): DB {
  if (!existsSync(path)) throw new UserError(`no such session database: ${path}`);
  let db: DB;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
    const v = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get() as string | undefined;
    if (v === undefined) throw new Error('no schema version');
    if (Number(v) !== STORE_SCHEMA_VERSION) throw new UserError(`${path}: session database version ${v}, this ipc-trace reads version ${STORE_SCHEMA_VERSION}`);
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${path} is not an ipc-trace session database (${(e as Error).message})`);
  }
  return db;
}

const gapText = (bytes: number) => `recorder fell behind: ${bytes} bytes relayed but not recorded`;

/** SQLite's page cache of the recording connection (KiB). */
export const WRITER_CACHE_KB = 2048;

export class Store implements Sink {
  private seq = 0;
  /**
   * Called inside every transaction that writes, just before its commit, with
   * the highest seq it may hold; what it throws rolls the transaction back
   * (the recording worker: a stop ended the recording without it, see
   * src/store/takeover.ts).
   */
  beforeCommit: ((seq: number) => void) | null = null;
  /** The gap of each direction that has one: its errors row and size so far. */
  private readonly gaps = new Map<string, { err: number | bigint; bytes: number }>();
  /**
   * Gap rows written ahead (gapAhead) whose place in the stream is not
   * reached yet: the seq of each; `moved` once chunks of its direction were
   * written after it (the row then moves after them before the commit).
   */
  private readonly ahead = new Map<string, { seq: number; moved: boolean }>();
  private readonly ins: Record<string, Database.Statement>;
  /** Chunks, by connection and direction, in blocks (src/store/blocks.ts). */
  private readonly chunks: BlockWriter;
  /** Params and results texts, in blocks. */
  private readonly texts: BlockWriter;
  private readonly textStream: OpenStream;
  private textId = 0;
  /** Of the calls not yet retired: their text ids (a text is written once, a call row many times) and Call and Return message rows. */
  private readonly callRefs = new Map<number, CallRefs>();

  private constructor(readonly db: DB) {
    const p = (sql: string) => db.prepare(sql);
    const chunkBlock = p(
      'INSERT INTO chunk_blocks (seq, conn, dir, offset, size, n, last_time, z, data, pack, pack_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    const chunkGone = p('DELETE FROM chunk_blocks WHERE seq = ?');
    const chunkPack = p('INSERT INTO chunk_packs (data) VALUES (?)');
    this.chunks = new BlockWriter({
      withKeys: true,
      level: 1,
      pack: (data) => Number(chunkPack.run(data).lastInsertRowid),
      insert: (r, z, data, pack, packAt) => chunkBlock.run(r.key, r.conn, r.dir, r.offset, r.size, r.n, r.lastTime, z, data, pack, packAt),
      remove: (key) => chunkGone.run(key),
    });
    const textBlock = p('INSERT INTO text_blocks (id, n, z, data) VALUES (?, ?, ?, ?)');
    const textGone = p('DELETE FROM text_blocks WHERE id = ?');
    this.texts = new BlockWriter({
      withKeys: false,
      level: 6,
      insert: (r, z, data) => textBlock.run(r.key, r.n, z, data),
      remove: (key) => textGone.run(key),
    });
    this.textStream = this.texts.stream('texts');
    this.ins = {
      conn: p('INSERT INTO connections (id, seq_open, opened, label, client_name, server_name) VALUES (?, ?, ?, ?, ?, ?)'),
      connClose: p('UPDATE connections SET seq_close = ?, closed = ?, close_reason = ? WHERE id = ?'),
            event: p('INSERT INTO stream_events (seq, conn, dir, time, kind, bytes) VALUES (?, ?, ?, ?, ?, ?)'),
      message: p(
        `INSERT INTO message_rows (conn, n, dir, time, offset, size, type, question_id, answer_id, interface_id, method_id, name, exception, error, call_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      error: p('INSERT INTO errors (conn, dir, time, offset, kind, message) VALUES (?, ?, ?, ?, ?, ?)'),
      process: p('INSERT OR REPLACE INTO processes (id, label, exe, pid, requests) VALUES (?, ?, ?, ?, ?)'),
      thread: p('INSERT OR REPLACE INTO threads (id, process, role, name, from_thread, label, first_seen) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      cap: p(
        'INSERT OR REPLACE INTO capabilities (id, conn, owner, export_id, iface, label, thread, refs, promise, created, released) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      call: p(
        `INSERT OR REPLACE INTO calls (id, conn, dir, question_id, interface_id, method_id, iface, method, title, target, has_context,
           caller_thread, executor_thread, client_process, server_process, parent_call, depth, status, exception, request_no,
           sent, returned, cancel_requested, finished, params_ref, results_ref, call_msg, return_msg, retired)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      callNew: p(
        `INSERT INTO calls (id, conn, dir, question_id, interface_id, method_id, iface, method, title, target, has_context,
           caller_thread, executor_thread, client_process, server_process, parent_call, depth, status, exception, request_no,
           sent, returned, cancel_requested, finished, params_ref, results_ref, call_msg, return_msg, retired)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      callMsg: p('UPDATE calls SET call_msg = coalesce(?, call_msg), return_msg = coalesce(?, return_msg) WHERE id = ?'),
      connProcesses: p('UPDATE connections SET client_process = ?, server_process = ? WHERE id = ?'),
      processGone: p('DELETE FROM processes WHERE id = ?'),
      // A merged-away process's rows the model no longer holds (retired calls, closed connections).
      mergeCallsClient: p('UPDATE calls SET client_process = ? WHERE id >= ? AND client_process = ?'),
      mergeCallsServer: p('UPDATE calls SET server_process = ? WHERE id >= ? AND server_process = ?'),
      mergeThreads: p('UPDATE threads SET process = ? WHERE id >= ? AND process = ?'),
      mergeConnsClient: p('UPDATE connections SET client_process = ? WHERE id >= ? AND client_process = ?'),
      mergeConnsServer: p('UPDATE connections SET server_process = ? WHERE id >= ? AND server_process = ?'),
      meta: p('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)'),
      intervention: p('INSERT INTO interventions (seq, conn, dir, time, kind, held, question_id, title, text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)'),
      gapError: p('UPDATE errors SET message = ? WHERE id = ?'),
      eventSeq: p('UPDATE stream_events SET seq = ? WHERE seq = ?'),
    };
  }

  /** Creates a new session database (mode 0600); an existing file is never overwritten. */
  static create(path: string, meta: Record<string, string>, schemaSets: { source: string; cgr: Uint8Array }[]): Store {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o600);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new UserError(code === 'EEXIST' ? `${path} already exists: choose another --db` : `cannot create ${path}: ${code}`);
    }
    closeSync(fd);
    const db = new Database(path);
    // Free pages (tail rows replaced by blocks) are given back when the recording ends.
    db.pragma('auto_vacuum = INCREMENTAL');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    // The recorder appends: a page cache of 2 MB holds the pages it writes to (better-sqlite3's default is
    // 16 MB, most of it copies of pages written once; see docs/store.md, "Memory").
    db.pragma(`cache_size = -${WRITER_CACHE_KB}`);
    db.exec(STORE_DDL);
    const s = new Store(db);
    s.ins.meta!.run('schema_version', String(STORE_SCHEMA_VERSION));
    for (const [k, v] of Object.entries(meta)) s.ins.meta!.run(k, v);
    const ss = db.prepare('INSERT INTO schema_sets (source, cgr) VALUES (?, ?)');
    for (const set of schemaSets) ss.run(set.source, deflateSync(set.cgr, { level: 9 }));
    return s;
  }

  /**
   * Writes on in a session database another connection was recording (a stop
   * that ends it without the recording worker: src/store/takeover.ts); new
   * rows get seqs after `seq`.
   */
  static resume(db: DB, seq: number): Store {
    const s = new Store(db);
    s.seq = seq;
    return s;
  }

  /** A direction's gap recorded earlier (its errors row and bytes): later drops there are 'gap+' rows (growGap). */
  knownGap(conn: number, dir: Dir, err: number | bigint, bytes: number): void {
    this.gaps.set(`${conn}${dir}`, { err, bytes });
  }

  /** Runs `fn` (a batch of pipeline work) in one transaction, with the chunks and texts it brought. */
  batch(fn: () => void): void {
    this.db.transaction(() => {
      fn();
      this.moveAheadGaps();
      this.chunks.flush();
      this.texts.flush();
      this.beforeCommit?.(this.seq);
    })();
  }

  setMeta(key: string, value: string): void {
    const hook = this.beforeCommit;
    // Alone (not within a batch): a transaction of its own, so the hook sees it too (no chunks flushed: after a failed batch they may not fit).
    if (hook && !this.db.inTransaction) {
      this.db.transaction(() => {
        this.ins.meta!.run(key, value);
        hook(this.seq);
      })();
    } else this.ins.meta!.run(key, value);
  }

  open(conn: ConnRecord, info: ConnOpen): void {
    this.ins.conn!.run(conn.id, ++this.seq, conn.opened, conn.label, info.client ?? null, info.server ?? null);
  }

  chunk(conn: number, dir: Dir, bytes: Uint8Array, time: number): void {
    const s = this.chunkStream(conn, dir);
    this.chunks.add(s, ++this.seq, time, bytes);
    if (this.ahead.size > 0) {
      const a = this.ahead.get(`${conn}${dir}`);
      if (a) a.moved = true;
    }
    // record --redact: a tail that ends inside a frame is not deflated before the frame is decoded (and zeroed).
    if (this.redactFields) s.hold = true;
  }

  private chunkStream(conn: number, dir: Dir): OpenStream {
    const id = `${conn}${dir}`;
    const s = this.chunks.streams.get(id);
    if (s) return s;
    const n = this.chunks.stream(id);
    n.conn = conn;
    n.dir = dir;
    return n;
  }

  // ---- record --redact: secret fields' bytes stored zeroed ----

  private redactFields: ReadonlySet<string> | null = null;

  /** From now on the values of these fields are stored zeroed (chunks) and masked (messages, calls). */
  redact(fields: ReadonlySet<string>): void {
    this.redactFields = fields;
  }

  /** Zeroes a message's secret bytes in its direction's tail (not yet deflated: see chunk()). */
  private zeroSecrets(conn: number, d: DecodedMessage): void {
    const s = this.chunks.streams.get(`${conn}${d.dir}`);
    if (!s) return;
    const tail = [{ start: s.base, bytes: s.buf.subarray(0, s.len) }];
    for (const [a, b] of secretByteRanges(d, this.redactFields!)) {
      if (zeroRange(tail, a, b) && a < s.base + s.writtenBytes) s.dirty = true;
    }
    if (d.frame && d.offset + d.frame.bytes.length >= s.base + s.len) s.hold = false;
  }

  message(conn: ConnRecord, d: DecodedMessage, u: Update, time: number): void {
    const r = d.rpc;
    const call = u.kind === 'call' || u.kind === 'return' ? u.call : null;
    // No text: a Call's or Return's is its call's params or results, redacted there too (the messages view joins them).
    if (this.redactFields) this.zeroSecrets(conn.id, d);
    // A Call's or Return's interface, method and name are its call's (the messages view adds them).
    const t = r?.type;
    const fromCall = call !== null && (t === 'call' || t === 'return');
    const name = d.name ?? null;
    const row = this.ins.message!.run(
      conn.id,
      d.n ?? null,
      d.dir,
      time,
      d.offset,
      d.frame?.bytes.length ?? null,
      r ? (r.type === 'unimplemented' ? 'other' : r.type) : null,
      r?.type === 'call' || r?.type === 'bootstrap' ? r.questionId : null,
      r?.type === 'return' ? r.answerId : null,
      r?.type === 'call' && !fromCall ? r.interfaceId : null,
      r?.type === 'call' && !fromCall ? r.methodId : null,
      fromCall ? (name === null ? '' : name === `${call.title}${t === 'call' ? '$Params' : '$Results'}` ? null : name) : name,
      d.exception ?? null,
      d.error ?? null,
      call?.id ?? null,
    ).lastInsertRowid;
    if (fromCall) {
      // The call row says where its Call and Return are (no index on message_rows.call_id).
      let refs = this.callRefs.get(call.id);
      if (!refs && call.retired) this.ins.callMsg!.run(t === 'call' ? row : null, t === 'return' ? row : null, call.id);
      else {
        if (!refs) this.callRefs.set(call.id, (refs = noRefs(t === 'call')));
        if (t === 'call') refs.callMsg = row;
        else refs.returnMsg = row;
      }
    }
    if (u.kind === 'error') this.ins.error!.run(conn.id, d.dir, time, u.offset, u.framing ? 'framing' : 'decode', u.error);
  }

  end(conn: ConnRecord, dir: Dir, time: number): void {
    this.ins.event!.run(++this.seq, conn.id, dir, time, 'end', 0);
    this.chunks.close(`${conn.id}${dir}`);
  }

  close(conn: Pick<ConnRecord, 'id'>, time: number, reason: string | null): void {
    this.chunks.close(`${conn.id}>`);
    this.chunks.close(`${conn.id}<`);
    this.gaps.delete(`${conn.id}>`);
    this.gaps.delete(`${conn.id}<`);
    this.ahead.delete(`${conn.id}>`);
    this.ahead.delete(`${conn.id}<`);
    this.ins.connClose!.run(++this.seq, time, reason, conn.id);
    if (reason) this.ins.error!.run(conn.id, null, time, null, 'transport', reason);
  }

  /**
   * A direction's gap in its place in the stream. `accounted`: its rows were
   * written ahead (gapAhead) and are moved into place by gapReached.
   */
  gap(conn: Pick<ConnRecord, 'id'>, dir: Dir, bytes: number, time: number, accounted = false): void {
    if (accounted) return;
    // Bytes found missing before a gap written ahead (a stop recording the rest as gaps): they add to it.
    if (this.ahead.has(`${conn.id}${dir}`)) return this.growGap(conn.id, dir, bytes, time);
    this.ins.event!.run(++this.seq, conn.id, dir, time, 'gap', bytes);
    const err = this.ins.error!.run(conn.id, dir, time, null, 'gap', gapText(bytes)).lastInsertRowid;
    this.gaps.set(`${conn.id}${dir}`, { err, bytes });
  }

  /**
   * A gap (or its growth) written before the data ahead of it in the stream
   * is recorded: while recording is behind, what the relay dropped is in the
   * database within a batch, not after the backlog (a killed recorder then
   * loses only the backlog, not every byte dropped meanwhile). Its row moves
   * after any chunk of its direction written later (moveAheadGaps), so the
   * database is in stream order at every commit; gapReached puts it in its
   * place once the stream gets there.
   */
  gapAhead(conn: number, dir: Dir, bytes: number, time: number): void {
    const key = `${conn}${dir}`;
    if (this.gaps.has(key)) return this.growGap(conn, dir, bytes, time);
    this.gap({ id: conn }, dir, bytes, time);
    this.ahead.set(key, { seq: this.seq, moved: false });
  }

  /** The stream reached a gap written ahead (gapAhead): its row goes here, after everything written so far. */
  gapReached(conn: number, dir: Dir): void {
    const key = `${conn}${dir}`;
    const a = this.ahead.get(key);
    if (!a) return;
    this.ahead.delete(key);
    this.ins.eventSeq!.run(++this.seq, a.seq);
  }

  /** Gap rows written ahead move after the chunks of their direction written since. */
  private moveAheadGaps(): void {
    for (const a of this.ahead.values()) {
      if (!a.moved) continue;
      a.moved = false;
      this.ins.eventSeq!.run(++this.seq, a.seq);
      a.seq = this.seq;
    }
  }

  intervention(conn: ConnRecord, ev: Intervention): void {
    this.ins.intervention!.run(++this.seq, conn.id, ev.dir, ev.time, ev.kind, ev.held, ev.questionId, ev.title, ev.text);
  }

  /**
   * Bytes dropped later in a direction that has a gap (nothing after a gap is
   * recorded): a 'gap+' row, so the 'gap' row keeps the size the log printed
   * (replay prints it alike) and the rows of a direction add up to its loss.
   */
  growGap(conn: number, dir: Dir, bytes: number, time: number): void {
    const g = this.gaps.get(`${conn}${dir}`);
    if (!g) return;
    g.bytes += bytes;
    this.ins.event!.run(++this.seq, conn, dir, time, 'gap+', bytes);
    this.ins.gapError!.run(gapText(g.bytes), g.err);
  }

  /** Writes one batch's change feed (the rows the session model changed), in one transaction. */
  apply(d: Delta): void {
    this.batch(() => {
      for (const p of d.processes) this.ins.process!.run(p.id, p.label, p.exe, p.pid, p.requests);
      for (const t of d.threads) this.ins.thread!.run(t.id, t.process, t.role, t.name, t.from, t.label, t.firstSeen);
      for (const c of d.caps) {
        this.ins.cap!.run(c.id, c.conn, c.owner, c.exportId, c.iface, c.label, c.thread, c.refs, c.promise ? 1 : 0, c.created, c.released);
      }
      for (const c of d.calls) this.writeCall(c);
      for (const c of d.connections) this.ins.connProcesses!.run(c.clientProcess, c.serverProcess, c.id);
      // Last: rows this delta wrote from records the model has since let go still name the placeholder.
      for (const m of d.merges) {
        this.ins.processGone!.run(m.from);
        this.ins.mergeCallsClient!.run(m.into, m.since.call, m.from);
        this.ins.mergeCallsServer!.run(m.into, m.since.call, m.from);
        this.ins.mergeThreads!.run(m.into, m.since.thread, m.from);
        this.ins.mergeConnsClient!.run(m.into, m.since.conn, m.from);
        this.ins.mergeConnsServer!.run(m.into, m.since.conn, m.from);
      }
    });
  }

  /**
   * Writes connections that have no recorded stream (an imported log, a
   * merged session): their open and close in time order, after any recorded.
   */
  addConnections(conns: ConnRow[]): void {
    this.batch(() => {
      for (const c of conns) {
        this.ins.conn!.run(c.id, ++this.seq, c.opened, c.label, null, null);
        this.ins.connProcesses!.run(c.clientProcess, c.serverProcess, c.id);
        if (c.closed !== null) this.ins.connClose!.run(++this.seq, c.closed, c.closeReason, c.id);
      }
    });
  }

  /** The id of a call's text, written the first time the call row has it. */
  private textOf(text: string | null, id: number | null): number | null {
    if (id !== null || text === null) return id;
    id = ++this.textId;
    this.texts.add(this.textStream, id, 0, text);
    return id;
  }

  private writeCall(c: CallRow): void {
    if (this.redactFields) c = redactCall(c, this.redactFields);
    let t = this.callRefs.get(c.id);
    if (!t) this.callRefs.set(c.id, (t = noRefs(false)));
    t.p = this.textOf(c.params, t.p);
    t.r = this.textOf(c.results, t.r);
    if (c.retired) this.callRefs.delete(c.id);
    const st = t.fresh ? this.ins.callNew! : this.ins.call!;
    t.fresh = false;
    st.run(
      c.id, c.conn, c.dir, c.questionId, c.interfaceId, c.methodId, c.iface, c.method, c.title, c.target, c.hasContext ? 1 : 0,
      c.caller, c.executor, c.clientProcess, c.serverProcess, c.parent, c.depth,
      c.status, c.exception, c.requestNo, c.sent, c.returned, c.cancelRequested, c.finished, t.p, t.r, t.callMsg, t.returnMsg, c.retired ? 1 : 0,
    );
  }

  /**
   * Closes the database. A finished session is one plain file: the WAL is
   * folded in and the journal mode set back to DELETE, so readers (read-only)
   * leave no -wal/-shm files behind.
   */
  shutdown(): void {
    this.db.transaction(() => {
      this.moveAheadGaps();
      this.chunks.finish();
      this.texts.finish();
      this.beforeCommit?.(this.seq);
    })();
    this.db.pragma('incremental_vacuum');
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    this.db.pragma('journal_mode = DELETE');
    this.db.close();
  }
}
