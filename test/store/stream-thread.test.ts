// The recorded stream read on another thread (src/store/stream-thread.ts)
// against SessionReader.stream() read here: the same items in the same order
// (opens, chunks, ends, gaps, closes with and without a reason,
// interventions), enough of them to wrap the ring several times and wait for
// room, chunks larger than a ring record cut in pieces that add up to the
// same bytes; leaving early stops the reading thread; a database it cannot
// read is one error, not a hang.

import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Store } from '../../src/store/store.js';
import { SessionReader } from '../../src/store/reader.js';
import type { ReplayItem } from '../../src/store/stream-thread.js';
import { ROOT } from '../helpers.js';
import { loadSchemaBundle } from '../../src/decoder/sources.js';
import type { ConnRecord } from '../../src/session/records.js';
import { prng } from '../../src/bench/synthetic-session.js';

// From dist/: the reading thread runs dist/store/stream-worker.js (npm test builds first).
const { streamOnThread, MAX_PIECE } = (await import(join(ROOT, 'dist/store/stream-thread.js'))) as typeof import('../../src/store/stream-thread.js');
const dir = mkdtempSync(join(tmpdir(), 'ipc-trace-stream-thread-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const schemas = loadSchemaBundle([], []);
const conn = (id: number, opened: number) => ({ id, opened, label: `conn #${id}` }) as unknown as ConnRecord;

/** A session with every kind of stream item: 24 MB of chunks (three times the ring) in 400 connections. */
function session(): string {
  const db = join(dir, 'all.sqlite');
  const store = Store.create(db, { created: 'test' }, [{ source: schemas.source, cgr: schemas.cgr }]);
  const rand = prng(3);
  let t = 1000;
  for (let b = 0; b < 40; b++) {
    store.batch(() => {
      for (let k = 0; k < 10; k++) {
        const id = b * 10 + k + 1;
        const c = conn(id, (t += 1));
        store.open(c, { client: id % 3 === 0 ? `client-${id}` : undefined, server: id % 5 === 0 ? `server-${id}` : undefined } as never);
        for (let i = 0; i < 1 + (id % 9); i++) {
          const big = id === 77 && i === 0 ? 2 * MAX_PIECE + 12345 : 0;
          const bytes = Buffer.alloc(big || 1 + Math.floor(rand() * 24000), id & 0xff);
          bytes[0] = i;
          store.chunk(id, rand() < 0.5 ? '>' : '<', bytes, (t += 0.25));
        }
        if (id % 7 === 0) store.gap(c, '<', 1000 + id, (t += 0.25));
        if (id % 11 === 0) store.intervention(c, { time: (t += 0.25), conn: id, dir: '>', kind: 'hold', held: id, questionId: 3, title: 'Wallet.getBalances', text: `hold #${id}` });
        if (id % 2 === 0) store.end(c, '>', (t += 0.25));
        store.close(c, (t += 0.25), id % 4 === 0 ? `reason ${id}` : null);
      }
    });
  }
  store.shutdown();
  return db;
}

/** Items as comparable values: chunks joined per connection direction (pieces may be cut differently), everything else in order. */
function summary(items: Iterable<ReplayItem>): { events: unknown[]; bytes: Map<string, Buffer> } {
  const events: unknown[] = [];
  const parts = new Map<string, Buffer[]>();
  for (const it of items) {
    if (it.k === 'data') {
      const key = `${it.conn}${it.dir}`;
      const list = parts.get(key) ?? [];
      list.push(Buffer.from(it.bytes));
      parts.set(key, list);
      events.push({ k: 'data', conn: it.conn, dir: it.dir, time: it.time });
    } else {
      const { seq: _seq, ...rest } = it as ReplayItem & { seq?: number };
      events.push(rest);
    }
  }
  // A chunk cut in pieces: consecutive data events of one direction at one time count once.
  const merged = events.filter((e, i) => !(i > 0 && (e as { k: string }).k === 'data' && JSON.stringify(e) === JSON.stringify(events[i - 1])));
  return { events: merged, bytes: new Map([...parts].map(([k, v]) => [k, Buffer.concat(v)])) };
}

describe('streamOnThread', () => {
  const db = session();

  it('gives the items SessionReader.stream() gives, in order', () => {
    const r = SessionReader.open(db);
    const here = summary(r.stream());
    r.close();
    const there = summary(streamOnThread(db));
    const kinds = new Set(here.events.map((e) => (e as { k: string }).k));
    expect([...kinds].sort()).toEqual(['close', 'data', 'end', 'gap', 'intervention', 'open']);
    expect([...here.bytes.values()].reduce((a, b) => a + b.length, 0)).toBeGreaterThan(3 * (8 << 20));
    expect(there.events).toEqual(here.events);
    expect([...there.bytes.keys()]).toEqual([...here.bytes.keys()]);
    for (const [k, b] of here.bytes) expect(there.bytes.get(k)!.equals(b), `bytes of ${k}`).toBe(true);
  });

  it('cuts a chunk larger than a ring record in pieces', () => {
    const sizes = [...streamOnThread(db)].flatMap((it) => (it.k === 'data' && it.conn === 77 ? [it.bytes.length] : []));
    expect(Math.max(...sizes)).toBe(MAX_PIECE);
    expect(sizes.slice(0, 3)).toEqual([MAX_PIECE, MAX_PIECE, 12345]);
  });

  it('stops the reading thread when the loop is left early, or before it starts', () => {
    for (let k = 0; k < 5; k++) {
      let n = 0;
      for (const it of streamOnThread(db)) if (it.k === 'data' && ++n === 100) break;
      expect(n).toBe(100);
      streamOnThread(db).return!();
    }
  });

  it('reports a database it cannot read as one error', () => {
    const bad = join(dir, 'bad.sqlite');
    const d = new Database(bad);
    d.exec('CREATE TABLE meta (key TEXT, value TEXT)');
    d.close();
    expect(() => [...streamOnThread(bad)]).toThrow(/cannot read the recorded stream: .* not an ipc-trace session database/);
    const junk = join(dir, 'junk.sqlite');
    writeFileSync(junk, 'not a database at all'.repeat(100));
    expect(() => [...streamOnThread(junk)]).toThrow(/cannot read the recorded stream/);
  });
});
