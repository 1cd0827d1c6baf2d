// While recording is behind, the gaps the relay reports behind the backlog go
// into the database with the next commit (src/cli/gaps-ahead.ts), not once
// the backlog before them is recorded: a killed recorder then loses the
// backlog only. The database stays in stream order at every commit, and ends
// as if the gaps had been read in turn. And a batch that runs long commits in
// parts (Recording.commitEveryMs).

import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Recording } from '../../src/cli/recording.js';
import { GapsAhead } from '../../src/cli/gaps-ahead.js';
import { RecorderClient } from '../../src/session/recorder.js';
import type { RecordItem } from '../../src/session/recorder.js';
import { KIND, RingReader } from '../../src/session/ring.js';
import type { ConnOpen } from '../../src/session/pipeline.js';
import { captureFrames } from '../../src/soak/traffic.js';
import { SessionReader } from '../../src/store/reader.js';

const dir = mkdtempSync(join(tmpdir(), 'ipt-gaps-ahead-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const frames = captureFrames('template-01', '>');

function recording(name: string): Recording {
  return new Recording({ db: join(dir, name), schemaFiles: [], importDirs: [], maxChars: Infinity, command: 'test', printLog: false });
}

/** Reads up to `n` ring records as the recording worker does (record-worker.ts: one gap row per direction, later ones add to it). */
function read(reader: RingReader, ahead: GapsAhead | null, gapped: Set<string>, n: number): RecordItem[] {
  const items: RecordItem[] = [];
  for (let r = reader.next(); r; r = items.length < n ? reader.next() : null) {
    if (r.kind === KIND.open) items.push({ k: 'open', info: JSON.parse(reader.text(r)!) as ConnOpen });
    else if (r.kind === KIND.data) items.push({ k: 'data', id: r.conn, dir: r.dir, time: r.time, bytes: reader.payload(r) });
    else if (r.kind === KIND.end) items.push({ k: 'end', id: r.conn, dir: r.dir, time: r.time });
    else if (r.kind === KIND.gap) {
      const key = `${r.conn}${r.dir}`;
      items.push({ k: 'gap', id: r.conn, dir: r.dir, time: r.time, bytes: reader.number(r), more: gapped.has(key), ...(ahead?.reached(reader.records) ? { ahead: true } : {}) });
      gapped.add(key);
    }
  }
  return items;
}

/** The session's stream as replay reads it: [kind, conn, dir, bytes] in seq order. */
function stream(db: string): [string, number, string, number][] {
  const r = SessionReader.open(db);
  try {
    const out: [string, number, string, number][] = [];
    for (const it of r.stream()) {
      if (it.k === 'data') out.push(['data', it.conn, it.dir, it.bytes.length]);
      else if (it.k === 'gap') out.push(['gap', it.conn, it.dir, it.bytes]);
    }
    return out;
  } finally {
    r.close();
  }
}

/** Bytes recorded and lost (gap and gap+ rows) per direction, from the database. */
function accounted(db: string): { chunks: number; gaps: number } {
  const r = SessionReader.open(db);
  try {
    const chunks = r.query('SELECT coalesce(sum(size), 0) AS n FROM chunk_blocks')[0]!.n as number;
    return { chunks, gaps: r.gapBytes() };
  } finally {
    r.close();
  }
}

/** No chunk of a direction comes after its gap. */
function inOrder(s: [string, number, string, number][]): boolean {
  const gapped = new Set<string>();
  for (const [k, c, d] of s) {
    if (k === 'gap') gapped.add(`${c}${d}`);
    else if (gapped.has(`${c}${d}`)) return false;
  }
  return true;
}

describe('gaps written ahead of the backlog', () => {
  for (const withAhead of [true, false]) {
    it(withAhead ? 'are committed with the next batch, the database in stream order at every commit' : '(without: a gap waits behind the backlog)', () => {
      const client = new RecorderClient({ ringBytes: 64 * 1024, maxLagMs: 1e9 });
      const reader = new RingReader(client.ring);
      const rec = recording(`ahead-${withAhead}.sqlite`);
      const db = rec.dbPath;
      const ahead = withAhead ? new GapsAhead(reader, rec) : null;
      if (ahead) rec.eachCommit = () => ahead.write();
      const gapped = new Set<string>();
      const t = 1_800_000_000_000;
      client.open({ id: 1, time: t, label: 'one' });
      client.open({ id: 2, time: t, label: 'two' });
      // Both directions of two connections fill the ring: the backlog.
      let i = 0;
      let sent = 0;
      const send = (id: number, d: '>' | '<') => {
        const f = frames[i++ % frames.length]!;
        client.data(id, d, f, t + i);
        sent += f.length;
      };
      while (client.droppedBytes === 0) send(1 + (i % 2), i % 4 < 2 ? '>' : '<');
      // The worker records the opens and a little of it, and gives that room back.
      rec.process(read(reader, ahead, gapped, 4));
      reader.release();
      // Every direction goes on sending: what finds no room is dropped, reported as gaps (queued while the ring is full).
      for (let k = 0; k < 200; k++) send(1 + (k % 2), k % 4 < 2 ? '>' : '<');
      rec.process(read(reader, ahead, gapped, 6));
      reader.release();
      // The directions end: their gaps are reported, behind the backlog.
      for (const id of [1, 2]) for (const d of ['>', '<'] as const) client.end(id, d, t + 1e5);
      // One more small batch.
      rec.process(read(reader, ahead, gapped, 2));
      const first = accounted(db);
      const backlog = !reader.drained;
      expect(backlog).toBe(true);
      if (withAhead) {
        // Every byte dropped so far is in a gap row, though the data before it is not recorded yet.
        expect(first.gaps).toBe(client.droppedBytes);
        expect(inOrder(stream(db))).toBe(true);
      } else expect(first.gaps).toBe(0);
      // The rest, in small batches, each committed: the order holds at each one.
      let orderHeld = true;
      for (let items = read(reader, ahead, gapped, 3); items.length > 0; items = read(reader, ahead, gapped, 3)) {
        rec.process(items);
        orderHeld &&= inOrder(stream(db));
      }
      expect(orderHeld).toBe(true);
      const end = accounted(db);
      expect(end.gaps).toBe(client.droppedBytes);
      expect(end.chunks + end.gaps).toBe(sent);
      // One gap row per direction ('gap+' rows for later drops), and each direction's gap after all its chunks.
      const s = stream(db);
      const gaps = s.filter((x) => x[0] === 'gap').map((x) => `${x[1]}${x[2]}`);
      expect(new Set(gaps).size).toBe(gaps.length);
      expect(gaps.length).toBe(4);
      rec.finish(client.droppedBytes);
    });
  }
});

describe('a batch that runs long', () => {
  it('commits in parts, each with the rows its part changed; the names hook runs once, at the end', () => {
    const rec = recording('parts.sqlite');
    const t = 1_800_000_000_000;
    const items: RecordItem[] = [{ k: 'open', info: { id: 1, time: t, label: 'one' } }, ...frames.slice(0, 9).map((bytes, i): RecordItem => ({ k: 'data', id: 1, dir: '>', bytes, time: t + i }))];
    // Inside each part's transaction: the messages another connection sees (those committed before it).
    const other = SessionReader.open(rec.dbPath);
    const seen: number[] = [];
    let after = 0;
    rec.eachCommit = () => seen.push(other.query('SELECT count(*) AS n FROM message_rows')[0]!.n as number);
    rec.afterApply = () => after++;
    rec.process(items.slice(0, 5));
    expect(seen).toEqual([0]);
    expect(after).toBe(1);
    // Past its time after every event: each is committed before the next is applied.
    rec.commitEveryMs = 0;
    rec.process(items.slice(5));
    expect(seen).toEqual([0, 4, 5, 6, 7, 8]);
    expect(after).toBe(2);
    other.close();
    rec.finish(0);
    const r = SessionReader.open(rec.dbPath);
    try {
      expect(r.query("SELECT count(*) AS n FROM calls")[0]!.n).toBeGreaterThan(0);
      expect(r.query("SELECT count(*) AS n FROM message_rows")[0]!.n).toBe(9);
    } finally {
      r.close();
    }
  });
});
