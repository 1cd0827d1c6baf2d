// Recording off the relay's thread. The relay's tap hands each event to
// RecorderClient, which copies it into a ring in shared memory (ring.ts) that
// the recording worker reads, decodes, logs and stores. The relay never waits
// and recording never holds more than the ring:
//   * data that does not fit, or arrives while the worker is more than
//     maxLagMs behind, is dropped from recording (never from relaying): its
//     direction gets a gap record and nothing after it in that direction is
//     recorded (what follows a gap cannot be framed). Later drops are added to
//     the same gap (further gap records, at most every GAP_REPORT_MS, which
//     the worker adds to the gap it recorded), so the stored gaps always add
//     up to what was dropped;
//   * a connection opened when even its open record finds no room is not
//     recorded at all (skipped: counted, with its bytes, in the session's meta);
//   * data leaves SMALL_RECORDS_ROOM of the ring free for the small records
//     (gaps, ends, closes, opens), so that what accounts for the drops goes
//     in at once, where the worker looks ahead for it (cli/gaps-ahead.ts);
//     those that still find no room wait in a queue (at most a few per
//     recorded connection) and go first when there is room again, or with
//     the finish message.
// Once the worker cannot record any more (e.g. the disk is full) it says so
// and everything is counted as dropped.
//
// For a stop that must end the database without the worker (it gets no CPU:
// src/store/takeover.ts), the client counts the bytes it was handed per
// connection and direction, and keeps a closed connection's counts (with its
// close) until the worker has committed past its close record (the ring's
// `progress`): what the database lacks of them is then recorded as gaps, so
// memory grows with the connections the worker is behind on, not with the
// session.

import type { Intervention } from '../intercept/engine.js';
import type { CallNames } from '../intercept/names.js';
import type { Dir } from '../decoder/messages.js';
import type { ConnOpen } from './pipeline.js';
import type { FeedBatch } from './rows.js';
import { CTL, KIND, RingShared, RingWriter, createRing } from './ring.js';
import type { Committed } from './ring.js';

/**
 * Relay events as the worker processes them. `more`: bytes added to the
 * direction's gap already recorded; `ahead`: a gap the store wrote ahead of
 * the data before it (Store.gapAhead), now reached in the stream.
 */
export type RecordItem = (
  | { k: 'open'; info: ConnOpen }
  | { k: 'data'; id: number; dir: Dir; bytes: Uint8Array; time: number }
  | { k: 'end'; id: number; dir: Dir; time: number }
  | { k: 'close'; id: number; time: number; reason: string | null }
  | { k: 'gap'; id: number; dir: Dir; time: number; bytes: number; more?: boolean; ahead?: boolean }
  /** What the interceptor did (src/intercept/): recorded and logged in its place in the stream. */
  | { k: 'intervention'; id: number; dir: Dir; time: number; ev: Intervention }) & {
  /** The ring record it came from (its count, from 1): how far the worker has applied the ring. */
  seq?: number;
};

/** What recording lost, as the session's meta reports it. */
export interface DropCounts {
  /** Every byte relayed but not recorded (gaps, skipped connections, after a failure). */
  droppedBytes: number;
  /** Connections not recorded at all, and their bytes (part of droppedBytes). */
  skippedConnections: number;
  skippedBytes: number;
}

/** The relay's last word to the worker: what could not go through the ring, and the totals. */
export interface FinishMessage extends DropCounts {
  k: 'finish';
  items: RecordItem[];
  /** Past this time (ms since the epoch) the worker stops decoding and records the rest as gaps. */
  deadline: number;
  /** By this time (ms since the epoch) the database should be closed: the worker stops decoding earlier when it sees that what the end costs would not fit otherwise. */
  closeBy: number;
  /** When it was posted (ms since the epoch). */
  posted: number;
}

/** Where a stop's time went, in ms, as the worker measured it (see cli/record-worker.ts). */
export interface StopPhases {
  /** From the finish message being posted to the worker reading it. */
  wake: number;
  /** Decoding what was left, until drained or the deadline. */
  drain: number;
  /** Past the deadline (or once the end would not fit before `closeBy`): reading the rest and recording it as gaps, closing connections. */
  gaps: number;
  /** Writing the finish message's items, the feed's last batch and meta. */
  last: number;
  /** Closing the database (final blocks, checkpoint). */
  close: number;
  /** CPU time the worker used from reading the finish message to closing (ms, 10 ms steps). */
  cpu: number;
  /** Calls still pending when the drain ended (each is written once more when its connection's close is recorded). */
  pending: number;
}

/** A log file as created (its device and inode tell it from a file put at its path later). */
export interface LogFileId {
  path: string;
  dev: number;
  ino: number;
}

/** Messages from the worker. */
export type WorkerReply =
  /** `log`: the --log file it writes, if any; `tid`: its thread's id (Linux), to read its CPU time. */
  | { k: 'ready'; dbPath: string; log: LogFileId | null; reserve: { path: string; ino: number } | null; tid: number | null }
  /** The database is closed; `phases` says where the stop's time went (ms per phase, worker side). */
  | { k: 'done'; phases: StopPhases }
  | { k: 'error'; message: string; user: boolean }
  /** Recording stopped for good (e.g. disk full); reported once. */
  | { k: 'failed'; message: string }
  | { k: 'feed'; batch: FeedBatch }
  /**
   * The names of calls, while the interceptor asks for them (CTL.NAMES):
   * [conn, dir, question, names], each Call's as it was decoded; `applied`:
   * every ring record up to this count is in the model.
   */
  | { k: 'names'; applied: number; calls: [number, Dir, number, CallNames][] };

/** A connection as the relay handed it to recording, for a stop that ends the database without the worker. */
export interface HandedConn {
  id: number;
  /** Bytes relayed each way ('>', '<'), recorded or dropped. */
  handed: [number, number];
  /** Its close, or null while open. */
  closed: { time: number; reason: string | null } | null;
}

/** What a stop needs to end the database without the worker (src/store/takeover.ts). */
export interface RecordingCut {
  /** What the worker published as committed (read once it can commit no more). */
  committed: Committed;
  /** The connections whose close the worker may not have committed, or that never closed (the relay's skipped ones aside). */
  conns: HandedConn[];
  /** False once the worker stopped recording (e.g. disk full): the connections are not known any more. */
  tracked: boolean;
  /** Every data byte the relay handed to recording, recorded or not. */
  handedBytes: number;
  /** Connections not recorded at all, and their bytes: the relay's, and the worker's whose close it committed. */
  skippedConnections: number;
  skippedBytes: number;
}

export interface RecorderClientOptions {
  /** Size of the shared ring (default 8 MiB): the most memory recording holds. */
  ringBytes?: number;
  /** How far behind (ms) the worker may be before new data is dropped (default 5000: a gap loses the rest of its direction, so a busy moment on a loaded machine must not cause one; the ring bounds the memory anyway). */
  maxLagMs?: number;
}

/** How often a growing gap is reported to the worker. */
export const GAP_REPORT_MS = 100;

/**
 * Ring space data leaves free for the small records (gaps, ends, closes,
 * opens): while recording is behind and the ring is full of data, the gaps
 * that account for what the relay drops still go in at once, where the
 * worker looks ahead for them (src/cli/gaps-ahead.ts), rather than waiting
 * in the queue for the worker to free space. About a thousand gap records.
 */
export const SMALL_RECORDS_ROOM = 32 * 1024;

interface Gap {
  time: number;
  /** Dropped bytes not reported to the worker yet. */
  unreported: number;
  /** A report of this gap waits in the queue. */
  queued: boolean;
  reportedAt: number;
}

interface Conn extends HandedConn {
  skipped: boolean;
  /** Bytes dropped (all of a skipped connection's). */
  bytes: number;
  gaps: [Gap | null, Gap | null];
  /** The count of its close record (see `records`). */
  closeRecord: number;
}

type Queued =
  | { k: 'gap'; c: Conn; d: Dir }
  | { k: 'end'; id: number; dir: Dir; time: number }
  | { k: 'close'; id: number; time: number; reason: string | null }
  | { k: 'intervention'; id: number; dir: Dir; time: number; ev: Intervention };

const di = (d: Dir) => (d === '>' ? 0 : 1);

export class RecorderClient implements DropCounts {
  readonly ring: RingShared;
  private readonly w: RingWriter;
  private readonly maxLagMs: number;
  /** Ring space data leaves free (SMALL_RECORDS_ROOM, at most 1/64 of a small ring). */
  private readonly smallRoom: number;
  private readonly conns = new Map<number, Conn>();
  private queue: Queued[] = [];
  private retry: NodeJS.Timeout | null = null;
  droppedBytes = 0;
  skippedConnections = 0;
  skippedBytes = 0;
  /** Every data byte handed to recording. */
  handedBytes = 0;
  /** Closed connections (not skipped) in the order of their close records, from `closedFrom` on: the worker may not have committed their close yet. */
  private closed: Conn[] = [];
  private closedFrom = 0;
  /** Connections open when the finish message went. */
  private openAtFinish: Conn[] = [];
  /** Per-connection counts are kept (until the worker stops recording). */
  private tracking = true;

  constructor(opts: RecorderClientOptions = {}) {
    this.ring = createRing(opts.ringBytes ?? 8 * 1024 * 1024);
    this.smallRoom = Math.min(SMALL_RECORDS_ROOM, this.ring.bytes.byteLength >> 6);
    this.w = new RingWriter(this.ring);
    this.maxLagMs = opts.maxLagMs ?? 5000;
  }


  open(info: ConnOpen): void {
    const c: Conn = { id: info.id, skipped: false, bytes: 0, gaps: [null, null], handed: [0, 0], closed: null, closeRecord: 0 };
    this.conns.set(info.id, c);
    // Opened even while behind (its data then goes to gaps): only a full ring skips a connection.
    if (!this.flushQueue() || this.w.stopped || !this.w.writeText(KIND.open, info.id, '>', info.time, JSON.stringify(info))) {
      c.skipped = true;
      this.skippedConnections++;
    }
  }

  data(id: number, dir: Dir, bytes: Uint8Array, time: number): void {
    const c = this.conns.get(id);
    if (!c) return;
    if (!c.skipped && !this.w.stopped && !c.gaps[di(dir)] && this.flushQueue() && this.w.lagMs(time) <= this.maxLagMs && this.w.write(KIND.data, id, dir, time, bytes, this.smallRoom)) {
      this.handed(c, dir, bytes.length);
      return;
    }
    this.lose(c, dir, bytes.length, time);
  }

  /** n bytes relayed in `dir` that are not recorded (the native pump dropped their copies): a gap (a new one, or added to the direction's gap). */
  lost(id: number, dir: Dir, n: number, time: number): void {
    const c = this.conns.get(id);
    if (c) this.lose(c, dir, n, time);
  }

  private lose(c: Conn, dir: Dir, n: number, time: number): void {
    this.handed(c, dir, n);
    this.drop(c, n);
    if (c.skipped || this.w.stopped) return;
    const g = c.gaps[di(dir)];
    if (g) {
      g.unreported += n;
      if (time - g.reportedAt >= GAP_REPORT_MS) this.report(c, dir, time);
      return;
    }
    c.gaps[di(dir)] = { time, unreported: n, queued: false, reportedAt: time };
    this.report(c, dir, time);
  }

  /** Counts n bytes of `dir` as handed to recording (recorded or lost): what a takeover compares with the database (src/store/takeover.ts). */
  private handed(c: Conn, dir: Dir, n: number): void {
    c.handed[di(dir)] += n;
    this.handedBytes += n;
  }

  end(id: number, dir: Dir, time: number): void {
    const c = this.conns.get(id);
    if (!c || c.skipped) return;
    this.report(c, dir, time);
    this.put({ k: 'end', id, dir, time });
  }

  close(id: number, time: number, reason: string | null): void {
    const c = this.conns.get(id);
    if (!c) return;
    this.conns.delete(id);
    if (c.skipped) {
      this.skippedBytes += c.bytes;
      return;
    }
    this.report(c, '>', time);
    this.report(c, '<', time);
    this.put({ k: 'close', id, time, reason });
    c.closed = { time, reason };
    c.closeRecord = this.records;
    this.closed.push(c);
    this.forgetCommitted();
  }

  /** Lets go of the closed connections whose close the worker has committed (all of them once it stopped recording). */
  private forgetCommitted(records = this.w.committedRecords()): void {
    if (this.w.stopped) {
      this.tracking = false;
      this.closed = [];
      this.closedFrom = 0;
      return;
    }
    const q = this.closed;
    let i = this.closedFrom;
    while (i < q.length && q[i]!.closeRecord <= records) i++;
    if (i > 1024 && i * 2 > q.length) {
      q.splice(0, i);
      i = 0;
    }
    this.closedFrom = i;
  }

  /**
   * What a stop needs to end the database itself: call it once the worker can
   * commit no more (src/store/takeover.ts). The worker's published snapshot
   * and the connections kept fit together: those it has committed past are
   * let go of here by the same snapshot.
   */
  cut(): RecordingCut {
    const committed = this.w.committed();
    this.forgetCommitted(committed.records);
    const conns: HandedConn[] = [];
    if (this.tracking) {
      for (let i = this.closedFrom; i < this.closed.length; i++) conns.push(this.closed[i]!);
      for (const c of this.openAtFinish) conns.push(c);
      for (const c of this.conns.values()) if (!c.skipped) conns.push(c);
    }
    return {
      committed,
      conns: conns.map((c) => ({ id: c.id, handed: [c.handed[0], c.handed[1]], closed: c.closed })),
      tracked: this.tracking,
      handedBytes: this.handedBytes,
      skippedConnections: this.skippedConnections + committed.skippedConnections,
      skippedBytes: this.skippedBytes + committed.skippedBytes,
    };
  }

  /** A count of what was handed to the ring so far (queued records included: they go in, in order): the worker's `applied` reaches it once it has everything recorded until now. */
  get records(): number {
    return this.w.records + this.queue.length;
  }

  /** True once the worker cannot record any more (what is not recorded never gets names). */
  get stopped(): boolean {
    return this.w.stopped;
  }

  /** Asks the worker for the names of calls (or stops asking). */
  wantNames(on: boolean): void {
    if ((Atomics.exchange(this.w.ctl, CTL.NAMES, on ? 1 : 0) === 1) === on) return;
    if (on) this.w.wake();
  }

  /** Tells the worker to commit nothing more: a stop ends the database without it (cut()). */
  takeOver(): void {
    this.w.takeOver();
  }

  /** Wakes the worker (something waits for it). */
  wake(): void {
    this.w.wake();
  }

  intervention(ev: Intervention): void {
    const c = this.conns.get(ev.conn);
    if (!c || c.skipped) return;
    this.put({ k: 'intervention', id: ev.conn, dir: ev.dir, time: ev.time, ev });
  }

  /**
   * The finish message: what still waits in the queue, the gaps not reported
   * yet, and the totals. The client records nothing after this.
   */
  finishMessage(deadline: number, closeBy = deadline): FinishMessage {
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    this.flushQueue();
    const items: RecordItem[] = [];
    for (const q of this.queue) {
      if (q.k === 'gap') {
        const g = q.c.gaps[di(q.d)]!;
        g.queued = false;
        items.push({ k: 'gap', id: q.c.id, dir: q.d, time: g.time, bytes: g.unreported });
        g.unreported = 0;
      } else items.push(q);
    }
    this.queue = [];
    for (const c of this.conns.values()) {
      if (c.skipped) this.skippedBytes += c.bytes;
      else this.openAtFinish.push(c);
      for (const d of ['>', '<'] as const) {
        const g = c.gaps[di(d)];
        if (g && g.unreported > 0) items.push({ k: 'gap', id: c.id, dir: d, time: g.time, bytes: g.unreported });
      }
    }
    this.conns.clear();
    Atomics.store(this.w.ctl, CTL.FINISH, 1);
    this.w.wake();
    const { droppedBytes, skippedConnections, skippedBytes } = this;
    return { k: 'finish', items, deadline, closeBy, posted: performance.timeOrigin + performance.now(), droppedBytes, skippedConnections, skippedBytes };
  }

  private drop(c: Conn, n: number): void {
    this.droppedBytes += n;
    c.bytes += n;
  }

  /** Reports what a direction's gap dropped since the last report (now, or queued). */
  private report(c: Conn, d: Dir, now: number): void {
    const g = c.gaps[di(d)];
    if (!g || g.unreported === 0 || g.queued) return;
    if (this.flushQueue() && this.writeGap(c, d, g, now)) return;
    g.queued = true;
    this.enqueue({ k: 'gap', c, d });
  }

  private writeGap(c: Conn, d: Dir, g: Gap, now: number): boolean {
    if (!this.w.writeNumber(KIND.gap, c.id, d, g.time, g.unreported)) return false;
    g.unreported = 0;
    g.reportedAt = now;
    return true;
  }

  private put(q: Exclude<Queued, { k: 'gap' }>): void {
    if (this.flushQueue() && this.writeQueued(q)) return;
    this.enqueue(q);
  }

  private enqueue(q: Queued): void {
    this.queue.push(q);
    this.scheduleRetry();
  }

  /** While something waits in the queue, try again every 10 ms even if no traffic comes. */
  private scheduleRetry(): void {
    if (this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = null;
      if (!this.flushQueue()) this.scheduleRetry();
    }, 10);
    this.retry.unref();
  }

  private writeQueued(q: Queued): boolean {
    switch (q.k) {
      case 'gap': {
        const g = q.c.gaps[di(q.d)]!;
        if (g.unreported === 0 || this.writeGap(q.c, q.d, g, performance.timeOrigin + performance.now())) {
          g.queued = false;
          return true;
        }
        return false;
      }
      case 'end':
        return this.w.write(KIND.end, q.id, q.dir, q.time, null);
      case 'close':
        return this.w.writeText(KIND.close, q.id, '>', q.time, q.reason);
      case 'intervention':
        return this.w.writeText(KIND.intervention, q.id, q.dir, q.time, JSON.stringify(q.ev));
    }
  }

  /** Writes what waits in the queue, in order; true when it is empty. */
  private flushQueue(): boolean {
    if (this.queue.length === 0) return true;
    let i = 0;
    while (i < this.queue.length && this.writeQueued(this.queue[i]!)) i++;
    if (i > 0) this.queue.splice(0, i);
    return this.queue.length === 0;
  }
}
