// The session reader: every read of a session database goes through here
// (chains, replay, export, query, stats, the terminal UI, the demo's
// summary). Rows come back in the shapes of src/session/rows.ts; the raw
// stream (connection opens, chunks, stream events, closes) in recorded order.

import type { Intervention, InterventionKind } from '../intercept/engine.js';
import type Database from 'better-sqlite3';
import { inflateSync } from 'node:zlib';
import type { Dir } from '../decoder/messages.js';
import type { CallRow, CapRow, ConnRow, ProcessRow, ThreadRow } from '../session/rows.js';
import { openExisting } from './store.js';
import { UserError } from '../decoder/sources.js';
import type { SqlFilter } from './filter-sql.js';

/** One item of the recorded stream, in the order it happened. */
export type StreamItem =
  | { k: 'open'; seq: number; conn: number; time: number; label: string; client: string | null; server: string | null }
  | { k: 'data'; seq: number; conn: number; dir: Dir; time: number; bytes: Buffer }
  | { k: 'end'; seq: number; conn: number; dir: Dir; time: number }
  | { k: 'gap'; seq: number; conn: number; dir: Dir; time: number; bytes: number }
  | { k: 'close'; seq: number; conn: number; time: number; reason: string | null }
  | { k: 'intervention'; seq: number; ev: Intervention };

export interface MessageRow {
  id: number;
  conn: number;
  n: number | null;
  dir: Dir;
  time: number;
  offset: number;
  size: number | null;
  type: string | null;
  questionId: number | null;
  answerId: number | null;
  interfaceId: string | null;
  methodId: number | null;
  name: string | null;
  text: string | null;
  exception: string | null;
  error: string | null;
  callId: number | null;
}

export interface SessionSpan {
  /** The first connection's open time (null: no traffic). */
  start: number | null;
  /** The last recorded event's time (chunk, stream event or close). */
  last: number | null;
  /** meta.ended: set when the recording finished; absent while it is still recording. */
  ended: string | null;
}

const CALL_COLUMNS = `id, conn, dir, question_id AS questionId, interface_id AS interfaceId, method_id AS methodId, iface, method, title, target,
  has_context AS hasContext, caller_thread AS caller, executor_thread AS executor, client_process AS clientProcess,
  server_process AS serverProcess, parent_call AS parent, depth, status, exception, request_no AS requestNo, sent, returned,
  cancel_requested AS cancelRequested, finished, params, results, retired`;

/** Every row of a session, for the exports, stats, diff and merge (functions of rows). */
export interface SessionRows {
  meta: Record<string, string>;
  processes: ProcessRow[];
  threads: ThreadRow[];
  caps: CapRow[];
  calls: CallRow[];
  connections: ConnRow[];
  span: SessionSpan;
}

type Raw = Record<string, unknown>;

/** Ids (in id order) of calls, with the call each is nested in (0: none), when it was sent and returned (NaN: not). */
export interface CallIndex {
  n: number;
  ids: Int32Array;
  parents: Int32Array;
  sent: Float64Array;
  returned: Float64Array;
}

function callFrom(r: Raw): CallRow {
  r.hasContext = r.hasContext === 1;
  r.retired = r.retired === 1;
  return r as unknown as CallRow;
}

export class SessionReader {
  private constructor(
    readonly path: string,
    private readonly db: Database.Database,
  ) {
    // text: filters (src/store/filter-sql.ts) match params/results with a JavaScript regular expression.
    const cache = new Map<string, RegExp>();
    db.function('ipc_regexp', { deterministic: true }, (pattern: unknown, text: unknown) => {
      if (typeof text !== 'string' || typeof pattern !== 'string') return null;
      let re = cache.get(pattern);
      if (!re) {
        re = new RegExp(pattern);
        cache.set(pattern, re);
      }
      return re.test(text) ? 1 : 0;
    });
  }

  /**
   * Opens an existing session database read-only (UserError if it is not one).
   * `cacheKb`: SQLite's page cache for this connection (threads that only
   * scan the whole session gain nothing from a large one).
   */
  static open(path: string, opts: { cacheKb?: number } = {}): SessionReader {
    const db = openExisting(path);
    if (opts.cacheKb !== undefined) db.pragma(`cache_size = -${Math.max(64, Math.trunc(opts.cacheKb))}`);
    return new SessionReader(path, db);
  }

  close(): void {
    this.db.close();
  }

  meta(): Record<string, string> {
    const rows = this.db.prepare('SELECT key, value FROM meta').all() as { key: string; value: string }[];
    return Object.fromEntries(rows.map((r) => [r.key, r.value]));
  }

  metaValue(key: string): string | undefined {
    return this.db.prepare('SELECT value FROM meta WHERE key = ?').pluck().get(key) as string | undefined;
  }

  span(): SessionSpan {
    const one = <T>(sql: string) => this.db.prepare(sql).pluck().get() as T;
    return {
      start: one<number | null>('SELECT min(opened) FROM connections'),
      last: one<number | null>(
        `SELECT max(t) FROM (SELECT max(time) AS t FROM chunks UNION ALL SELECT max(time) FROM stream_events UNION ALL SELECT max(closed) FROM connections
           UNION ALL SELECT max(max(sent, coalesce(returned, sent), coalesce(finished, sent))) FROM calls)`,
      ),
      ended: this.metaValue('ended') ?? null,
    };
  }

  /** The compiled schemas the session was decoded with (a CodeGeneratorRequest). */
  schemaSet(): Buffer {
    const cgr = this.db.prepare('SELECT cgr FROM schema_sets ORDER BY id LIMIT 1').pluck().get() as Buffer | undefined;
    if (!cgr) throw new UserError(`${this.path}: the session database has no schemas`);
    return inflateSync(cgr);
  }

  processes(): ProcessRow[] {
    return this.db.prepare('SELECT id, label, exe, pid, requests FROM processes ORDER BY id').all() as ProcessRow[];
  }

  threads(): ThreadRow[] {
    return this.db
      .prepare('SELECT id, process, role, name, from_thread AS "from", label, first_seen AS firstSeen FROM threads ORDER BY id')
      .all() as ThreadRow[];
  }

  caps(): CapRow[] {
    const rows = this.db
      .prepare(
        'SELECT id, conn, owner, export_id AS exportId, iface, label, thread, refs, promise, created, released FROM capabilities ORDER BY id',
      )
      .all() as Raw[];
    for (const r of rows) r.promise = r.promise === 1;
    return rows as unknown as CapRow[];
  }

  connections(): ConnRow[] {
    return this.db
      .prepare(
        `SELECT id, label, opened, closed, close_reason AS closeReason, client_process AS clientProcess, server_process AS serverProcess
           FROM connections ORDER BY id`,
      )
      .all() as ConnRow[];
  }

  callCount(): number {
    return this.db.prepare('SELECT count(*) FROM calls').pluck().get() as number;
  }

  maxCallId(): number {
    return (this.db.prepare('SELECT coalesce(max(id), 0) FROM calls').pluck().get() as number) ?? 0;
  }

  call(id: number): CallRow | undefined {
    const r = this.db.prepare(`SELECT ${CALL_COLUMNS} FROM calls WHERE id = ?`).get(id) as Raw | undefined;
    return r ? callFrom(r) : undefined;
  }

  /** Calls in id order (the order they were sent), optionally only those sent by `sentBy`, on one connection, or matching a filter. */
  *calls(opts: { sentBy?: number; conn?: number; filter?: SqlFilter } = {}): IterableIterator<CallRow> {
    const where: string[] = [];
    const args: (number | string)[] = [];
    if (opts.filter) {
      where.push(`(${opts.filter.where})`);
      args.push(...opts.filter.args);
    }
    if (opts.sentBy !== undefined) {
      where.push('sent <= ?');
      args.push(opts.sentBy);
    }
    if (opts.conn !== undefined) {
      where.push('conn = ?');
      args.push(opts.conn);
    }
    const sql = `SELECT ${CALL_COLUMNS} FROM calls ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id`;
    for (const r of this.db.prepare(sql).iterate(...args) as IterableIterator<Raw>) yield callFrom(r);
  }

  /** Calls sent by `at` that had not returned by then: outstanding at `at`, or cut by a disconnect before it. */
  callsOpenAt(at: number): CallRow[] {
    return (
      this.db.prepare(`SELECT ${CALL_COLUMNS} FROM calls WHERE sent <= ? AND (returned IS NULL OR returned > ?) ORDER BY id`).all(at, at) as Raw[]
    ).map(callFrom);
  }

  /** The interventions (--hold and the like) made by `at`, in order. */
  interventions(at = Infinity): Intervention[] {
    if (!this.hasInterventions()) return [];
    const st = this.db.prepare('SELECT seq, conn, dir, time, kind, held, question_id, title, text FROM interventions WHERE time <= ? ORDER BY seq');
    return (st.all(Number.isFinite(at) ? at : Number.MAX_VALUE) as Record<string, unknown>[]).map(interventionOf);
  }

  /** Per call title, how long (ms) each call that returned by `at` took. */
  durationsByTitle(at: number): Map<string, number[]> {
    const out = new Map<string, number[]>();
    const st = this.db.prepare('SELECT title, returned - sent AS ms FROM calls WHERE returned IS NOT NULL AND returned <= ?');
    for (const r of st.iterate(at) as IterableIterator<{ title: string; ms: number }>) {
      const l = out.get(r.title);
      if (l) l.push(r.ms);
      else out.set(r.title, [r.ms]);
    }
    return out;
  }

  /** Calls in id order with ids in [from, to): a page for views of large sessions. */
  callPage(fromId: number, limit: number): CallRow[] {
    return (this.db.prepare(`SELECT ${CALL_COLUMNS} FROM calls WHERE id >= ? ORDER BY id LIMIT ?`).all(fromId, limit) as Raw[]).map(callFrom);
  }

  /**
   * The index of all calls after `afterId`, in id order: ids, the call each
   * is nested in (0: none), send and return times (NaN: not returned).
   * Typed arrays, so a view of a million-call session holds a few tens of
   * megabytes, not rows.
   */
  callIndex(afterId = 0): CallIndex {
    const st = this.db.prepare('SELECT id, coalesce(parent_call, 0), sent, returned FROM calls WHERE id > ? ORDER BY id').raw();
    const cap = Math.max(16, (this.db.prepare('SELECT count(*) FROM calls WHERE id > ?').pluck().get(afterId) as number) + 16);
    const ids = new Int32Array(cap);
    const parents = new Int32Array(cap);
    const sent = new Float64Array(cap);
    const returned = new Float64Array(cap);
    let n = 0;
    for (const r of st.iterate(afterId) as IterableIterator<[number, number, number, number | null]>) {
      if (n === cap) break;
      ids[n] = r[0];
      parents[n] = r[1];
      sent[n] = r[2];
      returned[n] = r[3] ?? NaN;
      n++;
    }
    return { n, ids: ids.subarray(0, n), parents: parents.subarray(0, n), sent: sent.subarray(0, n), returned: returned.subarray(0, n) };
  }

  /** Ids of the calls matching a filter (src/store/filter-sql.ts), in id order, after `afterId` (and up to `upToId`). */
  callIds(filter?: SqlFilter, afterId = 0, upToId = Number.MAX_SAFE_INTEGER): Int32Array {
    const where = filter ? `AND (${filter.where})` : '';
    let out = new Int32Array(1024);
    let n = 0;
    // A scan of the id range (not an index on a filtered column): its time is linear in the range,
    // so a long scan can be split in parts that take as long each.
    const st = this.db.prepare(`SELECT id FROM calls NOT INDEXED WHERE id > ? AND id <= ? ${where} ORDER BY id`).pluck();
    for (const id of st.iterate(afterId, upToId, ...(filter?.args ?? [])) as IterableIterator<number>) {
      if (n === out.length) {
        const b = new Int32Array(n * 2);
        b.set(out);
        out = b;
      }
      out[n++] = id;
    }
    return out.slice(0, n);
  }

  /** The calls with these ids (in the order given; missing ids are left out). */
  callsByIds(ids: ArrayLike<number>): CallRow[] {
    if (ids.length === 0) return [];
    const list = Array.from(ids, (x) => Math.trunc(x)).join(',');
    const rows = (this.db.prepare(`SELECT ${CALL_COLUMNS} FROM calls WHERE id IN (${list})`).all() as Raw[]).map(callFrom);
    const byId = new Map(rows.map((r) => [r.id, r]));
    const out: CallRow[] = [];
    for (let i = 0; i < ids.length; i++) {
      const r = byId.get(ids[i]!);
      if (r) out.push(r);
    }
    return out;
  }

  /** Callbacks nested directly in a call, in id order. */
  callChildren(id: number): CallRow[] {
    return (this.db.prepare(`SELECT ${CALL_COLUMNS} FROM calls WHERE parent_call = ? ORDER BY id`).all(id) as Raw[]).map(callFrom);
  }


  /** Per-call latency facts of the calls matching a filter: for per-method statistics. */
  *callTimings(filter?: SqlFilter): IterableIterator<[title: string, status: string, sent: number, returned: number | null, serverProcess: number, executor: number | null]> {
    const where = filter ? `WHERE ${filter.where}` : '';
    yield* this.db
      .prepare(`SELECT title, status, sent, returned, server_process, executor_thread FROM calls ${where}`)
      .raw()
      .iterate(...(filter?.args ?? [])) as IterableIterator<[string, string, number, number | null, number, number | null]>;
  }

  /** Bytes relayed but not recorded (recorder gaps), in total. */
  gapBytes(): number {
    return (this.db.prepare("SELECT coalesce(sum(bytes), 0) FROM stream_events WHERE kind IN ('gap', 'gap+')").pluck().get() as number) ?? 0;
  }

  /** Decoded messages in recorded order, optionally of one connection. */
  *messages(conn?: number): IterableIterator<MessageRow> {
    const sql = `SELECT id, conn, n, dir, time, offset, size, type, question_id AS questionId, answer_id AS answerId,
      interface_id AS interfaceId, method_id AS methodId, name, text, exception, error, call_id AS callId
      FROM messages ${conn !== undefined ? 'WHERE conn = ?' : ''} ORDER BY id`;
    const st = this.db.prepare(sql);
    yield* (conn !== undefined ? st.iterate(conn) : st.iterate()) as IterableIterator<MessageRow>;
  }

  /** The raw Call and Return messages' positions of a call (for a hex dump: see chunkBytes). */
  callMessages(callId: number): MessageRow[] {
    return this.db
      .prepare(
        `SELECT id, conn, n, dir, time, offset, size, type, question_id AS questionId, answer_id AS answerId,
           interface_id AS interfaceId, method_id AS methodId, name, text, exception, error, call_id AS callId
           FROM messages WHERE call_id = ? ORDER BY id`,
      )
      .all(callId) as MessageRow[];
  }

  /**
   * `length` bytes of one direction of a connection's stream starting at byte
   * `offset` (a message's bytes, from the recorded chunks).
   */
  streamBytes(conn: number, dir: Dir, offset: number, length: number): Buffer {
    const out: Buffer[] = [];
    let pos = 0;
    let need = length;
    for (const b of this.db.prepare('SELECT bytes FROM chunks WHERE conn = ? AND dir = ? ORDER BY seq').pluck().iterate(conn, dir) as IterableIterator<Buffer>) {
      const end = pos + b.length;
      if (end > offset && need > 0) {
        const s = Math.max(0, offset - pos);
        const piece = b.subarray(s, Math.min(b.length, s + need));
        out.push(piece);
        need -= piece.length;
      }
      pos = end;
      if (need <= 0) break;
    }
    return Buffer.concat(out);
  }

  /** The recorded stream (opens, chunks, ends, gaps, closes), in order; of one connection if given. */
  *stream(conn?: number): IterableIterator<StreamItem> {
    // Four sources, each already in seq order (no sort of the whole session): merged here.
    const where = (col: string, extra = '') => (conn !== undefined ? `WHERE ${col} = ? ${extra ? 'AND ' + extra : ''}` : extra ? `WHERE ${extra}` : '');
    const q = (sql: string) => {
      const st = this.db.prepare(sql);
      return (conn !== undefined ? st.iterate(conn) : st.iterate()) as IterableIterator<Raw>;
    };
    const sources: { it: IterableIterator<Raw>; head: Raw | undefined; make: (r: Raw) => StreamItem }[] = [
      {
        it: q(`SELECT seq_open AS seq, id AS conn, opened AS time, label, client_name AS client, server_name AS server FROM connections ${where('id')} ORDER BY seq_open`),
        head: undefined,
        make: (r) => ({ k: 'open', seq: r.seq as number, conn: r.conn as number, time: r.time as number, label: (r.label as string | null) ?? '', client: r.client as string | null, server: r.server as string | null }),
      },
      {
        it: q(`SELECT seq, conn, dir, time, bytes FROM chunks ${where('conn')} ORDER BY seq`),
        head: undefined,
        make: (r) => ({ k: 'data', seq: r.seq as number, conn: r.conn as number, dir: r.dir as Dir, time: r.time as number, bytes: r.bytes as Buffer }),
      },
      {
        // 'gap+' rows only count bytes dropped after a direction's gap: not events of the stream.
        it: q(`SELECT seq, conn, dir, time, kind, bytes FROM stream_events ${where('conn', "kind IN ('end', 'gap')")} ORDER BY seq`),
        head: undefined,
        make: (r) =>
          r.kind === 'gap'
            ? { k: 'gap', seq: r.seq as number, conn: r.conn as number, dir: r.dir as Dir, time: r.time as number, bytes: (r.bytes as number | null) ?? 0 }
            : { k: 'end', seq: r.seq as number, conn: r.conn as number, dir: r.dir as Dir, time: r.time as number },
      },
      {
        it: q(`SELECT seq_close AS seq, id AS conn, closed AS time, close_reason AS reason FROM connections ${where('id', 'seq_close IS NOT NULL')} ORDER BY seq_close`),
        head: undefined,
        make: (r) => ({ k: 'close', seq: r.seq as number, conn: r.conn as number, time: r.time as number, reason: r.reason as string | null }),
      },
    ];
    // Sessions recorded before interventions existed have no such table.
    if (this.hasInterventions()) {
      sources.push({
        it: q(`SELECT seq, conn, dir, time, kind, held, question_id, title, text FROM interventions ${where('conn')} ORDER BY seq`),
        head: undefined,
        make: (r) => ({ k: 'intervention', seq: r.seq as number, ev: interventionOf(r) }),
      });
    }
    for (const s of sources) s.head = s.it.next().value as Raw | undefined;
    for (;;) {
      let best: (typeof sources)[number] | null = null;
      for (const s of sources) if (s.head && (!best || (s.head.seq as number) < (best.head!.seq as number))) best = s;
      if (!best) return;
      const r = best.head!;
      best.head = best.it.next().value as Raw | undefined;
      yield best.make(r);
    }
  }


  private hasInterventions(): boolean {
    return this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'interventions'").get() !== undefined;
  }


  /**
   * When a call first waited behind another on the same thread (a second call
   * posted to a worker still running the first), or null.
   */
  firstQueuedCall(): number | null {
    const row = this.db
      .prepare(
        `SELECT b.sent AS sent FROM calls a JOIN calls b
           ON b.executor_thread = a.executor_thread AND b.caller_thread = a.caller_thread AND b.id <> a.id
          WHERE a.has_context = 1 AND b.has_context = 1 AND a.parent_call IS NULL AND b.parent_call IS NULL
            AND b.sent >= a.sent AND b.sent < coalesce(a.returned, 1e300) AND coalesce(b.returned, 1e300) > a.returned
          ORDER BY b.sent LIMIT 1`,
      )
      .get() as { sent: number } | undefined;
    return row?.sent ?? null;
  }

  /** True when the session has recorded traffic to replay (an imported or merged session has only rows). */
  hasStream(): boolean {
    return this.db.prepare('SELECT 1 FROM chunks LIMIT 1').get() !== undefined;
  }

  /** All rows of the session (calls in id order). */
  rows(): SessionRows {
    return {
      meta: this.meta(),
      processes: this.processes(),
      threads: this.threads(),
      caps: this.caps(),
      calls: [...this.calls()],
      connections: this.connections(),
      span: this.span(),
    };
  }

  /** Rows of the v_calls view (the `calls` export), in call order, optionally of one connection. */
  viewCalls(conn?: number): Record<string, unknown>[] {
    const st = this.db.prepare(`SELECT * FROM v_calls ${conn !== undefined ? 'WHERE id IN (SELECT id FROM calls WHERE conn = ?)' : ''} ORDER BY id`);
    return (conn !== undefined ? st.all(conn) : st.all()) as Record<string, unknown>[];
  }

  /** Read-only SQL (the `query` command). */
  query(sql: string): Record<string, unknown>[] {
    const st = this.db.prepare(sql);
    if (!st.reader) throw new UserError('query runs read-only SQL: a statement that returns rows (SELECT, WITH, PRAGMA …)');
    return st.all() as Record<string, unknown>[];
  }
}

function interventionOf(r: Record<string, unknown>): Intervention {
  return {
    time: r.time as number, conn: r.conn as number, dir: r.dir as Dir, kind: r.kind as InterventionKind, held: (r.held as number | null) ?? null,
    questionId: (r.question_id as number | null) ?? null, title: r.title as string, text: r.text as string,
  };
}
