// A recording session as the proxy, exec and demo commands run it: the
// pipeline with its views (the -debug=ipc-style log, the SQLite store).
// It runs in the recording worker thread (record-worker.ts); the relay's
// thread talks to it through RecorderClient (startRecording below).

import { workerOnline } from './heap.js';
import { closeSync, existsSync, fstatSync } from 'node:fs';
import { Worker, MessagePort } from 'node:worker_threads';
import { ByteWriter, appendToOwnFile, checkOutputFile, createOutputFile } from './output.js';
import { loadSchemaBundle, rpcSchemaSet, UserError } from '../decoder/sources.js';
import { Pipeline, ConnOpen } from '../session/pipeline.js';
import { RecorderClient, RecorderClientOptions, RecordItem, StopPhases, WorkerReply } from '../session/recorder.js';
import type { LogFileId } from '../session/recorder.js';
import { CTL } from '../session/ring.js';
import { IpcLog, recordingCutLine } from '../log/ipclog.js';
import { Takeover, TakeoverReport } from '../store/takeover.js';
import { SpaceReserve } from '../store/reserve.js';
import { threadCpuMsOf } from '../proxy/priority.js';
import { redactCall, redactText, secretFields } from '../redact/redact.js';
import { Store, defaultDbName, removeSession } from '../store/store.js';
import type { Tap } from '../proxy/splice.js';
import type { FeedBatch } from '../session/rows.js';
import type { Intervention } from '../intercept/engine.js';
import { namesKey } from '../intercept/names.js';
import type { CallNames, NamesSource } from '../intercept/names.js';
import { INTERCEPT_OPTIONS } from '../intercept/cli.js';
import { TimeOrder, REORDER_WINDOW_MS } from '../session/reorder.js';
import { now } from '../proxy/splice.js';

export interface RecordingOptions {
  db?: string;
  /** Replace an existing --db or --log file (never a symbolic link). */
  force?: boolean;
  /** `-` for stdout, a file path, or undefined for stdout. */
  log?: string;
  schemaFiles: string[];
  importDirs: string[];
  maxChars: number;
  command: string;
  /** Print the log (false when a TUI owns the terminal and no --log was given). */
  printLog?: boolean;
  /** Post each batch's change feed (and log lines) to the starting thread (the terminal UI's source). */
  feed?: boolean;
  /** --redact: the fields besides the default secret fields to store zeroed (null/undefined: no redaction). */
  redact?: string[] | null;
  /** Post each batch's change feed (and log lines) to this port instead (the terminal UI's thread). */
  feedPort?: MessagePort;
  /**
   * Events come from several processes' clocks (exec: one shim per child), so
   * they are held REORDER_WINDOW_MS to be put back in time order. A single
   * relay's events are in order as they come.
   */
  timeOrder?: boolean;
}

/** A consumer of the change feed. One that throws is counted and reported, and never stops the others. */
export type FeedConsumer = (batch: FeedBatch) => void;

/** The command-line options of every recording command (proxy, exec). */
export const RECORDING_OPTIONS = {
  db: { kind: 'string' },
  log: { kind: 'string' },
  schema: { kind: 'string', repeat: true },
  import: { kind: 'string', repeat: true, short: 'I' },
  'max-chars': { kind: 'number' },
  'no-tui': { kind: 'flag' },
  force: { kind: 'flag' },
  redact: { kind: 'flag' },
  'redact-field': { kind: 'string', repeat: true },
  stuck: { kind: 'number' },
  ...INTERCEPT_OPTIONS,
  help: { kind: 'flag', short: 'h' },
} as const;

/** Help text of the recording's --redact options. */
export const REDACT_HELP = `  --redact         store wallet secrets (passphrases, keys, seeds: docs/redaction.md)
                   zeroed in the database and masked in the log; such a recording
                   is no longer byte-identical to the traffic
  --redact-field NAME  redact this field too (repeatable; implies --redact)
`;

/** Recording options from the parsed command line (the options in RECORDING_OPTIONS). */
export function recordingOptions(options: Record<string, unknown>, command: string): RecordingOptions {
  return {
    db: options.db as string | undefined,
    force: options.force === true,
    log: options.log as string | undefined,
    schemaFiles: options.schema as string[],
    importDirs: options.import as string[],
    maxChars: (options['max-chars'] as number | undefined) ?? Infinity,
    command,
    redact: options.redact || ((options['redact-field'] as string[] | undefined)?.length ?? 0) > 0 ? ((options['redact-field'] as string[] | undefined) ?? []) : null,
  };
}

export class Recording {
  readonly pipeline: Pipeline;
  readonly store: Store;
  readonly dbPath: string;
  private readonly out: ByteWriter | null;
  private readonly logFd: number | null;
  private readonly logPath: string | null;
  private readonly consumers: FeedConsumer[];
  private lines: string[] = [];
  /** Events of different connections put back in time order (exec children are relayed by separate processes), or null. */
  private readonly order: TimeOrder | null;
  private orderTimer: NodeJS.Timeout | null = null;
  private deferredError: Error | null = null;

  private throwDeferred(): void {
    const e = this.deferredError;
    this.deferredError = null;
    if (e) throw e;
  }
  private readonly redactFields: ReadonlySet<string> | null;
  /** Called once a batch is applied to the model, before its (last) transaction commits. */
  afterApply: (() => void) | null = null;
  /** Called inside each transaction a batch is committed in, once its part is applied. */
  eachCommit: (() => void) | null = null;
  /**
   * A batch still being applied after this long (ms) commits what it has
   * applied and goes on in a new transaction: on a busy machine a batch sized
   * for BATCH_MS of CPU can take many times that, and a killed process loses
   * what is not committed.
   */
  commitEveryMs = Infinity;
  /** Feed consumers that threw, and the first error. */
  consumerErrors = 0;
  firstConsumerError: string | null = null;

  constructor(opts: RecordingOptions, extra: FeedConsumer[] = []) {
    this.order = opts.timeOrder ? new TimeOrder() : null;
    const schemas = loadSchemaBundle(opts.schemaFiles, opts.importDirs);
    this.dbPath = opts.db ?? defaultDbName();
    // Every output is checked before any is created: a bad --log leaves no database behind.
    const logFile = opts.log && opts.log !== '-' ? opts.log : null;
    this.logPath = logFile;
    checkOutputFile(this.dbPath, { force: opts.force, option: '--db' });
    if (logFile !== null) checkOutputFile(logFile, { force: opts.force, option: '--log' });
    if (opts.force && existsSync(this.dbPath)) removeSession(this.dbPath);
    this.store = Store.create(
      this.dbPath,
      { created: new Date().toISOString(), command: opts.command, schemas: schemas.source, max_chars: String(opts.maxChars) },
      [{ source: schemas.source, cgr: schemas.cgr }],
    );
    const secrets = opts.redact ? secretFields(opts.redact) : null;
    if (secrets) {
      this.store.redact(secrets);
      this.store.setMeta('redacted', `${[...secrets].join(' ')} (stored zeroed: the chunks are no longer byte-identical to the traffic)`);
    }
    this.redactFields = secrets;
    try {
      this.logFd = logFile !== null ? createOutputFile(logFile, { force: opts.force, option: '--log' }) : null;
    } catch (e) {
      this.store.shutdown();
      removeSession(this.dbPath);
      throw e;
    }
    const printLog = opts.printLog ?? true;
    // A closed standard output (`| head -1`) ends the log, never the recording.
    this.out = this.logFd !== null ? new ByteWriter(this.logFd) : printLog || opts.log === '-' ? new ByteWriter(1, () => {}) : null;
    const out = this.out;
    const feedLines = extra.length > 0;
    const line = (l: string) => {
      out?.line(l);
      if (feedLines) this.lines.push(l);
    };
    this.pipeline = new Pipeline(schemas.set, rpcSchemaSet(), out || feedLines ? [this.store, new IpcLog(line, opts.maxChars, secrets ? (t) => redactText(t, secrets) : null)] : [this.store], {
      retainHistory: false,
    });
    this.consumers = [(b) => this.store.apply(b.delta), ...extra];
  }

  /** Hands the rows changed since the last batch to every consumer of the feed. */
  private publish(): void {
    const batch: FeedBatch = { delta: this.pipeline.model.takeDelta(), lines: this.lines };
    const secrets = this.redactFields;
    if (secrets) batch.delta.calls = batch.delta.calls.map((c) => redactCall(c, secrets));
    this.lines = [];
    for (const c of this.consumers) {
      try {
        c(batch);
      } catch (e) {
        if (this.consumerErrors++ === 0) this.firstConsumerError = (e as Error).message;
      }
    }
  }

  /**
   * Takes one batch of relay events; returns the data bytes it consumed.
   * Events are decoded, logged and stored in time order: as they come, or
   * with timeOrder each after a short wait for earlier events of other
   * connections (REORDER_WINDOW_MS).
   */
  process(items: RecordItem[]): number {
    this.throwDeferred();
    let bytes = 0;
    for (const it of items) if (it.k === 'data') bytes += it.bytes.length;
    const order = this.order;
    if (!order) {
      this.apply(items);
      return bytes;
    }
    this.apply(order.push(items, now()));
    if (order.pending > 0 && this.orderTimer === null) {
      this.orderTimer = setTimeout(() => {
        this.orderTimer = null;
        try {
          this.process([]);
        } catch (e) {
          // Reported by the next call, which has someone to tell.
          this.deferredError ??= e as Error;
        }
      }, REORDER_WINDOW_MS);
    }
    return bytes;
  }

  /** Runs events through the pipeline and hands the changes to the feed, in one transaction (more once it takes longer than commitEveryMs). */
  private apply(items: RecordItem[]): void {
    let i = 0;
    while (i < items.length) {
      const until = now() + this.commitEveryMs;
      this.store.batch(() => {
        do this.applyOne(items[i++]!);
        while (i < items.length && now() < until);
        // The rows the batch changed go to the store in the same transaction.
        this.publish();
        this.eachCommit?.();
        // Applied (not yet committed): the interceptor's names need not wait for the disk.
        if (i === items.length) this.afterApply?.();
      });
    }
    this.out?.flush();
  }

  /** One event through the pipeline (inside a batch's transaction). */
  private applyOne(it: RecordItem): void {
    const p = this.pipeline;
    switch (it.k) {
      case 'open':
        p.open(it.info);
        break;
      case 'data':
        p.chunk(it.id, it.dir, it.bytes, it.time);
        break;
      case 'end':
        p.end(it.id, it.dir, it.time);
        break;
      case 'close':
        p.close(it.id, it.time, it.reason);
        break;
      case 'intervention':
        p.intervention(it.ev);
        break;
      case 'gap':
        // Written ahead (gaps-ahead.ts): its rows move into place here; the model and the log see it now.
        if (it.ahead) this.store.gapReached(it.id, it.dir);
        if (!it.more) p.gap(it.id, it.dir, it.bytes, it.time, it.ahead === true);
        else if (!it.ahead) this.store.growGap(it.id, it.dir, it.bytes, it.time);
        break;
    }
  }

  /** Of the ring records read (`read` of them), how many are applied to the model: all but those still put back in time order. */
  appliedThrough(read: number): number {
    const oldest = this.order?.oldestSeq ?? null;
    return oldest === null ? read : oldest - 1;
  }

  /** The --log file this recording writes (to tell it from another file at the same path later), or null. */
  logFile(): LogFileId | null {
    if (this.logFd === null || this.logPath === null) return null;
    const st = fstatSync(this.logFd);
    return { path: this.logPath, dev: st.dev, ino: st.ino };
  }

  /**
   * Closes the database and the log; `closing` is called once only the
   * database's close is left. The last rows, `meta` (with `extraMeta`) and
   * `ended` are one transaction: a stop that ends the database without this
   * thread (src/store/takeover.ts) finds either all of it or none.
   */
  finish(droppedBytes: number, closing: () => void = () => {}, extraMeta: Record<string, string> = {}): void {
    if (this.orderTimer !== null) clearTimeout(this.orderTimer);
    this.orderTimer = null;
    this.throwDeferred();
    if (this.order) this.apply(this.order.drain());
    this.store.batch(() => {
      this.publish();
      for (const [k, v] of Object.entries(extraMeta)) this.store.setMeta(k, v);
      if (droppedBytes > 0) this.store.setMeta('dropped_bytes', String(droppedBytes));
      if (this.consumerErrors > 0) this.store.setMeta('feed_errors', `${this.consumerErrors} (first: ${this.firstConsumerError})`);
      this.store.setMeta('ended', new Date().toISOString());
    });
    closing();
    // The log first: a stop that ends the database without this thread (src/store/takeover.ts) finds it complete once `ended` is committed.
    this.out?.flush();
    this.store.shutdown();
    if (this.logFd !== null) closeSync(this.logFd);
  }
}

/** A clean stop (connections flushed, recording drained, the rest recorded as gaps, database closed) finishes within this (ms). */
export const STOP_BUDGET_MS = 2000;
/** The part of a stop's budget kept for closing the database (at least; the worker stops decoding earlier when its end would not fit). */
const CLOSE_MS = 400;
/**
 * The part kept for ending the database without the worker, when it has not
 * closed it by then (src/store/takeover.ts): the worker is told to be done
 * this long before the end.
 */
const TAKEOVER_MS = 300;
/**
 * A worker that has had less than this share of a processor over the last
 * STARVED_AFTER_MS since it was told to finish is starved (load in the
 * proxy's own session, against which its nice level counts, leaves it 1-5%
 * of a core): its drain would decode next to nothing, so the takeover comes
 * at once rather than TAKEOVER_MS before the end. With CPU time counted in
 * 10 ms steps, that is at most one step in 400 ms; a worker on a machine
 * busy with other sessions' programs measured 10-20%.
 */
const STARVED_SHARE = 0.05;
const STARVED_AFTER_MS = 400;
/** A takeover waits at least this long for the write lock (the worker's thread must run to roll its transaction back), even past the budget. */
const LOCK_MIN_MS = 200;
/** The part kept for the process to exit once the database is closed. */
const EXIT_MS = 100;

/** Where the time of a takeover went (ms; see RecordingHandle.finish). */
export interface TakeoverPhases {
  /** From the finish message being posted to the takeover starting. */
  waited: number;
  /** Opening the database and telling the worker's thread to end. */
  open: number;
  /** Waiting for the write lock (the worker's open transaction rolled back). */
  lock: number;
  /** Writing the end. */
  write: number;
  /** Waiting for the worker's thread to end (so the WAL could be folded in), and closing. */
  close: number;
}

/** Where a clean stop's time went (ms). */
export interface StopReport {
  total: number;
  /** Flushing and closing the relay's connections. */
  relay: number;
  /** The worker's phases (null if it did not finish). */
  worker: StopPhases | null;
  /** The takeover's, when the database was ended without the worker. */
  takeover: TakeoverPhases | null;
  /** From the worker's `done` (or the takeover) to its thread having exited. */
  exit: number;
}

/** One line for a stop report: `1234 ms (relay 300, wake 2, drain 500, gaps 0, last 3, close 40, exit 5)`; with a takeover `… (relay 300, takeover: waited 400, open 3, lock 20, write 15, close 40, exit 0)`. */
export function stopReportText(r: StopReport): string {
  const w = r.worker;
  const entries = (o: object) => Object.entries(o).map(([k, v]) => `${k} ${(v as number).toFixed(0)}`);
  const parts = [`relay ${r.relay.toFixed(0)}`, ...(w ? entries(w) : r.takeover ? [`takeover: ${entries(r.takeover).join(', ')}`] : ['worker did not finish']), `exit ${r.exit.toFixed(0)}`];
  return `${r.total.toFixed(0)} ms (${parts.join(', ')})`;
}

/**
 * Stops a relay and its recording within budgetMs: the relay flushes its
 * connections for up to 60% of it (the recording drains meanwhile), the
 * recording decodes what is left until CLOSE_MS before the end (earlier when
 * its own end would not be done TAKEOVER_MS before it), records the rest as
 * gaps with their true sizes and closes the database. If it has not done so
 * TAKEOVER_MS before the end, this thread ends the database itself. Says
 * where the time went.
 */
export async function stopRecorded(stopRelay: (budgetMs: number) => Promise<void>, recording: RecordingHandle, budgetMs = STOP_BUDGET_MS): Promise<StopReport> {
  const start = now();
  const end = start + budgetMs;
  await stopRelay(Math.floor(budgetMs * 0.6));
  const relayed = now();
  const closeBy = Math.max(0, end - TAKEOVER_MS - relayed);
  const r = await recording.finish(Math.max(0, end - CLOSE_MS - relayed), closeBy, closeBy, Math.max(0, end - EXIT_MS - relayed));
  return { total: now() - start, relay: relayed - start, worker: r.phases, takeover: r.takeover, exit: r.exit };
}

/** The recording worker's young generation (MB). */
const RECORDER_YOUNG_MB = 8;

/** The relay-side handle of a recording running in its worker thread. */
export class RecordingHandle {
  private failed = false;
  private signals = 0;
  /**
   * SIGINT/SIGTERM while nobody else listens (the command took the first one
   * and is stopping): the first cuts the recording's decoding short (the rest
   * is recorded as gaps, the database still ends properly), the next quits.
   */
  private readonly onSignal = (sig: NodeJS.Signals) => {
    if (process.listenerCount(sig) > 1) return; // the command handles this one
    Atomics.store(new Int32Array(this.client.ring.ctl), CTL.ABORT, 1);
    if (this.signals++ === 0) process.stderr.write(`ipc-trace: ${sig}: finishing the recording now (again to quit at once)\n`);
    else process.exit(130);
  };

  private constructor(
    private readonly worker: Worker,
    readonly client: RecorderClient,
    readonly dbPath: string,
    /** The worker's --log file and space reserve, which a takeover writes to and releases in its place. */
    private readonly owned: { log: LogFileId | null; reserve: { path: string; ino: number } | null; tid: number | null },
  ) {
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
    worker.on('message', (m: WorkerReply) => {
      if (m.k === 'error') process.stderr.write(`ipc-trace: recording error: ${m.message}\n`);
      if (m.k === 'failed' && !this.failed) {
        this.failed = true;
        process.stderr.write(`ipc-trace: recording stopped: ${m.message} (still relaying)\n`);
      }
    });
  }

  /** Starts the worker; rejects (UserError) if the recording cannot start (bad schemas, existing DB…). */
  static async start(opts: RecordingOptions, clientOpts: RecorderClientOptions = {}): Promise<RecordingHandle> {
    const client = new RecorderClient(clientOpts);
    const worker = new Worker(new URL('./record-worker.js', import.meta.url), {
      workerData: { options: opts, ring: client.ring },
      transferList: opts.feedPort ? [opts.feedPort] : [],
      // Its young generation: 8 MB rather than V8's 32 (see heap.ts).
      resourceLimits: { maxYoungGenerationSizeMb: RECORDER_YOUNG_MB },
    });
    workerOnline(worker);
    const first = await new Promise<WorkerReply>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    if (first.k === 'error') {
      await worker.terminate();
      throw first.user ? new UserError(first.message) : new Error(first.message);
    }
    if (first.k !== 'ready') throw new Error('recording worker did not start');
    return new RecordingHandle(worker, client, first.dbPath, { log: first.log, reserve: first.reserve, tid: first.tid });
  }

  /** The names of calls for an interceptor, from this recording's model (src/intercept/names.ts). */
  names(): NamesSource {
    const client = this.client;
    /** Per connection: the names of its calls posted while asked for, until the interceptor is done with them. */
    const calls = new Map<number, Map<string, CallNames>>();
    let applied = 0;
    let ended = false;
    /** The worker was woken and has not posted since. */
    let woken = false;
    const source: NamesSource = {
      want: (on) => {
        client.wantNames(on);
        if (!on) calls.clear();
      },
      mark: () => client.records,
      reached: (mark) => ended || applied >= mark || client.stopped,
      call: (conn, dir, q) => calls.get(conn)?.get(namesKey(conn, dir, q)),
      forget: (conn, dir, q) => calls.get(conn)?.delete(namesKey(conn, dir, q)),
      closed: (conn) => calls.delete(conn),
      hurry: () => {
        if (woken) return;
        woken = true;
        client.wake();
      },
      onUpdate: () => {},
    };
    this.worker.on('message', (m: WorkerReply) => {
      if (m.k !== 'names' && m.k !== 'done') return;
      woken = false;
      if (m.k === 'done') ended = true;
      else {
        for (const [conn, dir, q, n] of m.calls) {
          let c = calls.get(conn);
          if (!c) calls.set(conn, (c = new Map()));
          c.set(namesKey(conn, dir, q), n);
        }
        applied = m.applied;
      }
      source.onUpdate();
    });
    this.worker.once('exit', () => {
      ended = true;
      source.onUpdate();
    });
    return source;
  }

  /** Records what the interceptor did (in its place in the stream). */
  intervention(ev: Intervention): void {
    this.client.intervention(ev);
  }

  /** Receives each batch of the change feed (only when started with `feed: true`). */
  onFeed(cb: (batch: FeedBatch) => void): void {
    this.worker.on('message', (m: WorkerReply) => {
      if (m.k === 'feed') cb(m.batch);
    });
  }

  /** The relay's tap: every connection is recorded. */
  tap(names?: (conn: { listen: string; upstream: string }) => { client?: string; server?: string }): Tap {
    const r = this.client;
    return {
      open: (c) => {
        const n = names?.(c) ?? {};
        const info: ConnOpen = { id: c.id, time: c.time, label: `${c.peer ? c.peer + ' via ' : ''}${c.listen} -> ${c.upstream}`, ...n };
        r.open(info);
      },
      data: (id, dir, bytes, time) => r.data(id, dir, bytes, time),
      end: (id, dir, time) => r.end(id, dir, time),
      close: (id, time, reason) => r.close(id, time, reason),
      gap: (id, dir, bytes, time) => r.lost(id, dir, bytes, time),
    };
  }

  /**
   * Hands the worker what is left and waits for it to close the database.
   * The worker decodes for at most drainMs (less when closing the database
   * would not be done in closeMs otherwise), then records the rest as gaps; a
   * SIGINT or SIGTERM meanwhile cuts the decoding short (see onSignal). If it
   * has not closed the database after takeoverMs, or sooner once it is seen
   * to be starved (STARVED_SHARE: it runs niced, and load in the proxy's own
   * session can leave it almost no CPU), this thread ends the database
   * without it (takeOver), by endMs if it can.
   */
  async finish(drainMs = 800, closeMs = drainMs, takeoverMs = closeMs + TAKEOVER_MS, endMs = takeoverMs + TAKEOVER_MS): Promise<{ phases: StopPhases | null; takeover: TakeoverPhases | null; exit: number }> {
    let timer: NodeJS.Timeout | undefined;
    let poll: NodeJS.Timeout | undefined;
    try {
      let phases: StopPhases | null = null;
      const tid = this.owned.tid;
      const cpu0 = tid === null ? null : threadCpuMsOf(tid);
      const done = new Promise<boolean>((resolve) => {
        this.worker.on('message', (m: WorkerReply) => {
          if (m.k !== 'done') return;
          phases = m.phases;
          resolve(true);
        });
        this.worker.once('exit', () => resolve(true));
        timer = setTimeout(() => resolve(false), takeoverMs);
        if (cpu0 === null || tid === null) return;
        // The worker's CPU time over the last STARVED_AFTER_MS (it may be starved from the start or only later).
        const samples: [number, number][] = [[now(), cpu0]];
        poll = setInterval(() => {
          const t = now();
          const cpu = threadCpuMsOf(tid);
          if (cpu === null) return;
          while (samples.length > 1 && samples[1]![0] <= t - STARVED_AFTER_MS) samples.shift();
          const [t0, c0] = samples[0]!;
          if (t - t0 >= STARVED_AFTER_MS && (cpu - c0) / (t - t0) < STARVED_SHARE) resolve(false);
          samples.push([t, cpu]);
        }, 50);
      });
      const start = performance.timeOrigin + performance.now();
      this.worker.postMessage(this.client.finishMessage(start + drainMs, start + closeMs));
      const finished = await done;
      clearTimeout(timer);
      clearInterval(poll);
      if (!finished) {
        const cpu = tid === null || cpu0 === null ? null : (threadCpuMsOf(tid) ?? cpu0) - cpu0;
        const takeover = await this.takeOver(start, start + endMs, cpu);
        const t = now();
        await this.worker.terminate();
        return { phases: null, takeover, exit: now() - t };
      }
      const t = now();
      await this.worker.terminate();
      return { phases, takeover: null, exit: now() - t };
    } finally {
      clearTimeout(timer);
      clearInterval(poll);
      process.off('SIGINT', this.onSignal);
      process.off('SIGTERM', this.onSignal);
    }
  }

  /**
   * Ends the database without the worker (src/store/takeover.ts), by `endAt`
   * if it can: the ring tells the worker to commit nothing more and its
   * thread is terminated (its open transaction, if any, is rolled back when
   * its connection closes); once this thread holds the write lock, what the
   * worker had not committed is recorded as gaps of their true sizes, the
   * relay's closes are written, and the session ends. Says so on stderr and
   * in the worker's --log file.
   */
  private async takeOver(finishPosted: number, endAt: number, workerCpuMs: number | null): Promise<TakeoverPhases | null> {
    const t0 = now();
    const cpu = workerCpuMs === null ? '' : ` (it got ${workerCpuMs} ms of CPU meanwhile)`;
    const why = `the recording thread had not closed the database ${(t0 - finishPosted).toFixed(0)} ms after it was told to finish${cpu}: its end was written without it, what it had not committed recorded as gaps`;
    let tk: Takeover;
    try {
      // Opened first: the worker's connection then never is the last to close (see Takeover.open).
      tk = Takeover.open(this.dbPath);
    } catch (e) {
      process.stderr.write(`ipc-trace: the recording worker did not finish and its database cannot be opened (${(e as Error).message}); it may lack its end\n`);
      return null;
    }
    this.client.takeOver();
    const exited = this.worker.terminate().then(() => true);
    const opened = now();
    let report: TakeoverReport | null = null;
    let error: unknown = null;
    try {
      // Room kept after the lock for writing and closing.
      report = tk.end(() => this.client.cut(), why, Math.max(LOCK_MIN_MS, endAt - now() - 50));
    } catch (e) {
      error = e;
    }
    if (!report && (error as { code?: string }).code === 'SQLITE_BUSY') {
      // The worker's transaction is still open (its thread has not run since): late, but the session gets its end.
      let wait: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((r) => (wait = setTimeout(r, 2000)))]);
      clearTimeout(wait);
      try {
        report = tk.end(() => this.client.cut(), why, 500);
      } catch (e) {
        error = e;
      }
    }
    if (!report) {
      tk.close(false);
      process.stderr.write(`ipc-trace: the recording worker did not finish, and its end could not be written (${(error as Error).message}); the database may lack its end\n`);
      return null;
    }
    const t1 = now();
    let wait: NodeJS.Timeout | undefined;
    const alone = await Promise.race([exited, new Promise<boolean>((r) => (wait = setTimeout(() => r(false), Math.max(0, endAt - t1))))]);
    clearTimeout(wait);
    tk.close(alone);
    if (this.owned.reserve) SpaceReserve.adopt(this.owned.reserve.path, this.owned.reserve.ino).release();
    const mb = (n: number) => (n < 1e5 ? `${n} bytes` : `${(n / 1e6).toFixed(1)} MB`);
    if (report.alreadyEnded) process.stderr.write(`ipc-trace: the recording thread had written the session's end but not closed the database in time; closed without it\n`);
    else {
      const what = `${mb(report.gapBytes)} recorded as ${report.gaps} gap(s), ${report.closed} connection(s) closed (${report.disconnected} call(s) disconnected), ${report.skipped} skipped; ${mb(report.droppedBytes)} not recorded in all`;
      if (this.owned.log) appendToOwnFile(this.owned.log, recordingCutLine(Date.now(), `${why}: ${what}`) + '\n');
      process.stderr.write(`ipc-trace: the recording thread did not finish in time; its end was written without it: ${what} (meta recording_cut)\n`);
    }
    return { waited: t0 - finishPosted, open: opened - t0, lock: report.lockMs, write: report.writeMs, close: now() - t1 };
  }
}
