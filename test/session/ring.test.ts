// The recorder's shared ring: records come out as they went in, in order,
// across wrap-arounds; a full ring refuses a record instead of overwriting.

import { it, expect } from 'vitest';
import { createRing, RingReader, RingWriter, KIND, HEADER, TakenOver } from '../../src/session/ring.js';
import { prng as rng } from '../../src/bench/synthetic-session.js';

/** A deterministic pseudo-random sequence. */

it('passes records through in order across many wrap-arounds, refusing when full', () => {
  const shared = createRing(4096);
  const w = new RingWriter(shared);
  const r = new RingReader(shared);
  const rand = rng(1);
  const sent: { conn: number; bytes: Uint8Array; text?: string | null }[] = [];
  let got = 0;
  let refused = 0;
  const wrong: string[] = [];
  const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, j) => x === b[j]);
  for (let i = 0; i < 20000; i++) {
    if (rand() < 0.6) {
      const n = Math.floor(rand() * 700);
      const bytes = new Uint8Array(n).map((_, j) => (i + j) & 0xff);
      if (w.write(KIND.data, i, i % 2 ? '<' : '>', i, bytes)) sent.push({ conn: i, bytes });
      else refused++;
    } else if (rand() < 0.5) {
      const text = rand() < 0.2 ? null : `reason ${i} ü`;
      if (w.writeText(KIND.close, i, '>', i, text)) sent.push({ conn: i, bytes: new Uint8Array(0), text });
      else refused++;
    }
    // The reader lags behind and catches up in bursts.
    if (rand() < 0.3) {
      for (let rec = r.next(); rec; rec = r.next()) {
        const s = sent[got++]!;
        const ok = rec.conn === s.conn && rec.time === s.conn &&
          (rec.kind === KIND.data ? rec.dir === (s.conn % 2 ? '<' : '>') && same(r.payload(rec), s.bytes) : r.text(rec) === s.text);
        if (!ok) wrong.push(`record ${got - 1} (conn ${s.conn})`);
      }
      r.release();
    }
  }
  expect(wrong).toEqual([]);
  expect(got).toBeGreaterThan(5000);
  expect(got).toBeLessThanOrEqual(sent.length);
  expect(refused).toBeGreaterThan(10);
});

it('never hands out space the reader has not released, and reports the oldest pending record', () => {
  const shared = createRing(1000);
  const w = new RingWriter(shared);
  const r = new RingReader(shared);
  const chunk = new Uint8Array(200 - HEADER).fill(1);
  let n = 0;
  while (w.write(KIND.data, 1, '>', 1000 + n, chunk)) n++;
  expect(n).toBe(4); // 5 x 200 would fill the ring: it must never look empty
  expect(w.lagMs(1500)).toBeGreaterThan(0);
  expect(r.next()!.time).toBe(1000);
  expect(w.write(KIND.data, 1, '>', 0, chunk)).toBe(false); // read, not released
  r.release();
  r.setRate(6000); // bytes per ms
  // The oldest record not yet committed was written at 1001, and 3 x 200 bytes wait at 6000 bytes/ms.
  expect(w.lagMs(1500)).toBe(499 + 0.1);
  expect(w.write(KIND.data, 1, '>', 1004, chunk)).toBe(true); // wraps to the start
  const times: number[] = [];
  for (let rec = r.next(); rec; rec = r.next()) times.push(rec.time);
  expect(times).toEqual([1001, 1002, 1003, 1004]);
  r.release();
  expect(w.lagMs(1500)).toBe(0);
  expect(r.drained).toBe(true);
});

it('publishes what the reader committed as whole snapshots, and a seq bound that only rises; TAKEN stops its commits', () => {
  const shared = createRing(1024);
  const w = new RingWriter(shared);
  const r = new RingReader(shared);
  expect(w.committed()).toEqual({ records: 0, seq: 0, skippedConnections: 0, skippedBytes: 0 });
  r.beforeCommit(40);
  r.publishCommitted(10, 1, 100);
  r.beforeCommit(30); // a nested transaction's lower seq does not lower the bound
  expect(w.committed()).toEqual({ records: 10, seq: 40, skippedConnections: 1, skippedBytes: 100 });
  // Snapshots alternate between two slots: the last whole one is read.
  for (let i = 11; i < 20; i++) r.publishCommitted(i, i, i * 10);
  expect(w.committed()).toEqual({ records: 19, seq: 40, skippedConnections: 19, skippedBytes: 190 });
  expect(w.committedRecords()).toBe(19);
  expect(w.aborted).toBe(false);
  w.takeOver();
  expect(r.takenOver && r.aborted).toBe(true);
  expect(() => r.beforeCommit(50)).toThrow(TakenOver);
  // The bound was raised before the refusal: a row of that transaction may have been written (and is rolled back).
  expect(w.committed().seq).toBe(50);
});
