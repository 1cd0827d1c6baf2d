import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SessionReader } from '../../src/store/reader.js';
import { SessionView } from '../../src/tui/view.js';
import { Ui } from '../../src/tui/ui.js';
import { writeSyntheticSession, syntheticCalls, syntheticLabels } from '../../src/bench/synthetic-session.js';
import { emptyDelta } from '../../src/session/rows.js';
import { callStats, percentile } from '../../src/stats/stats.js';
import { RowIndex } from '../../src/session/row-index.js';
import { secretFields } from '../../src/redact/redact.js';
import { detailLines } from '../../src/tui/detail.js';
import { directIndex, IndexSource } from '../../src/tui/index-client.js';

let dir: string;
let path: string;
let reader: SessionReader;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ipc-trace-view-'));
  path = join(dir, 's.sqlite');
  writeSyntheticSession(path, { calls: 600, seed: 3 });
  reader = SessionReader.open(path);
});
afterAll(() => {
  reader.close();
  rmSync(dir, { recursive: true, force: true });
});

const replay = () => new SessionView({ mode: 'replay', reader, stuckMs: 5000 });
const listed = (v: SessionView) => v.window(0, v.count);

describe('session view over a recording', () => {
  it('lists every call, callbacks right under the call they serve', () => {
    const v = replay();
    expect(v.count).toBe(reader.callCount());
    const rows = listed(v);
    let kids = 0;
    rows.forEach((r, i) => {
      if (r.row.parent === null) expect(r.depth).toBe(0);
      else {
        kids++;
        // Under its parent (or a sibling nested in the same parent).
        const above = rows.slice(0, i).reverse().find((x) => x.depth < r.depth)!;
        expect(above.row.id).toBe(r.row.parent);
        expect(r.depth).toBe(above.depth + 1);
      }
    });
    expect(kids).toBeGreaterThan(0);
    // Roots in id order.
    const roots = rows.filter((r) => r.depth === 0).map((r) => r.row.id);
    expect(roots).toEqual([...roots].sort((a, b) => a - b));
  });

  it('folds and unfolds the callbacks of a call', () => {
    const v = replay();
    const rows = listed(v);
    const i = rows.findIndex((r) => r.hasKids);
    const n = rows.filter((r) => r.row.parent === rows[i]!.row.id).length;
    v.sel = i;
    v.follow = false;
    v.toggleFold();
    expect(v.count).toBe(rows.length - n);
    expect(v.window(i, 1)[0]).toMatchObject({ folded: true, hasKids: true });
    v.toggleFold();
    expect(v.count).toBe(rows.length);
  });

  it('filters through the index source, and keeps the old filter on an invalid one', async () => {
    const v = replay();
    expect(v.setFilter('method:getBalances & !status:returned')).toBeNull();
    await v.settled();
    const rows = listed(v);
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) {
      expect(r.row.title.toLowerCase()).toContain('getbalances');
      expect(r.row.status).not.toBe('returned');
    }
    expect(v.setFilter('method:')).toMatchObject({ error: 'method: needs a value' });
    expect(v.filterSrc).toBe('method:getBalances & !status:returned');
    v.setFilter('');
    await v.settled();
    expect(v.count).toBe(reader.callCount());
  });

  it("shows a filter's last matches first, then all of them with their count", async () => {
    // Every slice of the scan but the last one is held back until released: meanwhile its matches are listed.
    const direct = directIndex(reader);
    const top = reader.maxCallId();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const asked: [number, number][] = [];
    const index: IndexSource = {
      ...direct,
      ids: async (f, after, upTo = Infinity) => {
        asked.push([after, Math.min(upTo, top)]);
        return upTo >= top ? direct.ids(f, after, upTo) : held.then(() => direct.ids(f, after, upTo));
      },
    };
    const v = new SessionView({ mode: 'replay', reader, stuckMs: 5000, index, filterTail: 300 });
    const want = [...reader.calls()].filter((x) => x.title !== 'Chain.getHeight').map((x) => x.id);
    v.setFilter('!method:getHeight');
    while (v.filtering) await new Promise((r) => setTimeout(r, 5));
    expect(v.counting).toBe(true);
    // What is listed: the matches of the slice at the end (the only one answered).
    const end = asked.find(([, upTo]) => upTo >= top)!;
    expect(end[0]).toBeGreaterThanOrEqual(top - 300);
    const first = listed(v).map((r) => r.row.id);
    expect(first.length).toBeGreaterThan(0);
    expect(new Set(first)).toEqual(new Set(want.filter((id) => id > end[0])));
    release();
    await v.settled();
    expect(v.counting).toBe(false);
    expect(v.matchCount).toBe(want.length);
    expect(new Set(listed(v).map((r) => r.row.id))).toEqual(new Set(want));
    // The slices cover every id once: (0, top] with no gap or overlap.
    asked.sort((a, b) => a[0] - b[0]);
    expect(asked[0]![0]).toBe(0);
    for (let i = 1; i < asked.length; i++) expect(asked[i]![0]).toBe(asked[i - 1]![1]);
    expect(asked.at(-1)![1]).toBe(top);
  });

  it('shows a match found at the start of the list before the scan of the rest is done', async () => {
    const direct = directIndex(reader);
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    // Only the slices of the first 100 calls and the one at the end answer; the rest waits.
    const top = reader.maxCallId();
    const index: IndexSource = {
      ...direct,
      ids: async (f, after, upTo = Infinity) => (upTo <= 100 || upTo >= top ? direct.ids(f, after, upTo) : held.then(() => direct.ids(f, after, upTo))),
    };
    const v = new SessionView({ mode: 'replay', reader, stuckMs: 5000, index, filterTail: 100 });
    // A label only a few calls have (`call 7`), one of them early.
    const early = [...reader.calls()].find((c) => c.id <= 100 && /label = "call \d+"/.test(c.params ?? ''))!;
    const label = /label = "(call \d+)"/.exec(early.params!)![1]!;
    const re = new RegExp(`${label}\\b`);
    const all = [...reader.calls()].filter((c) => re.test(c.params ?? '') || re.test(c.results ?? '')).map((c) => c.id);
    expect(all.length).toBeLessThan(10);
    v.setFilter(`text:"${label}\\b"`);
    while (v.filtering) await new Promise((r) => setTimeout(r, 5));
    expect(v.counting).toBe(true);
    const first = listed(v).map((r) => r.row.id);
    expect(first).toContain(early.id);
    expect(first.every((id) => id <= 100 || id > top - 100)).toBe(true);
    release();
    await v.settled();
    expect(v.counting).toBe(false);
    expect(new Set(listed(v).map((r) => r.row.id))).toEqual(new Set(all));
  });

  it('moves a time cursor: calls after it vanish, calls returning after it are pending', async () => {
    const v = replay();
    const total = v.count;
    const all = [...reader.calls()];
    const mid = all[300]!;
    v.setCursor(mid.sent);
    const visible = all.filter((c) => c.sent <= mid.sent);
    expect(v.count).toBe(visible.length);
    for (const r of listed(v)) {
      const c = all.find((x) => x.id === r.row.id)!;
      expect(r.row.status).toBe(c.returned !== null && c.returned > mid.sent ? 'pending' : c.status);
    }
    const want = reader.callsOpenAt(mid.sent);
    expect(v.outstanding().count).toBe(want.length);
    expect(v.outstanding().oldestSent).toBe(Math.min(...want.map((c) => c.sent)));
    // The chains pane's report at the cursor: the same analysis as `ipc-trace chains --at`.
    v.chains();
    await v.settled();
    const report = v.chains();
    expect(report.at).toBe(mid.sent);
    expect(report.outstanding).toBe(want.length);
    v.step(true);
    expect(v.cursor).toBe(all.find((c) => c.sent > mid.sent)!.sent);
    v.step(false);
    v.step(false);
    expect(v.cursor).toBeLessThan(mid.sent);
    v.setCursor(v.end!);
    expect(v.count).toBe(total);
  });

  it('computes per-method statistics', async () => {
    const v = replay();
    v.stats();
    await v.settled();
    const rows = v.stats();
    expect(rows.reduce((s, r) => s + r.calls, 0)).toBe(reader.callCount());
    const all = [...reader.calls()];
    const mine = all.filter((c) => c.title === 'Chain.getHeight');
    const lat = mine.filter((c) => c.returned !== null && c.returned <= v.cursor).map((c) => c.returned! - c.sent).sort((a, b) => a - b);
    const r = rows.find((x) => x.key === 'Chain.getHeight')!;
    expect(r).toMatchObject({ calls: mine.length, p50: percentile(lat, 50), p99: percentile(lat, 99), max: lat[lat.length - 1] });
    expect(r.errors).toBe(mine.filter((c) => c.status === 'exception').length);
    // At the end of the recording: the numbers of `ipc-trace stats` (the same function of rows).
    for (const by of ['method', 'thread', 'process'] as const) {
      v.statsBy = by;
      v.stats();
      await v.settled();
      const want = callStats(reader.calls(), by, new RowIndex(reader.processes(), reader.threads()));
      expect([...v.stats()].sort((a, b) => a.key.localeCompare(b.key))).toEqual([...want].sort((a, b) => a.key.localeCompare(b.key)));
    }
    v.statsBy = 'method';
    // Sorted by calls, most first.
    expect(rows.map((x) => x.calls)).toEqual([...rows.map((x) => x.calls)].sort((a, b) => b - a));
  });

  it('searches: n moves to the next matching call', async () => {
    const v = replay();
    v.top();
    expect(await v.search('method:findBlock', true)).toBe(true);
    const first = v.selectedId()!;
    expect(v.call(first)!.title).toBe('Chain.findBlock');
    expect(await v.search('method:findBlock', true)).toBe(true);
    expect(v.selectedId()).toBeGreaterThan(first);
    expect(await v.search('method:noSuchMethod', true)).toBe(false);
  });
});

describe('replay --redact', () => {
  it('masks the secret fields in every row shown', () => {
    const v = new SessionView({ mode: 'replay', reader, stuckMs: 5000, redact: secretFields(['label']) });
    const rows = v.window(0, 50);
    expect(rows.length).toBe(50);
    for (const r of rows) {
      expect(r.row.params).toContain('label = <redacted>');
      expect(r.row.params).not.toMatch(/label = "call/);
    }
    const id = rows[0]!.row.id;
    expect(reader.call(id)!.params).toMatch(/label = "call/);
    // The detail's tree shows the masked value.
    const lines = detailLines(v, id, new Set(), true).map((l) => l.text.replace(/\x1b\[[0-9;]*m/g, ''));
    expect(lines.some((l) => /label = "?<redacted>/.test(l))).toBe(true);
  });
});

describe('session view of a live session', () => {
  it('follows the change feed: new calls, callbacks under their call, outstanding calls, log lines', async () => {
    const live = join(dir, 'live.sqlite');
    writeSyntheticSession(live, { calls: 0 });
    const r = SessionReader.open(live);
    let now = Date.UTC(2026, 10, 30, 12, 0, 0);
    const v = new SessionView({ mode: 'live', reader: r, stuckMs: 5000, now: () => now });
    const labels = syntheticLabels(now);
    v.ingest({ delta: { ...emptyDelta(), processes: labels.processes, threads: labels.threads, connections: [labels.conn] }, lines: ['a line'] });
    expect(v.count).toBe(0);
    const calls = [...syntheticCalls({ calls: 200, seed: 5, start: now })].flat();
    // Sent first as pending, then returned.
    for (const c of calls) {
      now = c.sent;
      v.ingest({ delta: { ...emptyDelta(), calls: [{ ...c, status: 'pending', returned: null, results: null }] }, lines: [`send ${c.id}`] });
      if (c.status !== 'pending') v.ingest({ delta: { ...emptyDelta(), calls: [c] }, lines: [] });
    }
    expect(v.count).toBe(200);
    expect(v.totalCalls).toBe(200);
    const rows = listed(v);
    for (const [i, x] of rows.entries()) if (x.row.parent !== null) expect(rows.slice(0, i).some((y) => y.row.id === x.row.parent)).toBe(true);
    expect(rows.filter((x) => x.depth > 0).length).toBe(calls.filter((c) => c.parent !== null).length);
    const pending = calls.filter((c) => c.status === 'pending');
    expect(v.outstanding()).toEqual({ count: pending.length, oldestSent: Math.min(...pending.map((c) => c.sent)) });
    v.chains();
    await v.settled();
    expect(v.chains().outstanding).toBe(pending.length);
    expect(v.log.length).toBe(201);
    expect(v.follow).toBe(true);
    expect(v.sel).toBe(199);
    r.close();
  });
});

describe('ui commands', () => {
  it('edits and applies a filter, shows errors as you type, quits', async () => {
    const v = replay();
    let quit = 0;
    const ui = new Ui(v, () => quit++);
    ui.key('f');
    for (const k of 'method:'.split('')) ui.key(k);
    expect(ui.input?.error?.error).toBe('method: needs a value');
    for (const k of 'findBlock'.split('')) ui.key(k);
    expect(ui.input?.error).toBeUndefined();
    ui.key('enter');
    expect(ui.input).toBeNull();
    expect(v.filterSrc).toBe('method:findBlock');
    await v.settled();
    expect(listed(v).every((r) => r.row.title === 'Chain.findBlock')).toBe(true);
    ui.key('enter');
    expect(v.pane).toBe('detail');
    expect(v.detailCall).toBe(v.selectedId());
    ui.key('escape');
    expect(v.pane).toBe('calls');
    ui.key('?');
    expect(ui.help).toBe(true);
    ui.key('j');
    expect(ui.help).toBe(true);
    expect(ui.helpTop).toBe(1);
    ui.key('x');
    expect(ui.help).toBe(false);
    ui.key('5');
    expect(v.pane).toBe('stats');
    ui.key('q');
    expect(quit).toBe(1);
  });
});
