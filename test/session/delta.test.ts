// The change feed: the model's per-batch Delta is complete (rows folded from
// the deltas equal the model's final state, process merges included), and a
// consumer that throws is counted without losing recorded chunks.

import { describe, it, expect } from 'vitest';
import { join } from 'node:path';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { ROOT, schemaSetFromCgr } from '../helpers.js';
import { feedHexlog } from './feed.js';
import { Pipeline } from '../../src/session/pipeline.js';
import { bundledSchemaSet, rpcSchemaSet } from '../../src/decoder/sources.js';
import { callRow, connRow, processRow, threadRow, type Delta } from '../../src/session/rows.js';
import { Recording } from '../../src/cli/recording.js';
import { SessionReader } from '../../src/store/reader.js';
import { Store } from '../../src/store/store.js';
import { parseHexlog } from '../../src/decoder/hexlog.js';
import type { RecordItem } from '../../src/session/recorder.js';

const CAP = join(ROOT, 'test/fixtures/captures');

/** Folds deltas into tables by id, as a consumer (store, view) does. */
function fold(deltas: Delta[]) {
  const t = { processes: new Map<number, unknown>(), threads: new Map<number, unknown>(), calls: new Map<number, unknown>(), connections: new Map<number, unknown>() };
  for (const d of deltas) {
    for (const p of d.processes) t.processes.set(p.id, p);
    for (const x of d.threads) t.threads.set(x.id, x);
    for (const x of d.calls) t.calls.set(x.id, x);
    for (const x of d.connections) t.connections.set(x.id, x);
    // A merge re-points rows a consumer already holds, as the store does.
    for (const m of d.merges) {
      t.processes.delete(m.from);
      const to = (v: number) => (v === m.from ? m.into : v);
      for (const x of t.calls.values() as IterableIterator<{ clientProcess: number; serverProcess: number }>) Object.assign(x, { clientProcess: to(x.clientProcess), serverProcess: to(x.serverProcess) });
      for (const x of t.threads.values() as IterableIterator<{ process: number }>) x.process = to(x.process);
      for (const x of t.connections.values() as IterableIterator<{ clientProcess: number; serverProcess: number }>) Object.assign(x, { clientProcess: to(x.clientProcess), serverProcess: to(x.serverProcess) });
    }
  }
  return t;
}

describe('change feed', () => {
  it('carries every change, including a process merged across connections, so folded deltas equal the model', () => {
    const schemas = schemaSetFromCgr(join(ROOT, 'test/golden/captures/mpexample.cgr'));
    const deltas: Delta[] = [];
    const p = new Pipeline(schemas, rpcSchemaSet(), [{ chunk: () => deltas.push(p.model.takeDelta()) }]);
    // mpexample talks to mpcalculator and mpprinter: its placeholder on the second connection merges into the first.
    feedHexlog(join(CAP, 'mpexample-mpcalculator-01.hexlog'), [], schemas, 1, p);
    feedHexlog(join(CAP, 'mpexample-mpprinter-01.hexlog'), [], schemas, 2, p);
    deltas.push(p.model.takeDelta());
    const m = p.model;
    const merges = deltas.flatMap((d) => d.merges);
    expect(merges.length).toBeGreaterThan(0);
    const folded = fold(deltas);
    expect([...folded.processes.values()].sort((a, b) => (a as { id: number }).id - (b as { id: number }).id)).toEqual(m.processes.map(processRow));
    expect([...folded.threads.values()]).toEqual(expect.arrayContaining(m.threads.map(threadRow)));
    expect(folded.threads.size).toBe(m.threads.length);
    expect(folded.calls.size).toBe(m.calls.length);
    for (const c of m.calls) expect(folded.calls.get(c.id)).toEqual(callRow(c));
    for (const c of m.connections.values()) expect(folded.connections.get(c.record.id)).toEqual(connRow(c.record));
    // No row points at a process that was merged away.
    const live = new Set(m.processes.map((x) => x.id));
    for (const c of folded.calls.values()) {
      const r = c as { clientProcess: number; serverProcess: number };
      expect(live.has(r.clientProcess) && live.has(r.serverProcess)).toBe(true);
    }
  });

  it('a recording model forgets what the feed has carried: retired calls and closed connections are not kept', () => {
    const deltas: Delta[] = [];
    const p = new Pipeline(bundledSchemaSet(), rpcSchemaSet(), [], { retainHistory: false });
    const kept = new Pipeline(bundledSchemaSet(), rpcSchemaSet(), []);
    for (let conn = 1; conn <= 20; conn++) {
      feedHexlog(join(CAP, 'mining-01.hexlog'), [], bundledSchemaSet(), conn, p);
      feedHexlog(join(CAP, 'mining-01.hexlog'), [], bundledSchemaSet(), conn, kept);
      deltas.push(p.model.takeDelta());
    }
    expect(p.model.calls).toHaveLength(0);
    expect(p.model.caps).toHaveLength(0);
    expect(p.model.connections.size).toBe(0);
    expect(p.model.outstanding.size).toBe(0);
    // ...while the feed carried every record, with the same ids as a model that keeps them.
    const folded = fold(deltas);
    expect(folded.calls.size).toBe(kept.model.calls.length);
    for (const c of kept.model.calls) expect(folded.calls.get(c.id)).toEqual(callRow(c));
    expect(deltas.flatMap((d) => d.caps).map((c) => c.id).sort((a, b) => a - b).at(-1)).toBe(kept.model.caps.length);
  });

  it('a store fed by a forgetting model keeps every row pointing at live processes across merges', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ipc-trace-merge-'));
    try {
      const schemas = schemaSetFromCgr(join(ROOT, 'test/golden/captures/mpexample.cgr'));
      const db = join(dir, 's.sqlite');
      const store = Store.create(db, { created: 'x' }, [{ source: 'mpexample', cgr: new Uint8Array(readFileSync(join(ROOT, 'test/golden/captures/mpexample.cgr'))) }]);
      const p = new Pipeline(schemas, rpcSchemaSet(), [store, { chunk: () => store.apply(p.model.takeDelta()) }], { retainHistory: false });
      const kept = new Pipeline(schemas, rpcSchemaSet(), []);
      for (const [i, name] of ['mpexample-mpcalculator-01', 'mpexample-mpprinter-01', 'mpexample-mpcalculator-01'].entries()) {
        feedHexlog(join(CAP, `${name}.hexlog`), [], schemas, i + 1, p);
        feedHexlog(join(CAP, `${name}.hexlog`), [], schemas, i + 1, kept);
        store.apply(p.model.takeDelta());
      }
      store.shutdown();
      const r = SessionReader.open(db);
      const procs = new Map(r.processes().map((x) => [x.id, x.label]));
      const threads = new Map(r.threads().map((t) => [t.id, t]));
      // The same processes as a model that keeps everything, and every row names one of them.
      expect([...procs.values()].sort()).toEqual(kept.model.processes.map((x) => x.label).sort());
      for (const t of threads.values()) expect(procs.has(t.process)).toBe(true);
      for (const c of r.calls()) {
        expect(procs.get(c.clientProcess)).toBe(kept.model.calls[c.id - 1]!.clientProcess.label);
        expect(procs.get(c.serverProcess)).toBe(kept.model.calls[c.id - 1]!.serverProcess.label);
      }
      for (const c of r.connections()) expect(procs.has(c.clientProcess) && procs.has(c.serverProcess)).toBe(true);
      r.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a consumer that throws is counted and reported; chunks and rows are still recorded', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ipc-trace-feed-'));
    try {
      const db = join(dir, 's.sqlite');
      let seen = 0;
      const rec = new Recording({ db, schemaFiles: [], importDirs: [], maxChars: Infinity, command: 'test', printLog: false }, [
        () => {
          seen++;
          throw new Error('consumer broke');
        },
      ]);
      const h = parseHexlog(readFileSync(join(CAP, 'mining-01.hexlog'), 'latin1'), 'mining-01.hexlog');
      let t = 1000;
      rec.process([{ k: 'open', info: { id: 1, time: t, label: 'test' } }]);
      const items: RecordItem[] = h.chunks.map((c) => ({ k: 'data', id: 1, dir: c.dir, bytes: c.bytes, time: (t += 1) }));
      for (let i = 0; i < items.length; i += 10) rec.process(items.slice(i, i + 10));
      rec.process([{ k: 'close', id: 1, time: t + 1, reason: null }]);
      rec.finish(0);
      expect(seen).toBeGreaterThan(2);
      expect(rec.consumerErrors).toBe(seen);
      const r = SessionReader.open(db);
      const expected = feedHexlog(join(CAP, 'mining-01.hexlog'), [], bundledSchemaSet()).model.calls.length;
      expect(r.callCount()).toBe(expected);
      expect([...r.stream()].filter((x) => x.k === 'data')).toHaveLength(h.chunks.length);
      expect(r.metaValue('feed_errors')).toMatch(/^\d+ \(first: consumer broke\)$/);
      r.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
