// The session reader: every read of a session database goes through here
// (chains, replay, export, query, stats, the terminal UI, the demo's
// summary). Rows come back in the shapes of src/session/rows.ts; the raw
// stream (connection opens, chunks, stream events, closes) in recorded order.

import type { Intervention, InterventionKind } from '../intercept/engine.js';
import Database from 'better-sqlite3';
import { inflateSync } from 'node:zlib';
import { inflateRaw } from './zstream.js';
import type { Dir } from '../decoder/messages.js';
import type { CallRow, CapRow, ConnRow, ProcessRow, ThreadRow } from '../session/rows.js';
import { openExisting } from './store.js';
import { UserError } from '../decoder/sources.js';
import type { SqlFilter } from './filter-sql.js';
import { BlockCache, BlockItems, decodeBlock, payloadSize } from './blocks.js';

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
  cancel_requested AS cancelRequested, finished, params_ref AS params, results_ref AS results, retired`;

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

/** A decoded block of texts or chunks and the keys it covers. */
interface CachedBlock {
  first: number;
  items: BlockItems;
}

/** Ids of the texts matching a pattern (see textMatches). */
interface TextMatches {
  upTo: number;
  ids: Int32Array;
  n: number;
}

/** What the reader selects of a chunk_blocks row. */
interface ChunkBlockRow {
  seq: number;
  conn: number;
  dir: Dir;
  offset: number;
  size: number;
  n: number;
  z: number;
  data: Buffer | null;
  pack: number | null;
  pack_at: number | null;
}
const CHUNK_BLOCK = 'seq, conn, dir, offset, size, n, z, data, pack, pack_at';

/** Blocks a reader keeps decoded (most recently used last). */
const BLOCK_CACHE = 16;

/** A filter's SQL arguments: its own, and for its text: terms the ids of the texts to look at ([0, 0]: all). */
function filterArgs(filter: SqlFilter | undefined, texts: [number, number] = [0, 0]): unknown[] {
  if (!filter) return [];
  return filter.texts ? [...filter.args, { text_lo: texts[0], text_hi: texts[1] }] : filter.args;
}

export class SessionReader {
  private readonly textBlockAt: Database.Statement;
  private readonly textCache: CachedBlock[] = [];
  private readonly packs = new BlockCache<Buffer>(8);
  private packAt: Database.Statement | null = null;

  private constructor(
    readonly path: string,
    private readonly db: Database.Database,
    /** A second connection for the blocks: the SQL functions and the chunks table read them while a query runs on `db`. */
    private readonly blocks: Database.Database,
  ) {
    this.textBlockAt = blocks.prepare('SELECT id, z, data FROM text_blocks WHERE id <= ? ORDER BY id DESC LIMIT 1');
    // The views show params/results texts (kept in blocks) with ipc_text(params_ref).
    db.function('ipc_text', { deterministic: true }, (ref: unknown) => (typeof ref === 'number' || typeof ref === 'bigint' ? this.text(Number(ref)) : null));
    // ipc_text_match(pattern, literal, ref): the text of `ref` matches the JavaScript regular expression
    // (a text without `literal`, when given, never does); for query users (docs/store.md).
    const res = new Map<string, RegExp>();
    const lits = new Map<string, Buffer>();
    const regexp = (pattern: string) => {
      let re = res.get(pattern);
      if (!re) res.set(pattern, (re = new RegExp(pattern)));
      return re;
    };
    db.function('ipc_text_match', { deterministic: true }, (pattern: unknown, literal: unknown, ref: unknown) => {
      if (typeof pattern !== 'string' || (typeof ref !== 'number' && typeof ref !== 'bigint')) return null;
      const at = this.textAt(Number(ref));
      if (!at) return null;
      const { items, i } = at;
      const start = items.starts[i]!;
      const end = start + items.lens[i]!;
      if (typeof literal === 'string' && literal) {
        let lit = lits.get(literal);
        if (!lit) lits.set(literal, (lit = Buffer.from(literal, 'utf8')));
        if (items.bytes.subarray(start, end).indexOf(lit) < 0) return 0;
      }
      return regexp(pattern).test(items.bytes.toString('utf8', start, end)) ? 1 : 0;
    });
    // ipc_text_matches(pattern, literal, lo, hi): the ids of the texts that match (the text: filter's
    // table), among the texts with ids lo to hi (0 and 0, or left out: all of them).
    const reader = this;
    db.table('ipc_text_matches', {
      columns: ['id'],
      parameters: ['pattern', 'literal', 'lo', 'hi'],
      rows: function* (this: void, pattern: unknown, literal: unknown, lo: unknown, hi: unknown) {
        if (typeof pattern !== 'string') return;
        const range: [number, number] | null = typeof lo === 'number' && lo > 0 && typeof hi === 'number' ? [lo, hi] : null;
        const m = reader.textMatches(pattern, typeof literal === 'string' ? literal : '', range);
        for (let i = 0; i < m.n; i++) yield [m.ids[i]!];
      },
    });
    // The chunks, one row each (seq, conn, dir, time, bytes), for the query command.
    db.table('chunks', {
      columns: ['seq', 'conn', 'dir', 'time', 'bytes'],
      rows: function* (this: void) {
        for (const c of reader.chunkItems()) if (c.k === 'data') yield [c.seq, c.conn, c.dir, c.time, c.bytes];
      },
    });
  }

  private callFrom(r: Raw): CallRow {
    r.hasContext = r.hasContext === 1;
    r.retired = r.retired === 1;
    r.params = this.text(r.params as number | null);
    r.results = this.text(r.results as number | null);
    return r as unknown as CallRow;
  }

  /** Where text `id` is: its block (decoded, cached) and index in it. */
  private textAt(id: number): { items: BlockItems; i: number } | null {
    const cache = this.textCache;
    for (let k = cache.length - 1; k >= 0; k--) {
      const b = cache[k]!;
      const i = id - b.first;
      if (i >= 0 && i < b.items.n) {
        if (k !== cache.length - 1) cache.push(cache.splice(k, 1)[0]!);
        return { items: b.items, i };
      }
    }
    const row = this.textBlockAt.get(id) as { id: number; z: number; data: Buffer } | undefined;
    if (!row) return null;
    const b = { first: row.id, items: decodeBlock(row.data, row.z, false) };
    cache.push(b);
    if (cache.length > BLOCK_CACHE) cache.shift();
    const i = id - b.first;
    return i < b.items.n ? { items: b.items, i } : null;
  }

  /** The chunks of a chunk_blocks row (seq, z, data, pack, pack_at, n, size). */
  private chunkBlock(r: ChunkBlockRow): BlockItems {
    if (r.z !== 2) return decodeBlock(r.data!, r.z, true);
    this.packAt ??= this.blocks.prepare('SELECT data FROM chunk_packs WHERE id = ?').pluck();
    const pack = this.packs.get(r.pack!, () => inflateRaw(this.packAt!.get(r.pack!) as Buffer));
    return decodeBlock(pack.subarray(r.pack_at!, r.pack_at! + payloadSize(r.n, r.size, true)), 0, true);
  }

  /** Texts matching a pattern, per (pattern, literal): the ids found so far and the last id looked at. */
  private readonly matches = new Map<string, TextMatches>();
  /** The last ranged scan (textMatches with a range): a query names the table twice (params, results). */
  private ranged: { key: string; m: TextMatches } | null = null;

  /**
   * The ids (ascending) of the texts that match the JavaScript regular
   * expression `pattern` (and contain `literal`, when not empty). The text
   * blocks are scanned once per pattern: again, only the texts added since.
   * With `range` [lo, hi], only the texts with ids in it, not kept.
   */
  textMatches(pattern: string, literal: string, range: [number, number] | null = null): TextMatches {
    let m: TextMatches;
    if (range) {
      // A query asks as many times as it names the table (params and results): scan a range once.
      const key = `${pattern}\u0000${literal}\u0000${range[0]}\u0000${range[1]}`;
      if (this.ranged?.key === key) return this.ranged.m;
      m = { upTo: range[0] - 1, ids: new Int32Array(1024), n: 0 };
      this.ranged = { key, m };
    } else {
      const key = `${pattern}\u0000${literal}`;
      m = this.matches.get(key) ?? { upTo: 0, ids: new Int32Array(1024), n: 0 };
      this.matches.delete(key);
      this.matches.set(key, m);
      if (this.matches.size > 4) this.matches.delete(this.matches.keys().next().value!);
    }
    const last = range ? range[1] : Number.MAX_SAFE_INTEGER;
    const re = new RegExp(pattern);
    const lit = literal ? Buffer.from(literal, 'utf8') : null;
    const add = (id: number) => {
      if (id > last) return;
      if (m.n === m.ids.length) {
        const ids = new Int32Array(m.ids.length * 2);
        ids.set(m.ids);
        m.ids = ids;
      }
      m.ids[m.n++] = id;
    };
    const st = this.blocks.prepare(
      'SELECT id, z, data FROM text_blocks WHERE id >= coalesce((SELECT max(id) FROM text_blocks WHERE id <= ?), 0) AND id <= ? ORDER BY id',
    );
    for (const row of st.iterate(m.upTo + 1, last) as IterableIterator<{ id: number; z: number; data: Buffer }>) {
      // Done with before the next block: inflated into this thread's buffer, not a new one each.
      const b = decodeBlock(row.data, row.z, false, true);
      const { bytes, starts, lens } = b;
      let i = Math.max(0, m.upTo + 1 - row.id);
      const n = Math.min(b.n, last - row.id + 1);
      const test = (k: number) => {
        if (re.test(bytes.toString('utf8', starts[k]!, starts[k]! + lens[k]!))) add(row.id + k);
      };
      if (lit) {
        // The literal's places in the whole block, then the regular expression on the texts that hold it.
        for (let p = i < n ? bytes.indexOf(lit, starts[i]) : -1; p >= 0; ) {
          let lo = i;
          let hi = b.n - 1;
          while (lo < hi) {
            const mid = (lo + hi + 1) >> 1;
            if (starts[mid]! <= p) lo = mid;
            else hi = mid - 1;
          }
          if (lo >= n) break;
          const end = starts[lo]! + lens[lo]!;
          if (p + lit.length <= end) {
            test(lo);
            i = lo + 1;
            p = i < n ? bytes.indexOf(lit, starts[i]) : -1;
          } else p = bytes.indexOf(lit, p + 1);
        }
      } else for (; i < n; i++) test(i);
      m.upTo = Math.max(m.upTo, row.id + n - 1);
    }
    return m;
  }

  /** A params/results text by its id (calls.params_ref, results_ref). */
  text(id: number | null): string | null {
    if (id === null) return null;
    const at = this.textAt(id);
    if (!at) return null;
    const s = at.items.starts[at.i]!;
    return at.items.bytes.toString('utf8', s, s + at.items.lens[at.i]!);
  }

  /**
   * Opens an existing session database read-only (UserError if it is not one).
   * `cacheKb`: SQLite's page cache for this connection (threads that only
   * scan the whole session gain nothing from a large one).
   */
  static open(path: string, opts: { cacheKb?: number } = {}): SessionReader {
    const db = openExisting(path);
    if (opts.cacheKb !== undefined) db.pragma(`cache_size = -${Math.max(64, Math.trunc(opts.cacheKb))}`);
    // Blocks are read once and kept decoded (a few, in textCache and packs): SQLite's cache of their pages
    // would only hold copies (16 MB by default, per reader; a UI has five).
    const blocks = new Database(path, { readonly: true, fileMustExist: true });
    blocks.pragma('cache_size = -1024');
    return new SessionReader(path, db, blocks);
  }

  close(): void {
    this.db.close();
    this.blocks.close();
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
        `SELECT max(t) FROM (SELECT max(last_time) AS t FROM chunk_blocks UNION ALL SELECT max(time) FROM stream_events UNION ALL SELECT max(closed) FROM connections
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
    return r ? this.callFrom(r) : undefined;
  }

  /** Calls in id order (the order they were sent), optionally only those sent by `sentBy`, on one connection, or matching a filter. */
  *calls(opts: { sentBy?: number; conn?: number; filter?: SqlFilter } = {}): IterableIterator<CallRow> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (opts.filter) {
      where.push(`(${opts.filter.where})`);
      args.push(...filterArgs(opts.filter));
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
    for (const r of this.db.prepare(sql).iterate(...args) as IterableIterator<Raw>) yield this.callFrom(r);
  }

  /** Calls sent by `at` that had not returned by then: outstanding at `at`, or cut by a disconnect before it. */
  callsOpenAt(at: number): CallRow[] {
    return (
      this.db.prepare(`SELECT ${CALL_COLUMNS} FROM calls WHERE sent <= ? AND (returned IS NULL OR returned > ?) ORDER BY id`).all(at, at) as Raw[]
    ).map((r) => this.callFrom(r));
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
    return (this.db.prepare(`SELECT ${CALL_COLUMNS} FROM calls WHERE id >= ? ORDER BY id LIMIT ?`).all(fromId, limit) as Raw[]).map((r) => this.callFrom(r));
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
    // A part of the session: text: looks at the texts of its calls only.
    let texts: [number, number] = [0, 0];
    if (filter?.texts && (afterId > 0 || upToId < Number.MAX_SAFE_INTEGER)) {
      const r = this.db
        .prepare('SELECT min(min(coalesce(params_ref, 1e18), coalesce(results_ref, 1e18))) AS lo, max(max(coalesce(params_ref, 0), coalesce(results_ref, 0))) AS hi FROM calls WHERE id > ? AND id <= ?')
        .get(afterId, upToId) as { lo: number | null; hi: number | null };
      texts = [r.lo ?? 1, r.hi ?? 0];
    }
    for (const id of st.iterate(afterId, upToId, ...filterArgs(filter, texts)) as IterableIterator<number>) {
      if (n === out.length) {
        const b = new Int32Array(n * 2);
        b.set(out);
        out = b;
      }
      out[n++] = id;
    }
    this.ranged = null;
    return out.slice(0, n);
  }

  /** The calls with these ids (in the order given; missing ids are left out). */
  callsByIds(ids: ArrayLike<number>): CallRow[] {
    if (ids.length === 0) return [];
    const list = Array.from(ids, (x) => Math.trunc(x)).join(',');
    const rows = (this.db.prepare(`SELECT ${CALL_COLUMNS} FROM calls WHERE id IN (${list})`).all() as Raw[]).map((r) => this.callFrom(r));
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
    return (this.db.prepare(`SELECT ${CALL_COLUMNS} FROM calls WHERE parent_call = ? ORDER BY id`).all(id) as Raw[]).map((r) => this.callFrom(r));
  }


  /** Per-call latency facts of the calls matching a filter: for per-method statistics. */
  *callTimings(filter?: SqlFilter): IterableIterator<[title: string, status: string, sent: number, returned: number | null, serverProcess: number, executor: number | null]> {
    const where = filter ? `WHERE ${filter.where}` : '';
    yield* this.db
      .prepare(`SELECT title, status, sent, returned, server_process, executor_thread FROM calls ${where}`)
      .raw()
      .iterate(...filterArgs(filter)) as IterableIterator<[string, string, number, number | null, number, number | null]>;
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
           FROM messages WHERE id IN (SELECT call_msg FROM calls WHERE id = ? UNION ALL SELECT return_msg FROM calls WHERE id = ?) ORDER BY id`,
      )
      .all(callId, callId) as MessageRow[];
  }

  /**
   * `length` bytes of one direction of a connection's stream starting at byte
   * `offset` (a message's bytes, from the recorded chunks).
   */
  streamBytes(conn: number, dir: Dir, offset: number, length: number): Buffer {
    const out: Buffer[] = [];
    const from = (this.blocks.prepare('SELECT max(offset) FROM chunk_blocks WHERE conn = ? AND dir = ? AND offset <= ?').pluck().get(conn, dir, offset) as number | null) ?? 0;
    const st = this.blocks.prepare(`SELECT ${CHUNK_BLOCK} FROM chunk_blocks WHERE conn = ? AND dir = ? AND offset >= ? ORDER BY offset`);
    let need = length;
    for (const r of st.iterate(conn, dir, from) as IterableIterator<ChunkBlockRow>) {
      const b = this.chunkBlock(r).bytes;
      const s = Math.max(0, offset - r.offset);
      if (s < b.length) {
        const piece = b.subarray(s, Math.min(b.length, s + need));
        out.push(piece);
        need -= piece.length;
      }
      if (need <= 0) break;
    }
    return Buffer.concat(out);
  }

  /** The recorded chunks in seq order (of one connection if given): the blocks of all directions merged. */
  private *chunkItems(conn?: number): IterableIterator<Extract<StreamItem, { k: 'data' }>> {
    const st = this.blocks.prepare(`SELECT ${CHUNK_BLOCK} FROM chunk_blocks ${conn !== undefined ? 'WHERE conn = ?' : ''} ORDER BY seq`);
    const rows = (conn !== undefined ? st.iterate(conn) : st.iterate()) as IterableIterator<ChunkBlockRow>;
    // The blocks being read (one per direction at most), a heap by their next chunk's seq.
    interface Cursor { b: BlockItems; i: number; key: number; conn: number; dir: Dir }
    const heap: Cursor[] = [];
    const less = (a: Cursor, b: Cursor) => a.key < b.key;
    const up = (k: number) => {
      while (k > 0) {
        const p = (k - 1) >> 1;
        if (!less(heap[k]!, heap[p]!)) break;
        [heap[k], heap[p]] = [heap[p]!, heap[k]!];
        k = p;
      }
    };
    const down = (k: number) => {
      for (;;) {
        const l = 2 * k + 1;
        const r = l + 1;
        let m = k;
        if (l < heap.length && less(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && less(heap[r]!, heap[m]!)) m = r;
        if (m === k) return;
        [heap[k], heap[m]] = [heap[m]!, heap[k]!];
        k = m;
      }
    };
    let next = rows.next().value;
    for (;;) {
      while (next && (heap.length === 0 || next.seq < heap[0]!.key)) {
        const b = this.chunkBlock(next);
        if (b.n > 0) {
          heap.push({ b, i: 0, key: b.keys![0]!, conn: next.conn, dir: next.dir });
          up(heap.length - 1);
        }
        next = rows.next().value;
      }
      const c = heap[0];
      if (!c) return;
      const { b, i } = c;
      yield { k: 'data', seq: c.key, conn: c.conn, dir: c.dir, time: b.times![i]!, bytes: b.bytes.subarray(b.starts[i]!, b.starts[i]! + b.lens[i]!) };
      if (++c.i < b.n) {
        c.key = b.keys![c.i]!;
        down(0);
      } else {
        const last = heap.pop()!;
        if (heap.length) {
          heap[0] = last;
          down(0);
        }
      }
    }
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
        it: this.chunkItems(conn) as IterableIterator<Raw>,
        head: undefined,
        make: (r) => r as unknown as StreamItem,
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
    return this.db.prepare('SELECT 1 FROM chunk_blocks LIMIT 1').get() !== undefined;
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
