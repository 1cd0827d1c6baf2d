// RecorderClient, the relay side of recording: events go into the shared ring;
// when recording falls behind, a direction gets one gap that grows with every
// later drop, new connections are skipped, and ends/closes wait their turn, so
// the gaps and skipped bytes always add up to what was dropped.

import { it, expect } from 'vitest';
import { RecorderClient, RecordItem } from '../../src/session/recorder.js';
import { KIND, RingReader } from '../../src/session/ring.js';

/** Reads everything in the ring as [kind, conn, dir, size-or-bytes] and releases it. */
function drain(r: RingReader): (string | number)[][] {
  const out: (string | number)[][] = [];
  for (let rec = r.next(); rec; rec = r.next()) {
    const k = Object.entries(KIND).find(([, v]) => v === rec.kind)![0];
    out.push([k, rec.conn, rec.dir, k === 'gap' ? r.number(rec) : k === 'data' ? rec.len : 0]);
  }
  r.release();
  return out;
}

const chunk = (n: number) => new Uint8Array(n).fill(7);

it('past the ring a direction gets one gap that keeps growing; the other direction goes on', () => {
  const r = new RecorderClient({ ringBytes: 1024, maxLagMs: 1e9 });
  const reader = new RingReader(r.ring);
  r.open({ id: 1, time: 1, label: 't' });
  r.data(1, '>', chunk(600), 2);
  r.data(1, '>', chunk(600), 3); // no room: dropped, gap starts
  r.data(1, '>', chunk(10), 4); // the direction stays dropped
  r.data(1, '<', chunk(100), 5); // fits
  expect(drain(reader)).toEqual([
    ['open', 1, '>', 0],
    ['data', 1, '>', 600],
    ['gap', 1, '>', 600],
    ['data', 1, '<', 100],
  ]);
  // The bytes dropped after the gap was written are reported with the direction's end (a second gap record, which the worker adds to the first).
  r.data(1, '>', chunk(20), 4);
  r.end(1, '>', 5);
  r.close(1, 6, null);
  expect(drain(reader)).toEqual([
    ['gap', 1, '>', 30],
    ['end', 1, '>', 0],
    ['close', 1, '>', 0],
  ]);
  expect(r.droppedBytes).toBe(630);
  const f = r.finishMessage(0);
  expect(f).toMatchObject({ droppedBytes: 630, skippedConnections: 0, items: [] });
});

it('while recording is behind, data goes to gaps, and a connection is skipped only when the ring is full', () => {
  const r = new RecorderClient({ ringBytes: 768, maxLagMs: 50 });
  const reader = new RingReader(r.ring);
  r.open({ id: 1, time: 1000, label: 'a' });
  r.data(1, '>', chunk(450), 1000);
  // 100 ms later the worker has not committed anything: data is dropped; a new connection is still opened.
  r.data(1, '<', chunk(40), 1100);
  r.open({ id: 2, time: 1100, label: 'b' });
  r.data(2, '>', chunk(7), 1101);
  r.end(1, '<', 1104);
  // No room left for another open: connection #3 is skipped, with its bytes.
  r.open({ id: 3, time: 1105, label: 'c'.repeat(100) });
  r.data(3, '>', chunk(70), 1106);
  r.close(3, 1107, null);
  expect(drain(reader)).toEqual([
    ['open', 1, '>', 0],
    ['data', 1, '>', 450],
    ['gap', 1, '<', 40],
    ['open', 2, '>', 0],
    ['gap', 2, '>', 7],
    ['end', 1, '<', 0],
  ]);
  r.close(2, 1200, 'client: read ECONNRESET');
  expect(drain(reader)).toEqual([['close', 2, '>', 0]]);
  expect(r.skippedConnections).toBe(1);
  expect(r.skippedBytes).toBe(70);
  expect(r.droppedBytes).toBe(40 + 7 + 70);
});

it('the finish message carries what could not go through the ring, and the totals add up', () => {
  const r = new RecorderClient({ ringBytes: 512, maxLagMs: 1e9 });
  const reader = new RingReader(r.ring);
  r.open({ id: 1, time: 1, label: 'a' });
  r.data(1, '>', chunk(380), 2); // fills the ring (the reader reads nothing until the end)
  r.data(1, '<', chunk(50), 3); // gap on '<': the gap record still fits
  r.data(1, '<', chunk(25), 4);
  r.end(1, '<', 5); // the rest of the gap still fits, the end does not: queued
  r.data(1, '>', chunk(9), 6); // gap on '>' (queued behind the end), the connection stays open
  r.data(1, '>', chunk(11), 7);
  r.open({ id: 2, time: 8, label: 'b' }); // skipped
  r.data(2, '<', chunk(3), 9);
  const f = r.finishMessage(123);
  expect(f.deadline).toBe(123);
  expect(drain(reader)).toEqual([['open', 1, '>', 0], ['data', 1, '>', 380], ['gap', 1, '<', 50], ['gap', 1, '<', 25]]);
  expect(f.items).toEqual<RecordItem[]>([
    { k: 'end', id: 1, dir: '<', time: 5 },
    { k: 'gap', id: 1, dir: '>', time: 6, bytes: 20 },
  ]);
  expect(f).toMatchObject({ droppedBytes: 50 + 25 + 20 + 3, skippedConnections: 1, skippedBytes: 3 });
});

it("keeps a closed connection's counts only until the worker has committed past its close; cut() has the rest and the worker's skipped ones", () => {
  const r = new RecorderClient({ ringBytes: 1 << 16, maxLagMs: 1e9 });
  const reader = new RingReader(r.ring);
  for (let id = 1; id <= 3; id++) {
    r.open({ id, time: id, label: 't' });
    r.data(id, '>', chunk(10 * id), id);
    r.data(id, '<', chunk(id), id);
    r.close(id, id + 0.5, null);
  }
  r.open({ id: 4, time: 4, label: 't' });
  r.data(4, '<', chunk(40), 4);
  // The worker committed everything up to connection 2's close (records 1-4 are 1's, 5-8 are 2's), and skipped a connection of its own.
  drain(reader);
  reader.publishCommitted(8, 1, 77);
  r.finishMessage(0);
  const cut = r.cut();
  expect(cut.conns).toEqual([
    { id: 3, handed: [30, 3], closed: { time: 3.5, reason: null } },
    { id: 4, handed: [0, 40], closed: null },
  ]);
  expect(cut).toMatchObject({ tracked: true, handedBytes: 10 + 1 + 20 + 2 + 30 + 3 + 40, skippedConnections: 1, skippedBytes: 77, committed: { records: 8 } });
});

it('a closed connection is let go of as the worker commits past it, however many there are', () => {
  const r = new RecorderClient({ ringBytes: 1 << 16, maxLagMs: 1e9 });
  const reader = new RingReader(r.ring);
  let read = 0;
  for (let id = 1; id <= 20000; id++) {
    r.open({ id, time: id, label: 't' });
    r.data(id, '>', chunk(5), id);
    r.close(id, id, null);
    read += drain(reader).length;
    // The worker commits a little behind the relay.
    if (id % 100 === 0) reader.publishCommitted(read - 30, 0, 0);
  }
  // What it holds (not just what cut() shows) stays bounded.
  expect((r as unknown as { closed: unknown[] }).closed.length).toBeLessThan(3000);
  const kept = r.cut().conns;
  expect(kept.length).toBeLessThanOrEqual(10);
  expect(kept.map((c) => c.id)).toEqual(kept.map((_, i) => 20000 - kept.length + 1 + i));
});

it('bytes lost before the ring (the native pump dropped their copies) become the direction\'s gap, with their size', () => {
  const r = new RecorderClient({ ringBytes: 4096, maxLagMs: 1e9 });
  const reader = new RingReader(r.ring);
  r.open({ id: 1, time: 1, label: 't' });
  r.data(1, '>', chunk(100), 2);
  r.lost(1, '>', 5000, 3); // more than the ring holds: only its size travels
  r.data(1, '>', chunk(10), 4); // after a gap the direction stays dropped
  r.data(1, '<', chunk(50), 5); // the other direction goes on
  r.lost(1, '<', 7, 6);
  r.end(1, '>', 7);
  expect(drain(reader)).toEqual([
    ['open', 1, '>', 0],
    ['data', 1, '>', 100],
    ['gap', 1, '>', 5000],
    ['data', 1, '<', 50],
    ['gap', 1, '<', 7],
    ['gap', 1, '>', 10],
    ['end', 1, '>', 0],
  ]);
  expect(r.droppedBytes).toBe(5017);
  // Lost bytes were handed to recording too: a takeover compares them with the database.
  expect(r.cut().handedBytes).toBe(100 + 5000 + 10 + 50 + 7);
});

it('data leaves room in a full ring for the gaps, ends and closes that account for it: they go in at once, not into the queue', () => {
  const r = new RecorderClient({ ringBytes: 1 << 20, maxLagMs: 1e9 });
  const reader = new RingReader(r.ring);
  r.open({ id: 1, time: 1, label: 't' });
  const dirOf = (i: number) => (i % 2 ? '<' : '>');
  let n = 0;
  // Chunks as small as a gap record: the ring fills up to the last few bytes.
  while (r.droppedBytes === 0) r.data(1, dirOf(n), chunk(8), 2 + n++);
  const first = dirOf(n - 1);
  // The other direction gets its gap too (its next chunk finds no room either).
  r.data(1, dirOf(n), chunk(8), 2 + n);
  r.end(1, '>', 1e6);
  r.close(1, 1e6, null);
  // Nothing waits in the relay's queue: everything is in the ring, behind the data.
  expect(r.records).toBe(1 + (n - 1) + 2 + 2);
  const got = drain(reader);
  expect(got.slice(-4)).toEqual([
    ['gap', 1, first, 8],
    ['gap', 1, dirOf(n), 8],
    ['end', 1, '>', 0],
    ['close', 1, '>', 0],
  ]);
  expect(got.filter((x) => x[0] === 'data').length).toBe(n - 1);
  // What data left free is small: the ring was full but for it.
  expect((n - 1) * 28).toBeGreaterThan((1 << 20) - 40 * 1024);
});
