// The session view between the data and the terminal UI (mitmproxy's View):
// the filtered, ordered calls (ids only, callbacks nested under the call
// they serve), the focus, follow mode, the replay time cursor, and the
// state the panes read. Live, it is fed by the recording worker's change
// feed; for a recording, by the session reader. Either way rows outside the
// window are fetched by id through the reader, never held decoded.
// Panes never run SQL: they call the view, which calls SessionReader.

import { statSync } from 'node:fs';
import type { SessionReader, CallIndex } from '../store/reader.js';
import { filterSql } from '../store/filter-sql.js';
import type { CallRow, ConnRow, Delta, FeedBatch, ProcessRow, ThreadRow } from '../session/rows.js';
import { parseFilter, FilterExpr } from '../filter/parse.js';
import { compileFilter, compileLineFilter, CallPredicate, FilterContext, latencyOf } from '../filter/match.js';
import { analyzeChains, ChainReport } from '../chains/chains.js';
import { PANES, PaneId } from './keys.js';

export type Mode = 'live' | 'replay';

export interface ViewOptions {
  mode: Mode;
  reader: SessionReader;
  /** Age after which an outstanding call counts as stuck (--stuck). */
  stuckMs: number;
  /** Bytes the recorder dropped so far (live). */
  dropped?: () => number;
  now?: () => number;
}

export interface StatsRow {
  key: string;
  calls: number;
  errors: number;
  inFlight: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export type StatsGroup = 'method' | 'process' | 'thread';
export const STATS_COLUMNS = ['calls', 'errors', 'inFlight', 'p50', 'p90', 'p99', 'max', 'key'] as const;
export type StatsColumn = (typeof STATS_COLUMNS)[number];

const EMPTY_INDEX: CallIndex = { n: 0, ids: new Int32Array(0), parents: new Int32Array(0), sent: new Float64Array(0) };

/** A call row as shown at the view's time: a call that returned after the replay cursor is still pending there. */
export function rowAt(c: CallRow, at: number): CallRow {
  if (c.sent > at) return c;
  if (c.returned !== null && c.returned > at) return { ...c, status: 'pending', returned: null, results: null, finished: null };
  return c;
}

function lowerBound(a: ArrayLike<number>, n: number, x: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const m = (lo + hi) >> 1;
    if (a[m]! < x) lo = m + 1;
    else hi = m;
  }
  return lo;
}

export class SessionView {
  readonly mode: Mode;
  readonly reader: SessionReader;
  readonly dbPath: string;
  stuckMs: number;
  private readonly now: () => number;
  private readonly dropped: () => number;

  // Subscribers (useSyncExternalStore) and a version bumped on every change.
  private listeners = new Set<() => void>();
  version = 0;
  private notifyScheduled = false;

  processes = new Map<number, ProcessRow>();
  threads = new Map<number, ThreadRow>();
  connections = new Map<number, ConnRow>();

  // The filter.
  filterSrc = '';
  filterExpr: FilterExpr = { k: 'all' };
  private predicate: CallPredicate = () => true;

  // The matching calls (id order) and the display order (tree order, folds applied).
  private matched: CallIndex = EMPTY_INDEX;
  private matchedCap = 0;
  private display = new Int32Array(0);
  private depth = new Uint8Array(0);
  private hasKids = new Uint8Array(0);
  private displayDirty = true;
  private indexDirty = true;
  readonly folded = new Set<number>();
  /** All calls' send times in id order (replay: the time cursor steps through them). */
  private allSent: Float64Array = new Float64Array(0);
  private allIds: Int32Array = new Int32Array(0);

  pane: PaneId = 'calls';
  sel = 0;
  follow = true;
  /** The call the detail pane shows. */
  detailCall: number | null = null;

  // Replay: the time cursor and playback.
  start: number | null = null;
  end: number | null = null;
  cursor = 0;
  playing = false;
  speed = 1;

  // Live: outstanding calls from the feed; throughput.
  private pending = new Map<number, CallRow>();
  private interrupted = new Map<number, CallRow>();
  private recentSends: number[] = [];
  totalCalls = 0;
  private maxCallId = 0;
  log: string[] = [];
  logComplete = true;
  static readonly LOG_MAX = 50000;

  private rows = new Map<number, CallRow>();
  private static readonly ROW_CACHE = 4000;

  constructor(opts: ViewOptions) {
    this.mode = opts.mode;
    this.reader = opts.reader;
    this.dbPath = opts.reader.path;
    this.stuckMs = opts.stuckMs;
    this.now = opts.now ?? Date.now;
    this.dropped = opts.dropped ?? (() => 0);
    this.loadLabels();
    const span = this.reader.span();
    this.start = span.start;
    this.end = span.last;
    if (this.mode === 'replay') {
      const all = this.reader.callIndex();
      this.allIds = all.ids;
      this.allSent = all.sent;
      this.totalCalls = all.n;
      this.cursor = this.end ?? (all.n ? all.sent[all.n - 1]! : 0);
      this.matched = all;
      this.indexDirty = false;
    } else {
      this.cursor = this.now();
      this.totalCalls = this.reader.callCount();
      this.maxCallId = this.reader.maxCallId();
      for (const c of this.reader.callsOutstandingAt(this.now())) this.pending.set(c.id, c);
    }
  }

  // ---- subscription ----

  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };

  getVersion = (): number => this.version;

  /** Marks the view changed; listeners hear about it at most once per tick. */
  changed(): void {
    this.version++;
    if (this.notifyScheduled) return;
    this.notifyScheduled = true;
    setImmediate(() => {
      this.notifyScheduled = false;
      for (const l of this.listeners) l();
    });
  }

  private loadLabels(): void {
    for (const p of this.reader.processes()) this.processes.set(p.id, p);
    for (const t of this.reader.threads()) this.threads.set(t.id, t);
    for (const c of this.reader.connections()) this.connections.set(c.id, c);
  }

  /** The time the view shows: now (live) or the replay cursor. */
  at(): number {
    return this.mode === 'live' ? this.now() : this.cursor;
  }

  threadLabel(id: number | null): string {
    return id === null ? '?' : (this.threads.get(id)?.label ?? `thread#${id}`);
  }

  processLabel(id: number): string {
    return this.processes.get(id)?.label ?? `process#${id}`;
  }

  filterContext(): FilterContext {
    return { threadLabel: (id) => this.threads.get(id)?.label, processLabel: (id) => this.processes.get(id)?.label, now: this.at() };
  }

  // ---- the live feed ----

  /** One batch of the recording's change feed. */
  ingest(batch: FeedBatch): void {
    this.apply(batch.delta);
    if (batch.lines.length) {
      for (const l of batch.lines) this.log.push(l);
      if (this.log.length > SessionView.LOG_MAX) this.log.splice(0, this.log.length - SessionView.LOG_MAX);
    }
    this.changed();
  }

  private apply(d: Delta): void {
    for (const m of d.merges) this.processes.delete(m.from);
    for (const p of d.processes) this.processes.set(p.id, p);
    for (const t of d.threads) this.threads.set(t.id, t);
    for (const c of d.connections) this.connections.set(c.id, c);
    let statusSensitive = false;
    for (const c of d.calls) {
      this.cacheRow(c);
      if (c.status === 'pending') this.pending.set(c.id, c);
      else {
        this.pending.delete(c.id);
        if (c.status === 'disconnected') {
          this.interrupted.set(c.id, c);
          if (this.interrupted.size > 200) this.interrupted.delete(this.interrupted.keys().next().value!);
        }
      }
      if (c.id > this.maxCallId) {
        this.maxCallId = c.id;
        this.totalCalls++;
        this.recentSends.push(c.sent);
      } else statusSensitive = true;
      const lastMatched = this.matched.n ? this.matched.ids[this.matched.n - 1]! : 0;
      if (!this.indexDirty && c.id > lastMatched && this.predicate(c)) this.append(c);
    }
    if (statusSensitive && this.filterDependsOnState()) this.indexDirty = true;
    const cut = this.now() - 5000;
    while (this.recentSends.length && this.recentSends[0]! < cut) this.recentSends.shift();
  }

  private filterDependsOnState(): boolean {
    const s = JSON.stringify(this.filterExpr, (k, v) => (k === 're' ? undefined : v));
    return /"k":"(status|slow|text)"/.test(s);
  }

  private append(c: CallRow): void {
    const m = this.matched;
    if (m.n >= this.matchedCap) {
      const cap = Math.max(1024, m.n * 2);
      const ids = new Int32Array(cap);
      ids.set(m.ids.subarray(0, m.n));
      const parents = new Int32Array(cap);
      parents.set(m.parents.subarray(0, m.n));
      const sent = new Float64Array(cap);
      sent.set(m.sent.subarray(0, m.n));
      this.matched = { n: m.n, ids, parents, sent };
      this.matchedCap = cap;
    }
    const x = this.matched;
    x.ids[x.n] = c.id;
    x.parents[x.n] = c.parent ?? 0;
    x.sent[x.n] = c.sent;
    x.n++;
    this.displayDirty = true;
  }

  private cacheRow(c: CallRow): void {
    this.rows.delete(c.id);
    this.rows.set(c.id, c);
    if (this.rows.size > SessionView.ROW_CACHE) this.rows.delete(this.rows.keys().next().value!);
  }

  // ---- filter ----

  /** Sets the filter; returns the error (and nothing changes) when it does not parse. */
  setFilter(src: string): { error: string; pos: number } | null {
    const r = parseFilter(src);
    if (!r.ok) return { error: r.error, pos: r.pos };
    this.filterSrc = src;
    this.filterExpr = r.expr;
    this.predicate = compileFilter(r.expr, this.filterContext());
    this.indexDirty = true;
    this.sel = 0;
    this.follow = true;
    this.statsCache = null;
    this.changed();
    return null;
  }

  private sqlFilter() {
    if (this.filterExpr.k === 'all') return undefined;
    return filterSql(this.filterExpr, { threads: [...this.threads.values()], processes: [...this.processes.values()], now: this.at() });
  }

  private refreshIndex(): void {
    if (!this.indexDirty) return;
    this.indexDirty = false;
    this.predicate = compileFilter(this.filterExpr, this.filterContext());
    this.matched = this.reader.callIndex(this.sqlFilter());
    this.matchedCap = this.matched.n;
    this.displayDirty = true;
  }

  // ---- the display order ----

  private refreshDisplay(): void {
    this.refreshIndex();
    if (!this.displayDirty) return;
    this.displayDirty = false;
    const m = this.matched;
    const at = this.mode === 'replay' ? this.cursor : Infinity;
    const n = this.mode === 'replay' ? this.countSentBy(m, at) : m.n;
    // Callbacks whose parent is shown go under it; the rest are roots in id order.
    const kids = new Map<number, number[]>();
    const isKid = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const p = m.parents[i]!;
      if (p === 0) continue;
      const pi = lowerBound(m.ids, n, p);
      if (pi < n && m.ids[pi] === p) {
        let l = kids.get(p);
        if (!l) kids.set(p, (l = []));
        l.push(i);
        isKid[i] = 1;
      }
    }
    const ids = new Int32Array(n);
    const depth = new Uint8Array(n);
    const hasKids = new Uint8Array(n);
    let k = 0;
    const emit = (i: number, d: number) => {
      const id = m.ids[i]!;
      ids[k] = id;
      depth[k] = Math.min(d, 255);
      const l = kids.get(id);
      hasKids[k] = l ? 1 : 0;
      k++;
      if (l && !this.folded.has(id)) for (const j of l) emit(j, d + 1);
    };
    for (let i = 0; i < n; i++) if (!isKid[i]) emit(i, 0);
    this.display = ids.subarray(0, k);
    this.depth = depth.subarray(0, k);
    this.hasKids = hasKids.subarray(0, k);
    if (this.follow) this.sel = Math.max(0, k - 1);
    else this.sel = Math.min(this.sel, Math.max(0, k - 1));
  }

  /** How many of the index's calls were sent by `at` (ids are in send order). */
  private countSentBy(m: CallIndex, at: number): number {
    let lo = 0;
    let hi = m.n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (m.sent[mid]! <= at) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Number of rows in the calls list. */
  get count(): number {
    this.refreshDisplay();
    return this.display.length;
  }

  /** Rows [start, start+n) of the calls list, as of the view's time, with their nesting depth. */
  window(start: number, n: number): { row: CallRow; depth: number; hasKids: boolean; folded: boolean; index: number }[] {
    this.refreshDisplay();
    const end = Math.min(this.display.length, start + n);
    const ids = Array.from(this.display.subarray(Math.max(0, start), end));
    const rows = this.rowsByIds(ids);
    const at = this.at();
    const out = [];
    for (let i = 0; i < ids.length; i++) {
      const r = rows.get(ids[i]!);
      if (!r) continue;
      const idx = start + i;
      out.push({ row: this.mode === 'replay' ? rowAt(r, at) : r, depth: this.depth[idx]!, hasKids: this.hasKids[idx] === 1, folded: this.folded.has(r.id), index: idx });
    }
    return out;
  }

  private rowsByIds(ids: number[]): Map<number, CallRow> {
    const out = new Map<number, CallRow>();
    const missing: number[] = [];
    for (const id of ids) {
      const r = this.rows.get(id);
      if (r && (this.mode === 'replay' || r.status !== 'pending' || !this.pending.has(id) || this.pending.get(id) === r)) out.set(id, r);
      else missing.push(id);
    }
    if (missing.length) {
      for (const r of this.reader.callsByIds(missing)) {
        this.cacheRow(r);
        out.set(r.id, r);
      }
    }
    return out;
  }

  /** The call at a position of the list. */
  idAt(i: number): number | undefined {
    this.refreshDisplay();
    return i >= 0 && i < this.display.length ? this.display[i] : undefined;
  }

  selectedId(): number | undefined {
    return this.idAt(this.sel);
  }

  /** A call's row (fetched by id), as of the view's time. */
  call(id: number): CallRow | undefined {
    const r = this.rowsByIds([id]).get(id);
    return r && this.mode === 'replay' ? rowAt(r, this.at()) : r;
  }

  // ---- navigation ----

  move(delta: number): void {
    const n = this.count;
    this.sel = Math.max(0, Math.min(n - 1, this.sel + delta));
    this.follow = this.sel >= n - 1 && delta > 0;
    this.changed();
  }

  top(): void {
    this.sel = 0;
    this.follow = false;
    this.changed();
  }

  bottom(): void {
    this.sel = Math.max(0, this.count - 1);
    this.follow = true;
    this.changed();
  }

  toggleFollow(): void {
    this.follow = !this.follow;
    if (this.follow) this.sel = Math.max(0, this.count - 1);
    this.changed();
  }

  /** Puts the selection on a call (clearing the filter if it hides it). */
  focusCall(id: number): void {
    this.refreshDisplay();
    let i = this.display.indexOf(id);
    if (i < 0 && this.filterExpr.k !== 'all') {
      this.setFilter('');
      this.refreshDisplay();
      i = this.display.indexOf(id);
    }
    if (i < 0) {
      // Inside a folded call: unfold its ancestors.
      let c = this.call(id);
      while (c && c.parent !== null) {
        this.folded.delete(c.parent);
        c = this.call(c.parent);
      }
      this.displayDirty = true;
      this.refreshDisplay();
      i = this.display.indexOf(id);
    }
    if (i >= 0) {
      this.sel = i;
      this.follow = false;
    }
    this.detailCall = id;
    this.changed();
  }

  toggleFold(): void {
    const id = this.selectedId();
    if (id === undefined) return;
    if (!this.hasKids[this.sel] && !this.folded.has(id)) return;
    if (this.folded.has(id)) this.folded.delete(id);
    else this.folded.add(id);
    this.displayDirty = true;
    this.follow = false;
    this.changed();
  }

  setPane(p: PaneId): void {
    this.pane = p;
    if (p === 'detail' && this.detailCall === null) this.detailCall = this.selectedId() ?? null;
    this.changed();
  }

  cyclePane(step: number): void {
    const i = PANES.findIndex((p) => p.id === this.pane);
    this.setPane(PANES[(i + step + PANES.length) % PANES.length]!.id);
  }

  openSelected(): void {
    const id = this.selectedId();
    if (id === undefined) return;
    this.detailCall = id;
    this.setPane('detail');
  }

  // ---- search ----

  /** The next list position after (or before) the selection whose call matches `expr`; null if none or invalid. */
  search(src: string, forward: boolean): number | null {
    const r = parseFilter(src);
    if (!r.ok || r.expr.k === 'all') return null;
    this.refreshDisplay();
    const hits = this.reader.callIndex(filterSql(r.expr, { threads: [...this.threads.values()], processes: [...this.processes.values()], now: this.at() }));
    const hit = new Set(hits.ids.subarray(0, hits.n));
    const n = this.display.length;
    for (let k = 1; k <= n; k++) {
      const i = (this.sel + (forward ? k : -k) + n * 2) % n;
      if (hit.has(this.display[i]!)) {
        this.sel = i;
        this.follow = false;
        this.changed();
        return i;
      }
    }
    return null;
  }

  // ---- header facts ----

  /** Outstanding calls at the view's time (live: from the feed; replay: from the reader at the cursor). */
  outstanding(): CallRow[] {
    if (this.mode === 'live') return [...this.pending.values()];
    return this.outstandingAtCursor();
  }

  private outstandingCache: { at: number; rows: CallRow[] } | null = null;
  private outstandingAtCursor(): CallRow[] {
    if (this.outstandingCache?.at !== this.cursor) this.outstandingCache = { at: this.cursor, rows: this.reader.callsOutstandingAt(this.cursor) };
    return this.outstandingCache.rows;
  }

  /** Calls per second over the last five seconds (live) or the five seconds before the cursor. */
  callsPerSecond(): number {
    if (this.mode === 'live') {
      const cut = this.now() - 5000;
      return this.recentSends.filter((t) => t >= cut).length / 5;
    }
    const lo = lowerBound(this.allSent, this.allSent.length, this.cursor - 5000);
    const hi = lowerBound(this.allSent, this.allSent.length, this.cursor + 1e-9);
    return (hi - lo) / 5;
  }

  dbSize(): number {
    let size = 0;
    for (const s of ['', '-wal']) {
      try {
        size += statSync(this.dbPath + s).size;
      } catch {
        // no such file
      }
    }
    return size;
  }

  gapBytes(): number {
    return this.mode === 'live' ? this.dropped() : this.reader.gapBytes();
  }

  private chainsCache: { key: string; report: ChainReport } | null = null;
  /** The chains report at the view's time (what `ipc-trace chains --at` computes). */
  chains(): ChainReport {
    const at = this.at();
    const key = `${this.version}:${this.mode === 'live' ? Math.floor(at / 250) : at}:${this.stuckMs}`;
    if (this.chainsCache?.key === key) return this.chainsCache.report;
    const calls = this.mode === 'live' ? [...this.pending.values(), ...this.interrupted.values()] : this.outstandingAtCursor();
    const closed = new Map<number, number>();
    for (const c of this.connections.values()) if (c.closed !== null) closed.set(c.id, c.closed);
    const report = analyzeChains({
      calls,
      threads: [...this.threads.values()].map((t) => ({ id: t.id, label: t.label, process: t.process, processLabel: this.processLabel(t.process), role: t.role })),
      processes: [...this.processes.values()].map((p) => ({ id: p.id, label: p.label })),
      closed,
      at,
      stuckMs: this.stuckMs,
    });
    this.chainsCache = { key, report };
    return report;
  }

  // ---- stats ----

  statsGroup: StatsGroup = 'method';
  statsSort: StatsColumn = 'calls';
  statsDesc = true;
  private statsCache: { key: string; rows: StatsRow[] } | null = null;

  stats(): StatsRow[] {
    const bucket = this.mode === 'live' ? Math.floor(this.now() / 1000) : this.cursor;
    const key = `${bucket}:${this.filterSrc}:${this.statsGroup}:${this.statsSort}:${this.statsDesc}`;
    if (this.statsCache?.key === key) return this.statsCache.rows;
    const at = this.at();
    const groups = new Map<string, { lat: number[]; calls: number; errors: number; inFlight: number }>();
    for (const [title, status, sent, returned, proc, exec] of this.reader.callTimings(this.sqlFilter())) {
      if (sent > at) continue;
      const key =
        this.statsGroup === 'method' ? title : this.statsGroup === 'process' ? `${title}  @${this.processLabel(proc)}` : `${title}  @${this.threadLabel(exec)}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { lat: [], calls: 0, errors: 0, inFlight: 0 }));
      g.calls++;
      const done = returned !== null && returned <= at;
      if (!done && status !== 'disconnected') g.inFlight++;
      else if (done) g.lat.push(returned - sent);
      if (status === 'exception' || status === 'disconnected') g.errors++;
    }
    const pct = (s: number[], p: number) => (s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : NaN);
    const rows: StatsRow[] = [...groups].map(([key, g]) => {
      const s = Float64Array.from(g.lat).sort();
      const a = Array.from(s);
      return { key, calls: g.calls, errors: g.errors, inFlight: g.inFlight, p50: pct(a, 50), p90: pct(a, 90), p99: pct(a, 99), max: a.length ? a[a.length - 1]! : NaN };
    });
    const col = this.statsSort;
    const dir = this.statsDesc ? -1 : 1;
    rows.sort((x, y) => {
      if (col === 'key') return dir * x.key.localeCompare(y.key);
      const a = Number.isNaN(x[col]) ? -1 : x[col];
      const b = Number.isNaN(y[col]) ? -1 : y[col];
      return dir * (a - b) || x.key.localeCompare(y.key);
    });
    this.statsCache = { key, rows };
    return rows;
  }

  cycleStatsSort(): void {
    const i = STATS_COLUMNS.indexOf(this.statsSort);
    this.statsSort = STATS_COLUMNS[(i + 1) % STATS_COLUMNS.length]!;
    this.statsDesc = this.statsSort !== 'key';
    this.changed();
  }

  // ---- the log ----

  /** Log lines passing the filter. */
  logLines(): string[] {
    if (this.filterExpr.k === 'all') return this.log;
    if (this.logFilterCache?.src === this.filterSrc && this.logFilterCache.len === this.log.length) return this.logFilterCache.lines;
    const f = compileLineFilter(this.filterExpr);
    const lines = this.log.filter(f);
    this.logFilterCache = { src: this.filterSrc, len: this.log.length, lines };
    return lines;
  }
  private logFilterCache: { src: string; len: number; lines: string[] } | null = null;

  addLog(lines: string[], complete: boolean): void {
    for (const l of lines) this.log.push(l);
    if (this.log.length > SessionView.LOG_MAX) this.log.splice(0, this.log.length - SessionView.LOG_MAX);
    this.logComplete = complete;
    this.changed();
  }

  // ---- replay time cursor ----

  setCursor(t: number): void {
    if (this.mode !== 'replay') return;
    const lo = this.start ?? t;
    const hi = this.end ?? t;
    this.cursor = Math.max(lo, Math.min(hi, t));
    this.displayDirty = true;
    if (this.filterDependsOnState()) this.indexDirty = true;
    this.changed();
  }

  /** Moves the cursor to the next (or previous) call's send time. */
  step(forward: boolean): void {
    const n = this.allSent.length;
    if (!n) return;
    let i: number;
    if (forward) {
      i = lowerBound(this.allSent, n, this.cursor + 1e-6);
      if (i >= n) return this.setCursor(this.end ?? this.cursor);
    } else {
      i = lowerBound(this.allSent, n, this.cursor) - 1;
      if (i < 0) return this.setCursor(this.start ?? this.allSent[0]!);
    }
    this.setCursor(this.allSent[i]!);
    this.follow = true;
  }

  /** The id of the last call sent by the cursor (replay). */
  latestAtCursor(): number | undefined {
    const i = lowerBound(this.allSent, this.allSent.length, this.cursor + 1e-9) - 1;
    return i >= 0 ? this.allIds[i] : undefined;
  }
}

export { latencyOf };
