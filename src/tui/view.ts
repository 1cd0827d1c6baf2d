// The session view between the data and the terminal UI (mitmproxy's View):
// the filtered, ordered calls (ids only, callbacks nested under the call
// they serve), the focus, follow mode, the replay time cursor, and the
// state the panes read. Live, it is fed by the recording worker's change
// feed; for a recording, by the session reader. Either way rows outside the
// window are fetched by id through the reader, never held decoded.
//
// The call index (ids, parents, send and return times, in typed arrays) and
// filter and statistics scans come from an IndexSource: a worker thread in
// the UI, so a million-call recording shows its last calls at once and the
// full list when the scan is done. Panes never run SQL: they call the view.

import type { HeldInfo } from '../intercept/engine.js';
import { statSync } from 'node:fs';
import type { SessionReader } from '../store/reader.js';
import { Index, lowerBound, upperBound } from './call-index.js';
import { filterSql, SqlFilter } from '../store/filter-sql.js';
import type { CallRow, ConnRow, Delta, FeedBatch, ProcessRow, ThreadRow } from '../session/rows.js';
import { parseFilter, FilterExpr } from '../filter/parse.js';
import { compileFilter, compileLineFilter, dependsOnCallState, CallPredicate, FilterContext } from '../filter/match.js';
import { MethodTimings, ChainReport } from '../chains/chains.js';
import { PANES, PaneId } from './keys.js';
import { directIndex, IndexSource, ChainsRequest } from './index-client.js';
import { redactCall } from '../redact/redact.js';
import type { StatsBy, StatsRow } from './stats.js';

export type { StatsBy, StatsRow } from './stats.js';
export type Mode = 'live' | 'replay';

export interface ViewOptions {
  mode: Mode;
  reader: SessionReader;
  /** Age after which an outstanding call counts as stuck (--stuck). */
  stuckMs: number;
  /** Where index scans run (default: directly on the reader). */
  index?: IndexSource;
  /** Bytes the recorder dropped so far (live). */
  dropped?: () => number;
  now?: () => number;
  /** Wait this long before reading a large recording's whole index (the UI: let the first frame go first). */
  indexDelayMs?: number;
  /** replay --redact: the secret fields whose values are masked in params and results (and no raw bytes are shown). */
  redact?: ReadonlySet<string> | null;
  /** Least time between two notifications of listeners (ms): the frame interval (default NOTIFY_MS). */
  frameMs?: number;
  /** Calls at the end a filter scans first (default FILTER_TAIL). */
  filterTail?: number;
}

export const STATS_COLUMNS = ['calls', 'errors', 'inFlight', 'p50', 'p90', 'p99', 'max', 'key'] as const;
export type StatsColumn = (typeof STATS_COLUMNS)[number];

/** Calls shown before the index of a large recording has been read. */
const FIRST_SCREEN = 2000;

/** A call row as shown at the view's time: a call that returned after the replay cursor is still pending there. */
export function rowAt(c: CallRow, at: number): CallRow {
  if (c.sent > at) return c;
  if (c.returned !== null && c.returned > at) return { ...c, status: 'pending', returned: null, results: null, finished: null };
  return c;
}

export class SessionView {
  readonly mode: Mode;
  readonly reader: SessionReader;
  readonly dbPath: string;
  /** Secret fields masked in every row shown (replay --redact); raw message bytes are not shown then. */
  readonly redact: ReadonlySet<string> | null;
  stuckMs: number;
  private readonly now: () => number;
  private readonly dropped: () => number;
  private readonly index: IndexSource;

  // Subscribers (useSyncExternalStore) and a version bumped on every change.
  private listeners = new Set<() => void>();
  version = 0;
  private inFlight = new Set<Promise<unknown>>();

  processes = new Map<number, ProcessRow>();
  threads = new Map<number, ThreadRow>();
  connections = new Map<number, ConnRow>();

  // The filter.
  filterSrc = '';
  filterExpr: FilterExpr = { k: 'all' };
  private predicate: CallPredicate = () => true;
  /** A filter scan is running and nothing of its result is shown yet. */
  filtering = false;
  /** The matches found so far are shown; the filter's scan is still running. */
  counting = false;
  /** Calls matching the filter (found so far, while `counting`). */
  get matchCount(): number {
    return this.matched ? this.matchedN : this.all.n;
  }
  private filterGen = 0;
  /** Live calls that arrived while the filter's scan ran (ids after its snapshot) and match it. */
  private caughtUp: number[] = [];

  /** Every call (id order); while `complete` is false only the last ones (a large recording's index is being read). */
  private all = new Index();
  complete = false;
  /** Positions in `all` of the calls the filter matches (null: no filter). */
  private matched: Int32Array | null = null;
  private matchedN = 0;
  // The list as shown: tree order, folds applied.
  private display: Int32Array = new Int32Array(0);
  private depth: Uint8Array = new Uint8Array(0);
  private displayDirty = true;
  readonly folded = new Set<number>();

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
  /** Live: each method's completed durations so far (the chains analysis's hang limits). */
  private readonly timings = new MethodTimings();
  private interrupted = new Map<number, CallRow>();
  private recentSends: number[] = [];
  totalCalls = 0;
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
    this.index = opts.index ?? directIndex(opts.reader);
    this.redact = opts.redact ?? null;
    this.frameMs = opts.frameMs ?? SessionView.NOTIFY_MS;
    this.filterTail = opts.filterTail ?? SessionView.FILTER_TAIL;
    this.loadLabels();
    const maxId = this.reader.maxCallId();
    this.totalCalls = this.reader.callCount();
    // The last calls at once (a primary-key range); all of them when the scan is done.
    this.all = Index.from(this.reader.callIndex(Math.max(0, maxId - FIRST_SCREEN)));
    this.complete = this.all.n >= this.totalCalls;
    // The session's span takes a scan of every call: until it is known, the connections' and the last calls' times.
    let start: number | null = null;
    let last: number | null = null;
    const later = (t: number | null) => (t !== null && !Number.isNaN(t) && (last === null || t > last) ? (last = t) : last);
    for (const c of this.connections.values()) {
      if (start === null || c.opened < start) start = c.opened;
      later(c.opened);
      later(c.closed);
    }
    for (let i = 0; i < this.all.n; i++) {
      later(this.all.sent[i]!);
      later(this.all.returned[i]!);
    }
    this.start = start;
    this.end = last;
    // After the first frame, as the index (below).
    const afterFirstFrame = <T>(f: () => Promise<T>) => new Promise<T>((resolve, reject) => setTimeout(() => f().then(resolve, reject), opts.indexDelayMs ?? 0));
    this.track(
      afterFirstFrame(() => this.index.span()).then((span) => {
        const atEnd = this.cursor === this.end;
        this.start = span.start;
        this.end = span.last;
        if (this.mode === 'replay' && atEnd && this.end !== null) {
          this.cursor = this.end;
          this.displayDirty = true;
        }
        this.changed();
      }),
    );
    if (this.mode === 'replay') {
      this.cursor = this.end ?? (this.all.n ? this.all.sent[this.all.n - 1]! : 0);
    } else {
      this.cursor = this.now();
      for (const c of this.reader.callsOpenAt(this.now())) this.pending.set(c.id, c);
    }
    if (!this.complete) {
      // After the first frame: the scan would only slow drawing it down.
      this.track(
        afterFirstFrame(() => this.index.all(0)).then((ix) => {
          // Live calls that arrived meanwhile are already in `all` past the scan's end.
          const full = Index.from(ix);
          for (let i = lowerBound(this.all.ids, this.all.n, full.last() + 1); i < this.all.n; i++) {
            full.push(this.all.ids[i]!, this.all.parents[i]!, this.all.sent[i]!, this.all.returned[i]!);
          }
          this.all = full;
          this.complete = true;
          if (this.filterExpr.k !== 'all') this.refilter();
          this.treeDirty = true;
          this.changed();
        }),
      );
    }
  }

  close(): void {
    this.index.close();
  }

  // ---- subscription ----

  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };

  getVersion = (): number => this.version;

  private lastNotify = 0;
  /** Default least time between two notifications: a busy feed changes the view far more often than a frame is drawn. */
  static readonly NOTIFY_MS = 40;
  /** Least time between two notifications (ms): one frame is drawn per notification, with the latest state. */
  readonly frameMs: number;

  /** Messages the interceptor holds now (live sessions with --hold rules). */
  held: HeldInfo[] = [];
  /** Sends a request to the interceptor (the control socket's words); null when there is none. */
  interceptRequest: ((line: string) => void) | null = null;

  setHeld(list: HeldInfo[]): void {
    this.held = list;
    this.changed();
  }

  /** Marks the view changed; listeners hear about it soon, at most once per frameMs. */
  changed(byFeed = false): void {
    this.version++;
    // The feed's changes come at most once per five frame times (a frame's cost is at most a fifth of its
    // thread: under heavy traffic the UI draws less often and leaves the cores to the relay); others (keys,
    // the clock) once per frame interval.
    const due = this.lastNotify + (byFeed ? Math.max(this.frameMs, 5 * this.frameCost) : this.frameMs);
    if (this.notifyTimer !== null) {
      if (this.notifyDue <= due) return;
      clearTimeout(this.notifyTimer);
    }
    this.notifyDue = due;
    this.notifyTimer = setTimeout(() => {
      this.notifyTimer = null;
      this.lastNotify = performance.now();
      for (const l of this.listeners) l();
    }, Math.max(0, due - performance.now()));
  }

  private notifyTimer: NodeJS.Timeout | null = null;
  private notifyDue = 0;
  /** What the last frame took, from the notification to drawn (ms; see frameDrawn). */
  private frameCost = 0;

  /** A frame was drawn: how long since the notification it answers (the renderer says when). */
  frameDrawn(at = performance.now()): void {
    this.frameCost = at - this.lastNotify;
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inFlight.add(p);
    const done = () => this.inFlight.delete(p);
    p.then(done, done);
    return p;
  }

  /** Resolves when every scan started so far has been applied (tests, benchmarks). */
  async settled(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
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
    const view = this;
    return {
      threadLabel: (id) => this.threads.get(id)?.label,
      processLabel: (id) => this.processes.get(id)?.label,
      get now() {
        return view.at();
      },
    };
  }

  // ---- the live feed ----

  /** One batch of the recording's change feed. */
  ingest(batch: FeedBatch): void {
    this.apply(batch.delta);
    if (batch.lines.length) this.pushLog(batch.lines);
    this.changed(true);
  }

  private apply(d: Delta): void {
    for (const m of d.merges) this.processes.delete(m.from);
    for (const p of d.processes) this.processes.set(p.id, p);
    for (const t of d.threads) this.threads.set(t.id, t);
    for (const c of d.connections) this.connections.set(c.id, c);
    let updated = false;
    for (const c of d.calls) {
      this.cacheRow(c);
      this.timings.add(c);
      if (c.status === 'pending') this.pending.set(c.id, c);
      else {
        this.pending.delete(c.id);
        if (c.status === 'disconnected') {
          this.interrupted.set(c.id, c);
          if (this.interrupted.size > 200) this.interrupted.delete(this.interrupted.keys().next().value!);
        }
      }
      if (c.id > this.all.last()) {
        this.totalCalls++;
        this.recentSends.push(c.sent);
        this.all.push(c.id, c.parent ?? 0, c.sent, c.returned ?? NaN);
        // Live rows not yet stored (or not yet scanned) are matched here, in JavaScript; stored rows by the SQL scan.
        if (!this.matched && !this.filtering) this.treeInsert(c.id, c.parent ?? 0, c.sent);
        else if (this.predicate(c)) {
          if (this.filtering || this.counting) this.caughtUp.push(c.id);
          else {
            this.pushMatched(this.all.n - 1);
            this.treeInsert(c.id, c.parent ?? 0, c.sent);
          }
        }
      } else {
        updated = true;
        const i = this.all.pos(c.id);
        if (i >= 0) this.all.returned[i] = c.returned ?? NaN;
      }
    }
    // A filter on status, latency or text can change its mind about a call already listed.
    if (updated && this.filterDependsOnState()) this.refilterSoon();
    const cut = this.now() - 5000;
    while (this.recentSends.length && this.recentSends[0]! < cut) this.recentSends.shift();
  }

  private refilterTimer: NodeJS.Timeout | null = null;
  private refilterSoon(): void {
    if (this.refilterTimer) return;
    this.refilterTimer = setTimeout(() => {
      this.refilterTimer = null;
      this.refilter();
    }, 1000);
    this.refilterTimer.unref();
  }

  private stateDependent: { expr: FilterExpr; yes: boolean } | null = null;
  private filterDependsOnState(): boolean {
    if (this.stateDependent?.expr !== this.filterExpr) this.stateDependent = { expr: this.filterExpr, yes: dependsOnCallState(this.filterExpr) };
    return this.stateDependent.yes;
  }

  private pushMatched(pos: number): void {
    if (!this.matched) return;
    if (this.matchedN >= this.matched.length) {
      const b = new Int32Array(Math.max(1024, this.matchedN * 2));
      b.set(this.matched.subarray(0, this.matchedN));
      this.matched = b;
    }
    this.matched[this.matchedN++] = pos;
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
    this.sel = 0;
    this.follow = true;
    this.statsCache = null;
    this.refilter();
    this.changed();
    return null;
  }

  sqlFilter(expr: FilterExpr = this.filterExpr): SqlFilter | undefined {
    if (expr.k === 'all') return undefined;
    return filterSql(expr, { threads: [...this.threads.values()], processes: [...this.processes.values()], now: this.at() });
  }

  /** Calls a filter's scan reads per request (a slice, once the first few, smaller, are done). */
  static readonly FILTER_TAIL = 50000;
  /** While fewer matches than a screenful are shown: the display is rebuilt at most this often (ms) until the count is done. */
  static readonly FILTER_SHOW_MS = 250;
  /** More rows than a terminal has. */
  static readonly SCREENFUL = 100;
  private readonly filterTail: number;

  /** The filter's scan is about to start (the filter prompt is open): its threads can get ready. */
  filterSoon(): void {
    this.index.prepare?.();
  }

  /**
   * Runs the filter over every stored call (SQL, in the index source) in
   * slices of `filterTail` calls, on two threads that scan toward each other:
   * one from the end of the list (where it opens), and, once the slice at the
   * end is in (the window: nothing competes with it), one from the start.
   * They meet wherever their speeds take them, so neither waits for the other.
   * Matches show as soon as there are any and the slice at the end is in
   * (`counting` until the scan is done: the count follows, as in
   * Wireshark); calls that arrive meanwhile (live) are matched as they come.
   */
  private refilter(): void {
    const gen = ++this.filterGen;
    this.caughtUp = [];
    if (this.filterExpr.k === 'all') {
      this.matched = null;
      this.filtering = this.counting = false;
      this.treeDirty = true;
      return;
    }
    this.filtering = true;
    this.counting = false;
    const sql = this.sqlFilter()!;
    const show = (parts: Int32Array[], done: boolean) => {
      if (gen !== this.filterGen) return;
      const keep = this.follow ? undefined : this.selectedId();
      const caught = done ? this.caughtUp : [];
      const pos = new Int32Array(parts.reduce((n, p) => n + p.length, 0) + caught.length);
      let k = 0;
      for (const list of [...parts, caught]) {
        for (const id of list) {
          const p = this.all.pos(id);
          if (p >= 0) pos[k++] = p;
        }
      }
      if (done) this.caughtUp = [];
      this.matched = pos;
      this.matchedN = k;
      this.filtering = false;
      this.counting = !done;
      this.treeDirty = true;
      if (keep !== undefined) {
        this.refreshDisplay();
        const i = this.display.indexOf(keep);
        if (i >= 0) this.sel = i;
      }
      this.changed();
    };
    if (!this.complete) {
      // The index is still being read (live): one scan of everything stored.
      this.track(this.index.ids(sql, 0).then((ids) => show([ids], true)));
      return;
    }
    // (lo, hi]: the ids no thread has taken yet.
    let lo = 0;
    const top = this.all.last();
    let hi = top;
    const slices: { from: number; ids: Int32Array }[] = [];
    let running = 0;
    let found = 0;
    let shownAt = -Infinity;
    let failed = false;
    let endDone = false;
    const update = () => {
      const done = running === 0 && lo >= hi && !failed;
      if (!done) {
        // Not before the slice at the end (where the list opens) is in: the window would show other calls first.
        // Not while nothing is found (the tab line says `filtering`: never an empty list while counting).
        if (!endDone || found === 0) return;
        // A screenful shown: later slices add rows above it, only the count changes (shown when done).
        if (!this.filtering && (this.matchedN >= SessionView.SCREENFUL || performance.now() - shownAt < SessionView.FILTER_SHOW_MS)) return;
      }
      shownAt = performance.now();
      slices.sort((a, b) => a.from - b.from);
      show(
        slices.map((x) => x.ids),
        done,
      );
    };
    // Each thread's slices grow to filterTail (a quarter, a half, then whole): the first ones answer soon.
    const taken = [0, 0];
    const take = (part: 0 | 1) => {
      if (lo >= hi || gen !== this.filterGen) return;
      const size = Math.max(1, this.filterTail >> Math.max(0, 2 - taken[part]!++));
      const from = part === 0 ? Math.max(lo, hi - size) : lo;
      const to = part === 0 ? hi : Math.min(hi, lo + size);
      if (part === 0) hi = from;
      else lo = to;
      running++;
      this.track(
        this.index.ids(sql, from, to, part).then(
          (ids) => {
            running--;
            if (gen !== this.filterGen) return;
            slices.push({ from, ids });
            found += ids.length;
            take(part);
            if (to === top) {
              endDone = true;
              // The thread from the start begins once the slice at the end (the window) is in.
              take(1);
              take(1);
            }
            update();
          },
          () => {
            // A slice failed (the database went away): what was found stays, and the count is never done.
            running--;
            failed = true;
          },
        ),
      );
    };
    // Two slices in flight per thread, so that neither waits for this thread between them.
    take(0);
    take(0);
  }

  // ---- the display order ----

  /**
   * The tree order of every listed call (roots in id order, each followed by
   * the callbacks nested in it), folds applied; rebuilt when the filter, the
   * folds or the index change, extended in place by live calls.
   */
  private tree = { n: 0, ids: new Int32Array(0), depth: new Uint8Array(0), sent: new Float64Array(0) };
  private treeDirty = true;

  private buildTree(): void {
    this.treeDirty = false;
    this.displayDirty = true;
    const a = this.all;
    const m = this.matched;
    const n = m ? this.matchedN : a.n;
    const posAt = m ? (i: number) => m[i]! : (i: number) => i;
    const listed = m ? new Uint8Array(a.n) : null;
    if (listed) for (let i = 0; i < n; i++) listed[m![i]!] = 1;
    // Callbacks whose parent is listed go under it; the rest are roots. The callbacks of each
    // call are a range of `kids` (from[pos] to from[pos + 1]): typed arrays, no object per call.
    const parentPos = new Int32Array(n).fill(-1);
    const from = new Int32Array(a.n + 1);
    for (let i = 0; i < n; i++) {
      const p = a.parents[posAt(i)]!;
      if (p === 0) continue;
      const pp = a.pos(p);
      if (pp < 0 || (listed && !listed[pp])) continue;
      parentPos[i] = pp;
      from[pp + 1]!++;
    }
    for (let j = 0; j < a.n; j++) from[j + 1]! += from[j]!;
    const kids = new Int32Array(from[a.n]!);
    const fill = from.slice(0, a.n);
    for (let i = 0; i < n; i++) if (parentPos[i]! >= 0) kids[fill[parentPos[i]!]!++] = posAt(i);
    const cap = n + 1024;
    const ids = new Int32Array(cap);
    const depth = new Uint8Array(cap);
    const sent = new Float64Array(cap);
    let k = 0;
    const emit = (pos: number, d: number) => {
      const id = a.ids[pos]!;
      ids[k] = id;
      depth[k] = Math.min(d, 255);
      sent[k] = a.sent[pos]!;
      k++;
      if (from[pos + 1]! > from[pos]! && !this.folded.has(id)) for (let j = from[pos]!; j < from[pos + 1]!; j++) emit(kids[j]!, d + 1);
    };
    for (let i = 0; i < n; i++) if (parentPos[i]! < 0) emit(posAt(i), 0);
    this.tree = { n: k, ids, depth, sent };
  }

  /** A live call joins the tree: at the end, or after the callbacks already under the call it is nested in. */
  private treeInsert(id: number, parent: number, sent: number): void {
    if (this.treeDirty) return;
    const t = this.tree;
    let at = t.n;
    let d = 0;
    if (parent !== 0) {
      // The parent is recent: look for it from the end.
      let p = -1;
      for (let i = t.n - 1; i >= 0 && i >= t.n - 5000; i--) {
        if (t.ids[i] === parent) {
          p = i;
          break;
        }
      }
      if (p < 0) {
        // Not listed (filtered out), folded away, or far back: rebuild.
        this.treeDirty = true;
        return;
      }
      if (this.folded.has(parent)) return;
      d = t.depth[p]! + 1;
      at = p + 1;
      while (at < t.n && t.depth[at]! >= d) at++;
    }
    if (t.n >= t.ids.length) {
      const cap = Math.max(1024, t.n * 2);
      const ids = new Int32Array(cap);
      ids.set(t.ids.subarray(0, t.n));
      const depth = new Uint8Array(cap);
      depth.set(t.depth.subarray(0, t.n));
      const s = new Float64Array(cap);
      s.set(t.sent.subarray(0, t.n));
      this.tree = { n: t.n, ids, depth, sent: s };
    }
    const x = this.tree;
    if (at < x.n) {
      x.ids.copyWithin(at + 1, at, x.n);
      x.depth.copyWithin(at + 1, at, x.n);
      x.sent.copyWithin(at + 1, at, x.n);
    }
    x.ids[at] = id;
    x.depth[at] = Math.min(d, 255);
    x.sent[at] = sent;
    x.n++;
    this.displayDirty = true;
  }

  /** The list as shown: the tree up to the replay cursor (callbacks are sent after the call they are nested in). */
  private refreshDisplay(): void {
    if (this.treeDirty) this.buildTree();
    if (!this.displayDirty) return;
    this.displayDirty = false;
    const t = this.tree;
    let ids: Int32Array;
    let depth: Uint8Array;
    if (this.mode === 'replay' && t.n && t.sent.subarray(0, t.n).some((x) => x > this.cursor)) {
      ids = new Int32Array(t.n);
      depth = new Uint8Array(t.n);
      let k = 0;
      const at = this.cursor;
      for (let i = 0; i < t.n; i++) {
        if (t.sent[i]! > at) continue;
        ids[k] = t.ids[i]!;
        depth[k] = t.depth[i]!;
        k++;
      }
      ids = ids.subarray(0, k);
      depth = depth.subarray(0, k);
    } else {
      ids = t.ids.subarray(0, t.n);
      depth = t.depth.subarray(0, t.n);
    }
    this.display = ids;
    this.depth = depth;
    const k = ids.length;
    if (this.follow) this.sel = Math.max(0, k - 1);
    else this.sel = Math.min(this.sel, Math.max(0, k - 1));
  }

  /** Whether the listed call at `i` shows callbacks under it (the next row is deeper). */
  private hasKidsAt(i: number): boolean {
    return i + 1 < this.depth.length && this.depth[i + 1]! > this.depth[i]!;
  }

  /** Number of rows in the calls list. */
  get count(): number {
    this.refreshDisplay();
    return this.display.length;
  }

  /** Rows [start, start+n) of the calls list, as of the view's time, with their nesting depth. */
  window(start: number, n: number): { row: CallRow; depth: number; hasKids: boolean; folded: boolean; index: number }[] {
    this.refreshDisplay();
    start = Math.max(0, start);
    const end = Math.min(this.display.length, start + n);
    const ids = Array.from(this.display.subarray(start, end));
    const rows = this.rowsByIds(ids);
    const at = this.at();
    const out = [];
    for (let i = 0; i < ids.length; i++) {
      const r = rows.get(ids[i]!);
      if (!r) continue;
      const idx = start + i;
      out.push({ row: this.mode === 'replay' ? rowAt(r, at) : r, depth: this.depth[idx]!, hasKids: this.hasKidsAt(idx) || this.folded.has(r.id), folded: this.folded.has(r.id), index: idx });
    }
    return out;
  }

  private rowsByIds(ids: number[]): Map<number, CallRow> {
    const out = new Map<number, CallRow>();
    const missing: number[] = [];
    for (const id of ids) {
      const r = this.rows.get(id);
      if (r) out.set(id, r);
      else missing.push(id);
    }
    if (missing.length) {
      for (const row of this.reader.callsByIds(missing)) {
        const r = this.redact ? redactCall(row, this.redact) : row;
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

  /** Puts the selection on a call (unfolding the calls it is nested in). */
  focusCall(id: number): void {
    this.refreshDisplay();
    let i = this.display.indexOf(id);
    if (i < 0) {
      let c = this.call(id);
      while (c && c.parent !== null) {
        this.folded.delete(c.parent);
        c = this.call(c.parent);
      }
      this.treeDirty = true;
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
    if (!this.hasKidsAt(this.sel) && !this.folded.has(id)) return;
    if (this.folded.has(id)) this.folded.delete(id);
    else this.folded.add(id);
    this.treeDirty = true;
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

  /** Moves the selection to the next (or previous) listed call matching `src`; false if none (or invalid). */
  async search(src: string, forward: boolean): Promise<boolean> {
    const r = parseFilter(src);
    if (!r.ok || r.expr.k === 'all') return false;
    const hits = await this.track(this.index.ids(this.sqlFilter(r.expr), 0));
    const hit = new Set(hits);
    this.refreshDisplay();
    const n = this.display.length;
    for (let k = 1; k <= n; k++) {
      const i = (this.sel + (forward ? k : -k) + n * 2) % n;
      if (hit.has(this.display[i]!)) {
        this.sel = i;
        this.follow = false;
        this.changed();
        return true;
      }
    }
    return false;
  }

  // ---- header facts ----

  /** Outstanding calls at the view's time: how many, and when the oldest was sent (live: from the feed; replay: from the index). */
  outstanding(): { count: number; oldestSent: number | null } {
    let count = 0;
    let oldest = Infinity;
    if (this.mode === 'live') {
      for (const c of this.pending.values()) {
        count++;
        oldest = Math.min(oldest, c.sent);
      }
    } else {
      for (const id of this.outstandingIds()) {
        const i = this.all.pos(id);
        count++;
        oldest = Math.min(oldest, this.all.sent[i]!);
      }
    }
    return { count, oldestSent: count ? oldest : null };
  }

  private outstandingCache: { at: number; complete: boolean; ids: number[] } | null = null;
  /** Replay: the calls sent by the cursor and not returned by then (a disconnect's calls never return). */
  private outstandingIds(): number[] {
    const c = this.outstandingCache;
    if (c && c.at === this.cursor && c.complete === this.complete) return c.ids;
    const a = this.all;
    const at = this.cursor;
    const ids: number[] = [];
    for (let i = 0; i < a.n; i++) {
      if (a.sent[i]! > at) break;
      const r = a.returned[i]!;
      if (Number.isNaN(r) || r > at) ids.push(a.ids[i]!);
    }
    this.outstandingCache = { at, complete: this.complete, ids };
    return ids;
  }

  /** Calls per second over the last five seconds (live) or the five seconds before the cursor. */
  callsPerSecond(): number {
    if (this.mode === 'live') {
      const cut = this.now() - 5000;
      return this.recentSends.filter((t) => t >= cut).length / 5;
    }
    const lo = lowerBound(this.all.sent, this.all.n, this.cursor - 5000);
    const hi = upperBound(this.all.sent, this.all.n, this.cursor);
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

  private chainsReport: ChainReport | null = null;
  private chainsKey: string | null = null;
  private chainsAsked: string | null = null;
  /** How long the last chains analysis took (ms). */
  private chainsMs = 0;
  /**
   * The chains report at the view's time (what `ipc-trace chains --at`
   * computes), as last computed: the analysis runs in the index source (a
   * worker), at most every half second live and once per cursor position.
   */
  chains(): ChainReport {
    const at = this.at();
    // Live, again every half second, or less often when the analysis is slow (a huge number of
    // outstanding calls): it never takes more than a fifth of its thread.
    const every = Math.max(500, 5 * this.chainsMs);
    const key = `${this.mode === 'live' ? Math.floor(at / every) : at}:${this.stuckMs}:${this.complete}`;
    if (key !== this.chainsKey && this.chainsAsked === null) {
      this.chainsAsked = key;
      let live: ChainsRequest['live'];
      if (this.mode === 'live') {
        const calls = [...this.pending.values(), ...this.interrupted.values()].map((c): CallRow => ({ ...c, params: null, results: null }));
        live = {
          calls,
          threads: [...this.threads.values()],
          processes: [...this.processes.values()],
          connections: [...this.connections.values()],
          limits: [...new Set(calls.map((c) => c.title))].map((t) => [t, this.timings.limitFor(t)]),
        };
      }
      const p = this.index.chains({ at, stuckMs: this.stuckMs, live });
      const asked = performance.now();
      const done = (r: ChainReport | null) => {
        this.chainsMs = performance.now() - asked;
        this.chainsAsked = null;
        if (r) {
          this.chainsReport = r;
          this.chainsKey = key;
        }
        this.changed();
      };
      this.track(p.then(done, () => done(null)));
    }
    return this.chainsReport ?? { at, stuckMs: this.stuckMs, outstanding: 0, interrupted: 0, chains: [], deadlocks: [], stuck: [], threads: [] };
  }

  // ---- stats ----

  statsBy: StatsBy = 'method';
  statsSort: StatsColumn = 'calls';
  statsDesc = true;
  private statsCache: { key: string; rows: StatsRow[] } | null = null;
  private statsAsked: string | null = null;
  /** Statistics are being computed for the current settings. */
  statsLoading = false;

  /** Per-method statistics (as last computed: a new scan starts when the settings or the data changed). */
  stats(): StatsRow[] {
    const bucket = this.mode === 'live' ? Math.floor(this.now() / 2000) : this.cursor;
    const key = `${bucket}:${this.filterSrc}:${this.statsBy}:${this.complete}`;
    if (this.statsCache?.key !== key && this.statsAsked !== key) {
      this.statsAsked = key;
      this.statsLoading = true;
      const at = this.at();
      this.track(
        this.index
          .stats({
            filter: this.sqlFilter(),
            by: this.statsBy,
            at,
            processes: [...this.processes.values()],
            threads: [...this.threads.values()],
          })
          .then((rows) => {
            if (this.statsAsked !== key) return;
            this.statsCache = { key, rows };
            this.statsLoading = false;
            this.changed();
          }),
      );
    }
    return this.sortStats(this.statsCache?.rows ?? []);
  }

  private sortStats(rows: StatsRow[]): StatsRow[] {
    const col = this.statsSort;
    const dir = this.statsDesc ? -1 : 1;
    return [...rows].sort((x, y) => {
      if (col === 'key') return dir * x.key.localeCompare(y.key);
      const a = x[col] ?? -1;
      const b = y[col] ?? -1;
      return dir * (a - b) || x.key.localeCompare(y.key);
    });
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

  private pushLog(lines: string[]): void {
    for (const l of lines) this.log.push(l);
    if (this.log.length > SessionView.LOG_MAX) this.log.splice(0, this.log.length - SessionView.LOG_MAX);
  }

  addLog(lines: string[], complete: boolean): void {
    this.pushLog(lines);
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
    if (this.filterDependsOnState()) this.refilter();
    this.changed();
  }

  /** Moves the cursor to the next (or previous) call's send time. */
  step(forward: boolean): void {
    const a = this.all;
    if (!a.n) return;
    let i: number;
    if (forward) {
      i = upperBound(a.sent, a.n, this.cursor);
      if (i >= a.n) return this.setCursor(this.end ?? this.cursor);
    } else {
      i = lowerBound(a.sent, a.n, this.cursor) - 1;
      if (i < 0) return this.setCursor(this.start ?? a.sent[0]!);
    }
    this.setCursor(a.sent[i]!);
    this.follow = true;
  }
}
