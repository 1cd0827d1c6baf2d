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
import { redactCall, secretByteRanges } from '../redact/redact.js';
import { UserError } from '../decoder/sources.js';

type DB = Database.Database;

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

export class Store implements Sink {
  private seq = 0;
  /** The gap of each direction that has one: its errors row and size so far. */
  private readonly gaps = new Map<string, { err: number | bigint; bytes: number }>();
  private readonly ins: Record<string, Database.Statement>;

  private constructor(readonly db: DB) {
    const p = (sql: string) => db.prepare(sql);
    this.ins = {
      conn: p('INSERT INTO connections (id, seq_open, opened, label, client_name, server_name) VALUES (?, ?, ?, ?, ?, ?)'),
      connClose: p('UPDATE connections SET seq_close = ?, closed = ?, close_reason = ? WHERE id = ?'),
      chunk: p('INSERT INTO chunks (seq, conn, dir, time, bytes) VALUES (?, ?, ?, ?, ?)'),
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
           sent, returned, cancel_requested, finished, params, results, retired)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
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
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec(STORE_DDL);
    const s = new Store(db);
    s.ins.meta!.run('schema_version', String(STORE_SCHEMA_VERSION));
    for (const [k, v] of Object.entries(meta)) s.ins.meta!.run(k, v);
    const ss = db.prepare('INSERT INTO schema_sets (source, cgr) VALUES (?, ?)');
    for (const set of schemaSets) ss.run(set.source, deflateSync(set.cgr, { level: 9 }));
    return s;
  }

  /** Runs `fn` (a batch of pipeline work) in one transaction. */
  batch(fn: () => void): void {
    this.db.transaction(fn)();
  }

  setMeta(key: string, value: string): void {
    this.ins.meta!.run(key, value);
  }

  open(conn: ConnRecord, info: ConnOpen): void {
    this.ins.conn!.run(conn.id, ++this.seq, conn.opened, conn.label, info.client ?? null, info.server ?? null);
  }

  chunk(conn: number, dir: Dir, bytes: Uint8Array, time: number): void {
    this.ins.chunk!.run(++this.seq, conn, dir, time, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    if (this.redactFields) this.trackChunk(`${conn}${dir}`, this.seq, bytes.length);
  }

  // ---- record --redact: secret fields' bytes stored zeroed ----

  private redactFields: ReadonlySet<string> | null = null;
  /** Per connection and direction: stream bytes so far, and the recent chunks' places in the stream. */
  private readonly streams = new Map<string, { pos: number; chunks: { seq: number; start: number; len: number }[] }>();

  /** From now on the values of these fields are stored zeroed (chunks) and masked (messages, calls). */
  redact(fields: ReadonlySet<string>): void {
    this.redactFields = fields;
    this.ins.zeroRead = this.db.prepare('SELECT bytes FROM chunks WHERE seq = ?').pluck();
    this.ins.zeroWrite = this.db.prepare('UPDATE chunks SET bytes = ? WHERE seq = ?');
  }

  private trackChunk(key: string, seq: number, len: number): void {
    let s = this.streams.get(key);
    if (!s) this.streams.set(key, (s = { pos: 0, chunks: [] }));
    s.chunks.push({ seq, start: s.pos, len });
    s.pos += len;
    // A frame is at most 64 MiB (the framer's limit): older chunks are done with.
    while (s.chunks.length > 1 && s.chunks[0]!.start + s.chunks[0]!.len < s.pos - (64 << 20)) s.chunks.shift();
  }

  /** Zeroes stream bytes [start, end) of one direction in the chunks that hold them. */
  private zero(key: string, start: number, end: number): void {
    for (const c of this.streams.get(key)?.chunks ?? []) {
      const a = Math.max(start, c.start);
      const b = Math.min(end, c.start + c.len);
      if (a >= b) continue;
      const bytes = Buffer.from(this.ins.zeroRead!.get(c.seq) as Buffer);
      bytes.fill(0, a - c.start, b - c.start);
      this.ins.zeroWrite!.run(bytes, c.seq);
    }
  }

  message(conn: ConnRecord, d: DecodedMessage, u: Update, time: number): void {
    const r = d.rpc;
    const call = u.kind === 'call' || u.kind === 'return' ? u.call : null;
    // No text: a Call's or Return's is its call's params or results, redacted there too (the messages view joins them).
    if (this.redactFields && call) {
      for (const [a, b] of secretByteRanges(d, this.redactFields)) this.zero(`${conn.id}${d.dir}`, a, b);
    }
    this.ins.message!.run(
      conn.id,
      d.n ?? null,
      d.dir,
      time,
      d.offset,
      d.frame?.bytes.length ?? null,
      r ? (r.type === 'unimplemented' ? 'other' : r.type) : null,
      r?.type === 'call' || r?.type === 'bootstrap' ? r.questionId : null,
      r?.type === 'return' ? r.answerId : null,
      r?.type === 'call' ? r.interfaceId : null,
      r?.type === 'call' ? r.methodId : null,
      d.name ?? null,
      d.exception ?? null,
      d.error ?? null,
      call?.id ?? null,
    );
    if (u.kind === 'error') this.ins.error!.run(conn.id, d.dir, time, u.offset, u.framing ? 'framing' : 'decode', u.error);
  }

  end(conn: ConnRecord, dir: Dir, time: number): void {
    this.ins.event!.run(++this.seq, conn.id, dir, time, 'end', 0);
  }

  close(conn: ConnRecord, time: number, reason: string | null): void {
    this.gaps.delete(`${conn.id}>`);
    this.gaps.delete(`${conn.id}<`);
    this.ins.connClose!.run(++this.seq, time, reason, conn.id);
    if (reason) this.ins.error!.run(conn.id, null, time, null, 'transport', reason);
  }

  gap(conn: ConnRecord, dir: Dir, bytes: number, time: number): void {
    this.ins.event!.run(++this.seq, conn.id, dir, time, 'gap', bytes);
    const err = this.ins.error!.run(conn.id, dir, time, null, 'gap', gapText(bytes)).lastInsertRowid;
    this.gaps.set(`${conn.id}${dir}`, { err, bytes });
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

  private writeCall(c: CallRow): void {
    if (this.redactFields) c = redactCall(c, this.redactFields);
    this.ins.call!.run(
      c.id, c.conn, c.dir, c.questionId, c.interfaceId, c.methodId, c.iface, c.method, c.title, c.target, c.hasContext ? 1 : 0,
      c.caller, c.executor, c.clientProcess, c.serverProcess, c.parent, c.depth,
      c.status, c.exception, c.requestNo, c.sent, c.returned, c.cancelRequested, c.finished, c.params, c.results, c.retired ? 1 : 0,
    );
  }

  /**
   * Closes the database. A finished session is one plain file: the WAL is
   * folded in and the journal mode set back to DELETE, so readers (read-only)
   * leave no -wal/-shm files behind.
   */
  shutdown(): void {
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    this.db.pragma('journal_mode = DELETE');
    this.db.close();
  }
}
