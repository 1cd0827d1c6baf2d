// The recorder's ring: a single-producer, single-consumer ring of records in
// shared memory between the relay's thread (writer) and the recording worker
// (reader). The relay copies each chunk straight into it: nothing is
// allocated per chunk, and the memory recording may hold is fixed (the ring's
// size) whatever happens downstream.
//
// Layout: `bytes` holds records back to back; a record is a 20-byte header
//   kind u8 | dir u8 | 2 unused | conn u32 | time f64 | len u32
// and `len` payload bytes (the chunk; the connection's JSON for an open, the
// close reason, a gap's byte count as f64; for `done`, which ends a replayed
// stream (src/store/stream-thread.ts), the error that stopped reading if
// any). A record never wraps: when it does
// not fit before the end, the writer leaves a WRAP byte (or fewer than 20
// bytes) and starts again at 0. head == tail means empty; the writer keeps one
// byte free so a full ring never looks empty.
//
// `ctl` (Int32): HEAD, TAIL (byte positions), SEQ (bumped whenever the reader
// is woken, for Atomics.wait), WAITING (how the reader waits: DOZING, it looks
// again within POLL_MS by itself, so the writer wakes it only once the ring is
// WAKE_FRACTION full; ASLEEP, idle for a while, so the first write wakes it),
// ABORT (stop decoding: the clean stop ran out of time; replay's reading
// thread: stop reading), STOPPED (the worker
// cannot record any more: the writer stops writing), FINISH (a finish message
// is on its way: the reader lets it in before its next batch), NAMES (the
// interceptor asks for the names of calls: src/intercept/names.ts). Both
// sides count the records (`records`): the same sequence, so the writer can
// tell when the reader has got past one. The relay's thread thus
// neither wakes the reader per chunk nor makes it commit one chunk at a time. `times` (Float64): OLDEST, the time of
// the oldest record the reader has not committed yet (0: none), which the
// writer uses to tell how far behind recording is, and RATE, the bytes per ms
// the reader gets through, to tell how long what waits in the ring will take.
// The reader may also look ahead at the headers of records it has not read
// yet (lookAhead: the recording worker writes the gaps there at once,
// src/cli/gaps-ahead.ts); the writer may keep room free for small records
// (write's `keep`).
//
// `progress` (BigInt64, Atomics): what the reader has committed, for a stop
// that must end the database without it (src/store/takeover.ts). SEQ_HIGH:
// no committed row has a higher store seq (raised before each commit). After
// each commit, one snapshot: every record up to `records` is committed (some
// after it may be too), and the connections the reader itself skipped whose
// close is among those records, with their bytes. A snapshot is written to
// the slot the last one is not in, then GEN names it, so it is read whole
// even when the reader's thread is cut off while writing the next. Once the
// writer's side sets TAKEN (CTL) the reader must not commit again: it looks
// inside each transaction, before its commit, while it holds the database's
// write lock, so a stop that took the lock after setting TAKEN knows that
// nothing more gets committed.

import type { Dir } from '../decoder/messages.js';

export const KIND = { open: 1, data: 2, end: 3, close: 4, gap: 5, intervention: 7, done: 8 } as const;
const WRAP = 0xff;
export const HEADER = 20;

export const CTL = { HEAD: 0, TAIL: 1, SEQ: 2, WAITING: 3, ABORT: 4, STOPPED: 5, FINISH: 6, NAMES: 7, TAKEN: 8 } as const;
/** `progress` slots: SEQ_HIGH, GEN, then two snapshots of SNAPSHOT fields (records, skipped connections, skipped bytes). */
const SEQ_HIGH = 0;
const GEN = 1;
const SNAPSHOT = 3;
/** CTL.WAITING values. */
const AWAKE = 0;
const DOZING = 1;
const ASLEEP = 2;
/** How long a dozing reader waits before it looks at the ring again (ms). */
export const POLL_MS = 10;
/** The part of the ring that, once filled, wakes a dozing reader early. */
const WAKE_FRACTION = 4;
const OLDEST = 0;
const RATE = 1;
/** Assumed reader speed (bytes/ms) until it measured its own. */
const DEFAULT_RATE = 20000;

/** The shared memory of one ring (passed to the worker in workerData). */
export interface RingShared {
  bytes: SharedArrayBuffer;
  ctl: SharedArrayBuffer;
  times: SharedArrayBuffer;
  progress: SharedArrayBuffer;
}

export function createRing(size: number): RingShared {
  return { bytes: new SharedArrayBuffer(size), ctl: new SharedArrayBuffer(12 * 4), times: new SharedArrayBuffer(16), progress: new SharedArrayBuffer((2 + 2 * SNAPSHOT) * 8) };
}

/** What the reader published as committed (see `progress` above). */
export interface Committed {
  records: number;
  seq: number;
  skippedConnections: number;
  skippedBytes: number;
}

const dirCode = (d: Dir) => (d === '>' ? 0 : 1);
const codeDir = (c: number): Dir => (c === 0 ? '>' : '<');

/** The shared memory as both sides see it. */
abstract class RingViews {
  readonly ctl: Int32Array;
  protected readonly bytes: Uint8Array;
  protected readonly view: DataView;
  protected readonly times: Float64Array;
  protected readonly size: number;
  protected readonly progress: BigInt64Array;

  constructor(shared: RingShared) {
    this.progress = new BigInt64Array(shared.progress);
    this.bytes = new Uint8Array(shared.bytes);
    this.view = new DataView(shared.bytes);
    this.ctl = new Int32Array(shared.ctl);
    this.times = new Float64Array(shared.times);
    this.size = shared.bytes.byteLength;
  }

  /** Set by the side that stops the other (ABORT). */
  get aborted(): boolean {
    return Atomics.load(this.ctl, CTL.ABORT) !== 0;
  }

  /** The writer's side ended the recording itself: the reader must not commit any more. */
  get takenOver(): boolean {
    return Atomics.load(this.ctl, CTL.TAKEN) !== 0;
  }

  /** What the reader published as committed. */
  committed(): Committed {
    const p = this.progress;
    for (;;) {
      const gen = Atomics.load(p, GEN);
      const at = 2 + Number(gen & 1n) * SNAPSHOT;
      const c = {
        records: Number(Atomics.load(p, at)),
        seq: Number(Atomics.load(p, SEQ_HIGH)),
        skippedConnections: Number(Atomics.load(p, at + 1)),
        skippedBytes: Number(Atomics.load(p, at + 2)),
      };
      // Unchanged: the reader did not start writing the next snapshot into this slot meanwhile.
      if (Atomics.load(p, GEN) === gen) return c;
    }
  }

  /** Every record up to this count is committed. */
  committedRecords(): number {
    return this.committed().records;
  }
}

export class RingWriter extends RingViews {
  private readonly wakeAt: number;
  private readonly enc = new TextEncoder();
  /** When the writer last wrote into an empty ring (the oldest pending record then, until the reader says). */
  private filledAt = 0;
  /** Records written so far. */
  records = 0;

  constructor(shared: RingShared) {
    super(shared);
    this.wakeAt = Math.floor(this.size / WAKE_FRACTION);
  }

  /**
   * How far behind the reader will be once it has committed what waits in the
   * ring: how long the oldest pending record has waited, plus the pending
   * bytes at the reader's measured speed (0 when caught up).
   */
  lagMs(now: number): number {
    const h = Atomics.load(this.ctl, CTL.HEAD);
    const t = Atomics.load(this.ctl, CTL.TAIL);
    if (h === t) return 0;
    const oldest = this.times[OLDEST]!;
    const pending = h > t ? h - t : this.size - t + h;
    return now - (oldest > 0 ? Math.min(oldest, now) : this.filledAt) + pending / (this.times[RATE]! || DEFAULT_RATE);
  }

  /** True once the reader said it cannot record any more. */
  get stopped(): boolean {
    return Atomics.load(this.ctl, CTL.STOPPED) !== 0;
  }

  /** Writes a record with `payload`; false when there is no room, or when it would leave less than `keep` bytes free. */
  write(kind: number, conn: number, dir: Dir, time: number, payload: Uint8Array | null, keep = 0): boolean {
    const len = payload ? payload.length : 0;
    const at = this.reserve(HEADER + len, time, keep);
    if (at < 0) return false;
    if (payload) this.bytes.set(payload, at + HEADER);
    this.commit(at, kind, conn, dirCode(dir), time, len);
    return true;
  }

  /** A record whose payload is a number (a gap's byte count). */
  writeNumber(kind: number, conn: number, dir: Dir, time: number, n: number): boolean {
    const at = this.reserve(HEADER + 8, time);
    if (at < 0) return false;
    this.view.setFloat64(at + HEADER, n, true);
    this.commit(at, kind, conn, dirCode(dir), time, 8);
    return true;
  }

  /** A record whose payload is a string (UTF-8), or null (dir byte 2 marks it). */
  writeText(kind: number, conn: number, dir: Dir, time: number, text: string | null): boolean {
    const max = text === null ? 0 : text.length * 3;
    const at = this.reserve(HEADER + max, time);
    if (at < 0) return false;
    const n = text === null ? 0 : this.enc.encodeInto(text, this.bytes.subarray(at + HEADER, at + HEADER + max)).written;
    this.commit(at, kind, conn, text === null ? 2 : dirCode(dir), time, n);
    return true;
  }

  private reserve(need: number, time: number, keep = 0): number {
    const h = Atomics.load(this.ctl, CTL.HEAD);
    const t = Atomics.load(this.ctl, CTL.TAIL);
    if (h === t) this.filledAt = time;
    if (keep > 0 && this.size - 1 - (h >= t ? h - t : this.size - t + h) - need < keep) return -1;
    if (h >= t) {
      if (h + need < this.size || (h + need === this.size && t > 0)) return h;
      if (need < t) {
        if (this.size - h >= HEADER) this.bytes[h] = WRAP;
        return 0;
      }
      return -1;
    }
    return h + need < t ? h : -1;
  }

  private commit(at: number, kind: number, conn: number, dirByte: number, time: number, len: number): void {
    const v = this.view;
    v.setUint8(at, kind);
    v.setUint8(at + 1, dirByte);
    v.setUint32(at + 4, conn, true);
    v.setFloat64(at + 8, time, true);
    v.setUint32(at + 16, len, true);
    let h = at + HEADER + len;
    if (h === this.size) h = 0;
    this.records++;
    Atomics.store(this.ctl, CTL.HEAD, h);
    const w = Atomics.load(this.ctl, CTL.WAITING);
    if (w === AWAKE) return;
    if (w === DOZING) {
      const t = Atomics.load(this.ctl, CTL.TAIL);
      if ((h >= t ? h - t : this.size - t + h) < this.wakeAt) return;
    }
    // Woken once: the reader sets WAITING again when it next waits.
    if (Atomics.compareExchange(this.ctl, CTL.WAITING, w, AWAKE) === w) this.wake();
  }

  /**
   * Waits (blocking this thread) until the reader has released space, or
   * `ms` passed (the reader does not wake a writer: keep `ms` short): for a
   * writer that must not drop, such as replay's reader thread (the relay
   * never waits).
   */
  waitForRoom(ms: number): void {
    Atomics.wait(this.ctl, CTL.TAIL, Atomics.load(this.ctl, CTL.TAIL), ms);
  }

  /**
   * Ends the reader's part: it stops decoding (ABORT) and must commit nothing
   * more (TAKEN). Once the writer's side then holds the database's write
   * lock, committed() is final.
   */
  takeOver(): void {
    Atomics.store(this.ctl, CTL.TAKEN, 1);
    Atomics.store(this.ctl, CTL.ABORT, 1);
    this.wake();
  }

  /** Wakes the reader (e.g. after a message it should look at). */
  wake(): void {
    Atomics.add(this.ctl, CTL.SEQ, 1);
    Atomics.notify(this.ctl, CTL.SEQ);
  }
}

/** One record as read (the same object is reused: copy what you keep). */
export interface RingRecord {
  kind: number;
  conn: number;
  dir: Dir;
  /** Close records: the reason was null. */
  nullText: boolean;
  time: number;
  /** Payload position in the ring's bytes, and length. */
  at: number;
  len: number;
}

/** parse(): no record yet (NONE), none yet at 0, past the ring's end (WRAPPED). */
const NONE = -1;
const WRAPPED = -2;

type WaitAsync = (a: Int32Array, i: number, v: number, t: number) => { async: boolean; value: Promise<string> | string };

export class RingReader extends RingViews {
  private readonly dec = new TextDecoder();
  /** Read position: records before it are read but not released to the writer yet. */
  private cursor: number;
  private readonly rec: RingRecord = { kind: 0, conn: 0, dir: '>', nullText: false, time: 0, at: 0, len: 0 };
  /** Records read so far (the writer's count of the same records). */
  records = 0;
  /** Where lookAhead stopped: the position after the last record it looked at, and that record's count. */
  private ahead = 0;
  private aheadCount = 0;
  private readonly aheadRec: RingRecord = { kind: 0, conn: 0, dir: '>', nullText: false, time: 0, at: 0, len: 0 };

  constructor(shared: RingShared) {
    super(shared);
    this.cursor = Atomics.load(this.ctl, CTL.TAIL);
  }

  /** True when every written record was read. */
  get drained(): boolean {
    return this.cursor === Atomics.load(this.ctl, CTL.HEAD);
  }

  /** The next record, or null when there is none yet. */
  next(): RingRecord | null {
    const c = this.parse(this.cursor, this.rec);
    if (c < 0) {
      if (c === WRAPPED) this.cursor = 0;
      return null;
    }
    this.cursor = c;
    this.records++;
    return this.rec;
  }

  /** Reads the record's header at position `c` into `r`: the position after it; NONE when none is written there yet, WRAPPED when none is written at 0, where the next one goes. */
  private parse(c: number, r: RingRecord): number {
    const h = Atomics.load(this.ctl, CTL.HEAD);
    if (c === h) return NONE;
    if (this.size - c < HEADER || this.bytes[c] === WRAP) {
      c = 0;
      if (c === h) return WRAPPED;
    }
    const v = this.view;
    r.kind = v.getUint8(c);
    const d = v.getUint8(c + 1);
    r.dir = codeDir(d & 1);
    r.nullText = d === 2;
    r.conn = v.getUint32(c + 4, true);
    r.time = v.getFloat64(c + 8, true);
    r.len = v.getUint32(c + 16, true);
    r.at = c + HEADER;
    c = r.at + r.len;
    return c === this.size ? 0 : c;
  }

  /**
   * Looks at up to `max` records beyond those read with next(), headers only,
   * without reading them: `fn` gets each with its count (the value `records`
   * will have once next() has read it). Goes on from where the last look
   * stopped, or from the read position once next() has passed it. Returns
   * how many it looked at.
   */
  lookAhead(max: number, fn: (r: RingRecord, count: number) => void): number {
    if (this.aheadCount <= this.records) {
      this.ahead = this.cursor;
      this.aheadCount = this.records;
    }
    const r = this.aheadRec;
    let n = 0;
    while (n < max) {
      const c = this.parse(this.ahead, r);
      if (c < 0) {
        if (c === WRAPPED) this.ahead = 0;
        break;
      }
      this.ahead = c;
      n++;
      fn(r, ++this.aheadCount);
    }
    return n;
  }

  /** A copy of the record's payload. */
  payload(r: RingRecord): Uint8Array {
    return this.bytes.slice(r.at, r.at + r.len);
  }

  /**
   * A copy of the ring's bytes from position `at` (a record's payload) to
   * what is written so far, or to the ring's end: the payloads of the
   * records that follow, copied at once rather than one by one.
   */
  copyWritten(at: number): Uint8Array {
    const h = Atomics.load(this.ctl, CTL.HEAD);
    return this.bytes.slice(at, h > at ? h : this.size);
  }

  text(r: RingRecord): string | null {
    return r.nullText ? null : this.dec.decode(this.bytes.subarray(r.at, r.at + r.len));
  }

  number(r: RingRecord): number {
    return this.view.getFloat64(r.at, true);
  }

  /** Gives the space of every record read so far back to the writer (after they were committed). */
  release(): void {
    const c = this.cursor;
    Atomics.store(this.ctl, CTL.TAIL, c);
    let oldest = 0;
    if (c !== Atomics.load(this.ctl, CTL.HEAD)) {
      const at = this.size - c < HEADER || this.bytes[c] === WRAP ? 0 : c;
      oldest = this.view.getFloat64(at + 8, true);
    }
    this.times[OLDEST] = oldest;
  }

  /** Tells the writer how many bytes per ms the reader gets through. */
  setRate(bytesPerMs: number): void {
    this.times[RATE] = bytesPerMs;
  }

  /**
   * Waits until there is something to read: dozing (the default), for
   * POLL_MS, or less when the ring fills up or wake() is called; asleep, for
   * timeoutMs or until anything is written.
   */
  async wait(asleep = false, timeoutMs = POLL_MS): Promise<void> {
    const seq = Atomics.load(this.ctl, CTL.SEQ);
    if (!this.drained) return;
    Atomics.store(this.ctl, CTL.WAITING, asleep ? ASLEEP : DOZING);
    try {
      if (!this.drained) return;
      const r = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync(this.ctl, CTL.SEQ, seq, timeoutMs);
      if (r.async) await r.value;
    } finally {
      Atomics.store(this.ctl, CTL.WAITING, AWAKE);
    }
  }

  /** Like wait(), asleep, blocking this thread: for a reader with nothing else to do meanwhile. */
  waitSync(timeoutMs: number): void {
    const seq = Atomics.load(this.ctl, CTL.SEQ);
    if (!this.drained) return;
    Atomics.store(this.ctl, CTL.WAITING, ASLEEP);
    try {
      if (this.drained) Atomics.wait(this.ctl, CTL.SEQ, seq, timeoutMs);
    } finally {
      Atomics.store(this.ctl, CTL.WAITING, AWAKE);
    }
  }

  stop(): void {
    Atomics.store(this.ctl, CTL.STOPPED, 1);
  }

  /** Inside a transaction, before its commit: no row it wrote has a seq above `seq`. Throws TakenOver when the writer's side has taken over. */
  beforeCommit(seq: number): void {
    if (seq > Number(Atomics.load(this.progress, SEQ_HIGH))) Atomics.store(this.progress, SEQ_HIGH, BigInt(seq));
    if (this.takenOver) throw new TakenOver();
  }

  /** After a commit: every record up to `records` is committed, and so are the closes of these skipped connections. */
  publishCommitted(records: number, skippedConnections: number, skippedBytes: number): void {
    const p = this.progress;
    const gen = Atomics.load(p, GEN) + 1n;
    const at = 2 + Number(gen & 1n) * SNAPSHOT;
    Atomics.store(p, at, BigInt(records));
    Atomics.store(p, at + 1, BigInt(skippedConnections));
    Atomics.store(p, at + 2, BigInt(skippedBytes));
    Atomics.store(p, GEN, gen);
  }
}

/** Thrown inside a reader's transaction once the writer's side has ended the recording itself (it is rolled back). */
export class TakenOver extends Error {
  constructor() {
    super('the recording was ended without this thread');
  }
}
