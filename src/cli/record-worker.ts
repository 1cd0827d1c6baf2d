// The recording worker thread: reads the relay's events from the shared ring
// (src/session/ring.ts), feeds them through the pipeline into the store and
// the log in batches (one transaction each, committed within about
// BATCH_MS so a killed process loses little), and gives the ring space back
// after each commit.
//
// Stopping: the relay's finish message carries what could not go through the
// ring, a deadline and the time the database must be closed by (a FINISH flag
// in the ring tells the worker to read it before its next batch). The worker
// drains the ring in small batches; past the deadline, or once what its end
// costs (see END_MS) would no longer fit, or when the relay sets ABORT (e.g. on
// a second Ctrl-C), it stops decoding and records
// the rest of the data as gaps with their true sizes (connections opened
// after that are skipped, counted with their bytes), then writes `ended` and
// the drop counts to meta.
//
// A stop that cannot wait for this thread (it gets no CPU) ends the database
// without it (src/store/takeover.ts): after each commit the thread publishes
// in the ring what it has committed, and once the ring says TAKEN it commits
// nothing more (checked inside each transaction, before its commit) and
// quits.
//
// Failure (e.g. the disk is full): reported once, recorded in meta
// (`recording_error`; the space reserve next to the database is released to
// make room for it), the ring's STOPPED flag tells the relay to stop writing,
// and the rest is counted as dropped. The relay goes on.

import { getPriority } from 'node:os';
import { lowerThreadPriority, threadCpuMs, threadId } from '../proxy/priority.js';
import { parentPort, workerData } from 'node:worker_threads';
import { Recording, RecordingOptions } from './recording.js';
import type { FinishMessage, RecordItem, WorkerReply } from '../session/recorder.js';
import { CTL, KIND, RingReader, RingRecord, RingShared, TakenOver } from '../session/ring.js';
import type { ConnOpen } from '../session/pipeline.js';
import type { Dir } from '../decoder/messages.js';
import { callNames } from '../intercept/names.js';
import type { CallNames } from '../intercept/names.js';
import type { Intervention } from '../intercept/engine.js';
import { UserError } from '../decoder/sources.js';
import { SpaceReserve } from '../store/reserve.js';
import { now } from '../proxy/splice.js';
import { GapsAhead } from './gaps-ahead.js';

/** How much lower than the relay's this thread's OS priority is (nice levels). */
const NICER = 10;
// On a busy machine the relay's thread and the peers it serves get the processors first
// while recording waits in the ring.
lowerThreadPriority(Math.min(19, getPriority() + NICER));

const port = parentPort!;
const reply = (m: WorkerReply) => port.postMessage(m);
const { options, ring } = workerData as { options: RecordingOptions; ring: RingShared };

/** Target time per batch (one transaction). */
const BATCH_MS = 40;

let recording: Recording;

/**
 * The names of calls, for the interceptor while it asks (CTL.NAMES): each
 * Call's as it is decoded, posted with how far the ring is applied
 * (postNames); when first asked, every call still outstanding.
 */
let namesOut: [number, Dir, number, CallNames][] = [];
/** The `applied` count last posted, or -1: not asked, or asked anew. */
let namesPosted = -1;

function postNames(): void {
  if (Atomics.load(reader.ctl, CTL.NAMES) === 0) {
    namesPosted = -1;
    namesOut = [];
    return;
  }
  if (namesPosted === -1) for (const c of recording.pipeline.model.outstanding.values()) namesOut.push([c.conn, c.dir, c.questionId, callNames(c)]);
  const applied = recording.appliedThrough(reader.records);
  if (applied === namesPosted && namesOut.length === 0) return;
  reply({ k: 'names', applied, calls: namesOut });
  namesOut = [];
  namesPosted = applied;
}
let reserve: SpaceReserve | null = null;
try {
  // The change feed beyond the store goes to the terminal UI when asked for: to its
  // own thread through feedPort (the relay's thread never handles it), or to the starting thread.
  const feedPort = options.feedPort;
  recording = new Recording(options, feedPort ? [(batch) => feedPort.postMessage(batch)] : options.feed ? [(batch) => reply({ k: 'feed', batch })] : []);
  recording.afterApply = () => postNames();
  // Not once finishing: the stop records the rest as gaps anyway.
  recording.eachCommit = () => {
    if (!finishing && !failed) gapsAhead.write();
  };
  recording.commitEveryMs = BATCH_MS;
  recording.pipeline.addSink({
    message: (_conn, _d, u) => {
      if (u.kind === 'call' && Atomics.load(reader.ctl, CTL.NAMES) !== 0) namesOut.push([u.call.conn, u.call.dir, u.call.questionId, callNames(u.call)]);
    },
  });
  recording.store.beforeCommit = (seq) => reader.beforeCommit(seq);
  reserve = SpaceReserve.create(recording.dbPath);
  reply({ k: 'ready', dbPath: recording.dbPath, log: recording.logFile(), reserve: reserve ? { path: reserve.path, ino: reserve.ino } : null, tid: threadId() });
} catch (e) {
  reply({ k: 'error', message: (e as Error).message, user: e instanceof UserError });
  process.exit(0);
}

const reader = new RingReader(ring);
/** Gaps the relay reported behind the backlog, written at once (gaps-ahead.ts). */
const gapsAhead = new GapsAhead(reader, recording);
let finishing: FinishMessage | null = null;
let failed: string | null = null;
/** Data bytes read from the ring but not decoded and stored (after a failure, or as gaps past the deadline). */
let lostBytes = 0;
/**
 * Connections opened once hurried: not recorded at all (what a connection
 * costs to record does not depend on its size, and the stop must end in
 * time), counted as skipped with their bytes, like those the relay skipped.
 */
const unrecorded = new Map<number, number>();
let skippedConnections = 0;
let skippedBytes = 0;
/**
 * Skipped connections whose close was read (at this ring record count), with
 * their bytes, until they are published as committed (publishCommitted).
 */
const skipsClosed: { at: number; bytes: number }[] = [];
let publishedSkips = 0;
let publishedSkipBytes = 0;
/** Directions with a gap recorded (their later drops are added to it). */
const gapped = new Set<string>();
/** Batch size, adapted so a batch takes about BATCH_MS. */
let maxItems = 256;
let maxBytes = 64 << 10;
let rate = 0;
let measured = 0;

/** When the finish message was read, and when the drain ended (drained, or the deadline passed). */
let finishRead = 0;
let drainEnded = 0;
let finishCpu = 0;

port.on('message', (m: FinishMessage) => {
  if (m.k !== 'finish') return;
  finishing = m;
  finishRead = now();
  finishCpu = threadCpuMs() ?? 0;
  Atomics.add(reader.ctl, CTL.SEQ, 1);
  Atomics.notify(reader.ctl, CTL.SEQ); // out of reader.wait()
});

/**
 * What is left once the drain ends costs CPU time in proportion to the calls
 * still pending (each is written again, interrupted, when its connection's
 * close is recorded), plus a little for the rest: ms per call and ms in all,
 * measured on a quiet machine, with room to spare.
 */
const END_MS_PER_CALL = 0.05;
const END_MS = 30;
let pendingAtEnd = 0;

/**
 * This thread's share of a processor since the finish message came (its
 * nice level keeps it low on a busy machine, and it cannot raise it again):
 * what turns the end's CPU time into wall time. 1 until measurable.
 */
function share(t: number): number {
  const wall = t - finishRead;
  const cpu = (threadCpuMs() ?? 0) - finishCpu;
  return wall < 50 ? 1 : Math.min(1, Math.max(0.02, (cpu + 10) / wall));
}

/** Past the deadline, past the time the end must start to close by `closeBy`, or told to abort: stop decoding, record data as gaps. */
function hurried(): boolean {
  if (drainEnded !== 0 || reader.aborted) return true;
  if (finishing === null) return false;
  const t = now();
  const endMs = (END_MS + END_MS_PER_CALL * recording.pipeline.model.outstanding.size) / share(t);
  if (t <= finishing.deadline && t + endMs <= finishing.closeBy) return false;
  drainEnded = t;
  pendingAtEnd = recording.pipeline.model.outstanding.size;
  return true;
}

/**
 * Tests only: IPC_TRACE_TEST_WORKER_STALL=N makes this thread stop for good
 * once it has read N ring records (it then never finishes: a stop must end
 * the database without it, src/store/takeover.ts).
 */
const STALL_AT = process.env.IPC_TRACE_TEST_WORKER_STALL ? Number(process.env.IPC_TRACE_TEST_WORKER_STALL) : Infinity;

function stallIfTold(): void {
  if (reader.records >= STALL_AT) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
}

/** While finishing, batches this small keep a look at the deadline at least every few ms of work. */
const FINISH_ITEMS = 64;
const FINISH_BYTES = 128 << 10;

/**
 * Reads up to maxItems records (smaller batches once finishing). Hurried,
 * it reads everything there is: data only counted, as gaps (a header each,
 * no copy), so what is left costs one pass and one transaction.
 */
function readBatch(): RecordItem[] {
  const items: RecordItem[] = [];
  let bytes = 0;
  const hurry = hurried();
  const most = Math.min(hurry ? Infinity : finishing ? Math.min(maxItems, FINISH_ITEMS) : maxItems, STALL_AT - reader.records);
  const mostBytes = finishing ? Math.min(maxBytes, FINISH_BYTES) : maxBytes;
  for (let r = reader.next(); r; r = items.length < most && bytes < mostBytes ? reader.next() : null) {
    const n = items.length;
    readRecord(r, hurry, items, (b) => (bytes += b));
    if (items.length > n) items[items.length - 1]!.seq = reader.records;
  }
  return items;
}

/** Turns one ring record into an item (or counts it). */
function readRecord(r: RingRecord, hurry: boolean, items: RecordItem[], addBytes: (n: number) => void): void {
  {
    if (hurry && r.kind === KIND.open) {
      unrecorded.set(r.conn, 0);
      skippedConnections++;
      return;
    }
    const skipped = unrecorded.get(r.conn);
    if (skipped !== undefined) {
      let n = 0;
      if (r.kind === KIND.data) {
        n = r.len;
        lostBytes += r.len;
      } else if (r.kind === KIND.gap) n = reader.number(r); // dropped by the relay: counted there
      skippedBytes += n;
      if (r.kind === KIND.close) {
        unrecorded.delete(r.conn);
        skipsClosed.push({ at: reader.records, bytes: skipped });
      } else if (n > 0) unrecorded.set(r.conn, skipped + n);
      return;
    }
    switch (r.kind) {
      case KIND.open:
        items.push({ k: 'open', info: JSON.parse(reader.text(r)!) as ConnOpen });
        break;
      case KIND.data:
        // Past the deadline data is only counted (a gap costs the same whatever its size): the batch is bounded by items.
        if (hurry) {
          items.push({ k: 'gap', id: r.conn, dir: r.dir, time: r.time, bytes: r.len });
          lostBytes += r.len;
        } else {
          items.push({ k: 'data', id: r.conn, dir: r.dir, time: r.time, bytes: reader.payload(r) });
          addBytes(r.len);
        }
        break;
      case KIND.end:
        items.push({ k: 'end', id: r.conn, dir: r.dir, time: r.time });
        break;
      case KIND.intervention:
        items.push({ k: 'intervention', id: r.conn, dir: r.dir, time: r.time, ev: JSON.parse(reader.text(r)!) as Intervention });
        break;
      case KIND.close:
        items.push({ k: 'close', id: r.conn, time: r.time, reason: reader.text(r) });
        break;
      case KIND.gap:
        items.push({ k: 'gap', id: r.conn, dir: r.dir, time: r.time, bytes: reader.number(r), ...(gapsAhead.reached(reader.records) ? { ahead: true } : {}) });
        break;
    }
  }
}

/** Marks gaps that add to one already recorded, and merges consecutive ones of a direction. */
function settleGaps(items: RecordItem[]): RecordItem[] {
  const out: RecordItem[] = [];
  const last = new Map<string, Extract<RecordItem, { k: 'gap' }>>();
  for (const it of items) {
    if (it.k === 'gap') {
      const key = `${it.id}${it.dir}`;
      if (it.ahead) {
        // Its rows are written: never merged with another.
        out.push({ ...it, more: gapped.has(key) });
        gapped.add(key);
        last.delete(key);
        continue;
      }
      const prev = last.get(key);
      if (prev) {
        prev.bytes += it.bytes;
        continue;
      }
      const g = { ...it, more: gapped.has(key) };
      gapped.add(key);
      last.set(key, g);
      out.push(g);
      continue;
    }
    if (it.k === 'data' || it.k === 'end') last.delete(`${it.id}${it.dir}`);
    if (it.k === 'close') {
      for (const d of ['>', '<']) {
        gapped.delete(`${it.id}${d}`);
        last.delete(`${it.id}${d}`);
      }
    }
    out.push(it);
  }
  return out;
}

function dataBytes(items: RecordItem[]): number {
  let n = 0;
  for (const it of items) if (it.k === 'data') n += it.bytes.length;
  return n;
}

/** The stop ended the database without this thread: nothing more to do. */
function quit(): never {
  port.close();
  process.exit(0);
}

/** After a commit: tells the ring how far this thread has committed. */
function publishCommitted(): void {
  const applied = recording.appliedThrough(reader.records);
  let i = 0;
  while (i < skipsClosed.length && skipsClosed[i]!.at <= applied) {
    publishedSkips++;
    publishedSkipBytes += skipsClosed[i]!.bytes;
    i++;
  }
  if (i > 0) skipsClosed.splice(0, i);
  reader.publishCommitted(applied, publishedSkips, publishedSkipBytes);
}

function fail(e: unknown): void {
  if (e instanceof TakenOver) quit();
  failed = (e as Error).message;
  reader.stop();
  reply({ k: 'failed', message: failed });
  reserve?.release();
  reserve = null;
  try {
    recording.store.setMeta('recording_error', `${new Date().toISOString()} ${failed}`);
  } catch {
    // nothing more can be written; the relay's own message says it
  }
}

function processBatch(items: RecordItem[]): void {
  if (items.length === 0) return;
  if (failed) {
    lostBytes += dataBytes(items);
    return;
  }
  const t0 = now();
  let bytes: number;
  try {
    bytes = recording.process(settleGaps(items));
  } catch (e) {
    lostBytes += dataBytes(items);
    fail(e);
    return;
  }
  publishCommitted();
  const took = now() - t0;
  if (took < BATCH_MS / 2) {
    if (maxItems < 4096) maxItems *= 2;
    if (maxBytes < 4 << 20) maxBytes *= 2;
  } else if (took > BATCH_MS) {
    if (maxItems > 16) maxItems >>= 1;
    if (maxBytes > 16 << 10) maxBytes >>= 1;
  }
  // The writer's estimate of how long the ring's contents will take (bytes per ms, smoothed).
  // Published once warmed up: the first batches run cold (compiling) and would make it look slow.
  if (bytes > 16 * 1024 && took > 1) {
    const r = bytes / took;
    rate = rate === 0 ? r : 0.8 * rate + 0.2 * r;
    if (++measured >= 8) reader.setRate(Math.max(rate, 500));
  }
}

function finish(f: FinishMessage): void {
  const t0 = now();
  if (drainEnded === 0) {
    drainEnded = t0;
    pendingAtEnd = recording.pipeline.model.outstanding.size;
  }
  let t1 = t0;
  processBatch(f.items.filter((it) => {
    if (it.k === 'open' || !unrecorded.has(it.id)) return true;
    if (it.k === 'gap') skippedBytes += it.bytes;
    return false;
  }));
  const dropped = f.droppedBytes + lostBytes;
  reserve?.release();
  reserve = null;
  const skips: Record<string, string> =
    f.skippedConnections + skippedConnections > 0
      ? { skipped_connections: String(f.skippedConnections + skippedConnections), skipped_bytes: String(f.skippedBytes + skippedBytes) }
      : {};
  try {
    recording.finish(dropped, () => (t1 = now()), skips);
  } catch (e) {
    if (e instanceof TakenOver) quit();
    if (!failed) reply({ k: 'failed', message: (e as Error).message });
    // Whatever failed (the log, the disk), the database still says how the recording ended.
    try {
      for (const [k, v] of Object.entries(skips)) recording.store.setMeta(k, v);
      recording.store.setMeta('dropped_bytes', String(dropped));
      recording.store.setMeta('ended', new Date().toISOString());
    } catch (e) {
      if (e instanceof TakenOver) quit();
      // no room even for that
    }
    try {
      recording.store.shutdown();
    } catch (e) {
      if (e instanceof TakenOver) quit();
      try {
        recording.store.db.close();
      } catch {
        // closed already
      }
    }
  }
  const t2 = now();
  if (t1 === t0) t1 = t2;
  reply({ k: 'done', phases: { wake: finishRead - f.posted, drain: drainEnded - finishRead, gaps: t0 - drainEnded, last: t1 - t0, close: t2 - t1, cpu: (threadCpuMs() ?? 0) - finishCpu, pending: pendingAtEnd } });
  port.close();
}

/** After this long with nothing to read, the worker sleeps until something is written (rather than looking every POLL_MS). */
const IDLE_MS = 1000;

async function run(): Promise<void> {
  let lastRead = now();
  for (;;) {
    const start = now();
    // Work for a while, then let messages in (at once when the relay flagged a finish message).
    while (now() - start < 200 && (finishing || Atomics.load(reader.ctl, CTL.FINISH) === 0)) {
      stallIfTold();
      const items = readBatch();
      if (items.length === 0) break;
      lastRead = start;
      processBatch(items);
      reader.release();
      postNames();
    }
    postNames();
    if (finishing && reader.drained) {
      finish(finishing);
      return;
    }
    // Drained: doze (the ring fills for a few ms, read then as one batch), or sleep once idle.
    if (reader.drained) await (finishing || now() - lastRead < IDLE_MS ? reader.wait() : reader.wait(true, IDLE_MS));
    else await new Promise((r) => setImmediate(r));
  }
}

void run();
