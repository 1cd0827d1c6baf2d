// Chunks and texts through the store's blocks (src/store/blocks.ts) and back
// through the session reader: every byte and text as written, across block
// boundaries, while the recording is still open (raw tail rows) and after it
// ended (deflated blocks only).

import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Store } from '../../src/store/store.js';
import { SessionReader } from '../../src/store/reader.js';
import { BLOCK_BYTES } from '../../src/store/blocks.js';
import { loadSchemaBundle } from '../../src/decoder/sources.js';
import { emptyDelta, type CallRow } from '../../src/session/rows.js';
import type { ConnRecord } from '../../src/session/records.js';
import { prng } from '../../src/bench/synthetic-session.js';
import { filterSql } from '../../src/store/filter-sql.js';
import { parseFilter } from '../../src/filter/parse.js';

const dir = mkdtempSync(join(tmpdir(), 'ipc-trace-blocks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const schemas = loadSchemaBundle([], []);
const create = (name: string) => Store.create(join(dir, name), { created: 'test' }, [{ source: schemas.source, cgr: schemas.cgr }]);
const conn = (id: number) => ({ id, opened: 0, label: `c${id}` }) as unknown as ConnRecord;

/** Random bytes of a random length up to `max`. */
function bytesOf(rand: () => number, max: number): Buffer {
  const b = Buffer.alloc(1 + Math.floor(rand() * max));
  for (let i = 0; i < b.length; i++) b[i] = rand() < 0.5 ? 0 : Math.floor(rand() * 256);
  return b;
}

describe('chunk blocks', () => {
  const rand = prng(7);
  const sent: { conn: number; dir: '>' | '<'; bytes: Buffer; time: number }[] = [];
  const db = join(dir, 'chunks.sqlite');
  const store = create('chunks.sqlite');
  store.batch(() => {
    for (const id of [1, 2]) store.open(conn(id), {} as never);
  });
  let t = 1000;
  // Batches of interleaved chunks of two connections' four directions; one item exactly BLOCK_BYTES, some larger.
  for (let b = 0; b < 60; b++) {
    store.batch(() => {
      for (let k = 0; k < 1 + (b % 7); k++) {
        const c = { conn: 1 + (k % 2), dir: (rand() < 0.5 ? '>' : '<') as '>' | '<', time: (t += 0.5), bytes: b === 20 && k === 0 ? Buffer.alloc(BLOCK_BYTES, 7) : bytesOf(rand, b % 10 === 3 ? 3 * BLOCK_BYTES : 4000) };
        sent.push(c);
        store.chunk(c.conn, c.dir, c.bytes, c.time);
      }
    });
  }
  const expectStream = (r: SessionReader) => {
    const got = [...r.stream()].filter((i) => i.k === 'data');
    expect(got.length).toBe(sent.length);
    got.forEach((g, i) => {
      const s = sent[i]!;
      expect([g.conn, g.dir, g.time]).toEqual([s.conn, s.dir, s.time]);
      expect(g.bytes.equals(s.bytes), `chunk ${i}`).toBe(true);
    });
    // Any range of a direction, across chunk and block boundaries.
    for (const [c, d] of [[1, '>'], [2, '<']] as const) {
      const whole = Buffer.concat(sent.filter((s) => s.conn === c && s.dir === d).map((s) => s.bytes));
      for (const [off, len] of [[0, 10], [BLOCK_BYTES - 5, 10], [BLOCK_BYTES, BLOCK_BYTES + 1], [whole.length - 3, 3], [1234, 3 * BLOCK_BYTES]]) {
        expect(r.streamBytes(c, d, off, len).equals(whole.subarray(off, off + len)), `${c}${d} ${off}+${len}`).toBe(true);
      }
    }
    expect(r.query('SELECT count(*) AS n, sum(length(bytes)) AS b FROM chunks')).toEqual([{ n: sent.length, b: sent.reduce((a, s) => a + s.bytes.length, 0) }]);
  };

  it('reads back every chunk in order while recording (raw tail rows and blocks)', () => {
    const raw = new Database(db, { readonly: true });
    expect(raw.prepare('SELECT count(*) FROM chunk_blocks WHERE z = 0').pluck().get()).toBeGreaterThan(0);
    expect(raw.prepare('SELECT count(*) FROM chunk_blocks WHERE z = 1').pluck().get()).toBeGreaterThan(0);
    raw.close();
    const r = SessionReader.open(db);
    expectStream(r);
    r.close();
  });

  it('reads back every chunk after the recording ended, all in deflated blocks', () => {
    store.shutdown();
    const raw = new Database(db, { readonly: true });
    expect(raw.prepare('SELECT count(*) FROM chunk_blocks WHERE z = 0').pluck().get()).toBe(0);
    // Blocks of at most twice BLOCK_BYTES (a bigger chunk alone), and not much smaller (they compress well).
    expect(raw.prepare('SELECT count(*) FROM chunk_blocks WHERE size > ? AND n > 1').pluck().get(2 * BLOCK_BYTES)).toBe(0);
    const avg = raw.prepare('SELECT avg(size) FROM chunk_blocks WHERE n > 1').pluck().get() as number;
    expect(avg).toBeGreaterThan(BLOCK_BYTES * 0.75);
    raw.close();
    const r = SessionReader.open(db);
    expectStream(r);
    r.close();
  });
});

describe('small blocks deflated together (packs)', () => {
  it('reads back the chunks of many short connections, closed in the same batches', () => {
    const rand = prng(3);
    const db = join(dir, 'packs.sqlite');
    const store = create('packs.sqlite');
    const sent = new Map<number, Buffer[]>();
    let t = 0;
    for (let b = 0; b < 10; b++) {
      store.batch(() => {
        for (let k = 0; k < 30; k++) {
          const id = b * 30 + k + 1;
          store.open(conn(id), {} as never);
          const chunks = Array.from({ length: 1 + (id % 4) }, () => (id % 50 === 0 ? Buffer.alloc(BLOCK_BYTES, id) : bytesOf(rand, 300)));
          for (const c of chunks) store.chunk(id, '>', c, (t += 1));
          sent.set(id, chunks);
          store.close(conn(id), t, null);
        }
      });
    }
    store.shutdown();
    const raw = new Database(db, { readonly: true });
    // One pack per batch (or more when a batch holds over 256 KB); the big connections' blocks deflated alone, one per chunk.
    expect(raw.prepare('SELECT count(*) FROM chunk_packs').pluck().get()).toBeGreaterThanOrEqual(10);
    const big = [...sent.entries()].filter(([id]) => id % 50 === 0).reduce((a, [, c]) => a + c.length, 0);
    expect(raw.prepare('SELECT count(*) FROM chunk_blocks WHERE z = 1').pluck().get()).toBe(big);
    raw.close();
    const r = SessionReader.open(db);
    const got = new Map<number, Buffer[]>();
    for (const it of r.stream()) if (it.k === 'data') got.set(it.conn, [...(got.get(it.conn) ?? []), Buffer.from(it.bytes)]);
    expect(got).toEqual(sent);
    for (const id of [1, 50, 299]) {
      const whole = Buffer.concat(sent.get(id)!);
      expect(r.streamBytes(id, '>', 1, whole.length).equals(whole.subarray(1))).toBe(true);
    }
    r.close();
  });
});

describe('text blocks', () => {
  const rand = prng(11);
  const db = join(dir, 'texts.sqlite');
  const store = create('texts.sqlite');
  const call = (id: number): CallRow => ({
    id, conn: 1, dir: '>', questionId: id, interfaceId: '0x1', methodId: 0, iface: 'Wallet', method: 'm', title: 'Wallet.m', target: 'Wallet', hasContext: false,
    caller: null, executor: null, clientProcess: 1, serverProcess: 2, parent: null, depth: 0, status: 'pending', exception: null, requestNo: null,
    sent: id, returned: null, cancelRequested: null, finished: null, params: null, results: null, retired: false,
  });
  const want = new Map<number, { params: string | null; results: string | null }>();
  const text = (id: number, kind: string) => {
    // Some empty, some long (beyond a block), some with characters beyond latin1.
    const n = id % 13 === 0 ? 0 : id % 29 === 0 ? BLOCK_BYTES + 100 : Math.floor(rand() * 600);
    return `(${kind} = "${id}:${'x'.repeat(n)}${id % 5 === 0 ? ' ₿ é' : ''}")`;
  };
  const pending: CallRow[] = [];
  let next = 1;
  // Each batch sends new calls (params) and returns some earlier ones (results, written later than their params).
  for (let b = 0; b < 40; b++) {
    const d = emptyDelta();
    for (let k = 0; k < 20; k++) {
      const c = call(next++);
      c.params = c.id % 17 === 0 ? null : text(c.id, 'params');
      want.set(c.id, { params: c.params, results: null });
      d.calls.push(c);
      pending.push(c);
    }
    for (const c of pending.splice(0, 15 + (b % 10))) {
      const r = { ...c, status: 'returned' as const, returned: c.sent + 1, results: text(c.id, 'results'), retired: true };
      want.get(c.id)!.results = r.results;
      d.calls.push(r);
    }
    store.apply(d);
  }

  const expectTexts = (r: SessionReader) => {
    let n = 0;
    for (const c of r.calls()) {
      expect({ params: c.params, results: c.results }, `call ${c.id}`).toEqual(want.get(c.id));
      n++;
    }
    expect(n).toBe(want.size);
    const v = r.query('SELECT id, params, results FROM v_calls ORDER BY id') as { id: number; params: string | null; results: string | null }[];
    expect(v.map((x) => [x.params, x.results])).toEqual([...want.values()].map((x) => [x.params, x.results]));
  };

  it('reads back every params and results text while recording and after', () => {
    const r = SessionReader.open(db);
    expectTexts(r);
    r.close();
    store.shutdown();
    const raw = new Database(db, { readonly: true });
    expect(raw.prepare('SELECT count(*) FROM text_blocks WHERE z = 0').pluck().get()).toBe(0);
    expect(raw.prepare('SELECT count(*) FROM text_blocks').pluck().get()).toBeGreaterThan(2);
    raw.close();
    const r2 = SessionReader.open(db);
    expectTexts(r2);
    r2.close();
  });

  it('a text: filter matches texts in blocks as a regular expression on the plain texts does', () => {
    const r = SessionReader.open(db);
    for (const q of ['text:₿', 'text:"12[0-9]:x"', 'text:results\\ =\\ "3', 'text:^\\(params']) {
      const f = parseFilter(q);
      if (!f.ok) throw new Error(f.error);
      const re = new RegExp((f.expr as { value: string }).value);
      const expected = [...want.entries()].filter(([, t]) => (t.params !== null && re.test(t.params)) || (t.results !== null && re.test(t.results))).map(([id]) => id);
      expect(expected.length, q).toBeGreaterThan(0);
      const sql = filterSql(f.expr, { threads: [], processes: [], now: 0 });
      expect([...r.callIds(sql)], q).toEqual(expected);
      // Part of the session (as the UI scans it: the last calls first, then the rest in parts):
      // the texts of those calls only, the same matches.
      for (const [after, upTo] of [[700, 800], [0, 333], [333, 799], [790, Number.MAX_SAFE_INTEGER]] as const) {
        expect([...r.callIds(sql, after, upTo)], `${q} (${after}, ${upTo}]`).toEqual(expected.filter((id) => id > after && id <= upTo));
      }
    }
    r.close();
  });
});
