// The session model: per connection and direction, the question and
// capability tables, threads from ThreadMap.makeThread and Proxy.Context,
// call nesting (callbacks inside the calls they serve), call status, and
// processes named from thread names. Fed with decoded messages in stream
// order; every view (log, store, chains, TUI) reads what it builds.

import type { DecodedMessage, Dir } from '../decoder/messages.js';
import { otherDir } from '../decoder/messages.js';
import { DStruct, DList, CapRef, Value } from '../decoder/dynamic.js';
import type { SchemaSet, StructInfo } from '../decoder/schema.js';
import { THREADMAP_ID, contextOf, execProcessName, isThreadInterface, parseThreadName, servedClient } from '../mp/concepts.js';
import type { CapDescriptor, MessageTarget, RpcMessage } from '../decoder/rpc.js';
import { renderStruct } from '../decoder/text.js';
import {
  CallRecord,
  CallStatus,
  CapRecord,
  ConnRecord,
  ProcessRecord,
  Side,
  ThreadRecord,
  senderOf,
} from './records.js';
import { Delta, ProcessMerge, callRow, capRow, connRow, processRow, threadRow } from './rows.js';


/** What one message did to the model (for the log, the store and the TUI). */
export type Update =
  | { kind: 'call'; call: CallRecord; makeThread: ThreadRecord | null }
  | { kind: 'return'; call: CallRecord; madeThread: ThreadRecord | null }
  | { kind: 'bootstrap'; questionId: number }
  | { kind: 'bootstrapReturn'; questionId: number; cap: CapRecord | null }
  | { kind: 'finish'; call: CallRecord | null; questionId: number; cancel: boolean }
  | { kind: 'release'; cap: CapRecord | null; id: number; count: number }
  | { kind: 'resolve'; cap: CapRecord | null; promiseId: number; to: CapRecord | null; exception: string | null }
  | { kind: 'disembargo'; rpc: RpcMessage }
  | { kind: 'abort'; reason: string }
  | { kind: 'other'; rpc: RpcMessage | null }
  | { kind: 'error'; error: string; offset: number; framing: boolean };

interface Question {
  call: CallRecord | null;
  bootstrap: boolean;
  returned: boolean;
  finished: boolean;
  /** For makeThread: the worker its result names. */
  resultThread: ThreadRecord | null;
  /** Decoded results and their capabilities, to resolve promisedAnswer paths. */
  results: DStruct | null;
  resultCaps: (CapRecord | null)[];
  /** Exports the caller introduced in the params, one entry per descriptor (Return.releaseParamCaps releases them). */
  paramExports: CapRecord[];
  /** Exports the callee introduced in the results, one entry per descriptor (Finish.releaseResultCaps releases them). */
  resultExports: CapRecord[];
  /** A Finish with releaseResultCaps came before the Return: the Return's exports are released as it arrives. */
  releaseResultsOnReturn: boolean;
}

interface Vat {
  process: ProcessRecord;
  loop: ThreadRecord | null;
  /** Capabilities this vat exports, by export id. */
  exports: Map<number, CapRecord>;
  /** Questions this vat asked, by question id. */
  questions: Map<number, Question>;
  /** Per interface name: how many objects of it this vat has exported (for labels). */
  counts: Map<string, number>;
}

interface ConnState {
  record: ConnRecord;
  vats: Record<Side, Vat>;
  /** The connection's calls not yet retired (a close retires them). */
  live: Set<CallRecord>;
  /** Threads that live as long as the connection (its vats' event loops, workers made over it): forgotten with it without retainHistory. */
  threads: ThreadRecord[];
}

/** Per process: what naming and merging it touches, so neither scans the session. */
interface ProcessIndex {
  threads: Set<ThreadRecord>;
  /** Client threads by the name they sent in makeThread. */
  named: Map<string, ThreadRecord>;
  /** A placeholder's calls (only a placeholder can merge into another process); live ones only without retainHistory. */
  calls: Set<CallRecord>;
  /** Its connections (open ones only without retainHistory). */
  conns: Set<ConnState>;
  /** The first call, thread and connection ids that could refer to it (rows written before a merge are re-pointed from there). */
  since: { call: number; thread: number; conn: number };
  /** Born a placeholder for one connection's end (not named by the transport): while no thread names it either, nothing refers to it once its connections are closed. */
  ephemeral: boolean;
}

/** A placeholder process got its real name (the log says so once). */
export interface ProcessNaming {
  conn: number;
  /** The name it went by (`client#1`). */
  was: string;
  process: ProcessRecord;
}


/** What a connection's close makes of a call on it not yet retired: a pending one was interrupted by the disconnect (SessionModel.close). */
export function statusAtClose(status: CallStatus): CallStatus {
  return status === 'pending' ? 'disconnected' : status;
}

function other(s: Side): Side {
  return s === 'A' ? 'B' : 'A';
}

export class SessionModel {
  readonly processes: ProcessRecord[] = [];
  readonly threads: ThreadRecord[] = [];
  readonly caps: CapRecord[] = [];
  readonly calls: CallRecord[] = [];
  readonly connections = new Map<number, ConnState>();
  /** Calls not yet retired, by id. */
  readonly outstanding = new Map<number, CallRecord>();
  private processIds = 0;
  /** Records changed since the last `takeDelta()`. */
  private dirty = newDirty();
  /** Processes by label (the first one of a label; a merge keeps one per label). */
  private readonly byLabel = new Map<string, ProcessRecord>();
  private readonly index = new Map<ProcessRecord, ProcessIndex>();
  /** Threads by name, any process (a worker's `(from NAME)` lookup). */
  private readonly threadsNamed = new Map<string, Set<ThreadRecord>>();
  /** Workers by the thread they were made for. */
  private readonly workersFor = new Map<ThreadRecord, Set<ThreadRecord>>();
  /** Pending calls by their calling thread (callback nesting looks them up). */
  private readonly pendingByCaller = new Map<ThreadRecord, Set<CallRecord>>();
  /** Placeholders named since the last `takeNamings()`. */
  private namings: ProcessNaming[] = [];

  private callIds = 0;
  private threadIds = 0;
  /** The connection being opened (a process created now can be referred to from it on). */
  private openingConn = 0;
  private capIds = 0;
  /**
   * Keep every process, thread, call and capability in `processes`,
   * `threads`, `calls` and `caps` (tests, in-process analysis). A recording
   * turns it off: the change feed has carried each record to the store, so a
   * retired call, a released capability and a closed connection with the
   * threads that lived as long as it are forgotten, and so is a placeholder
   * process that nothing named (neither the transport nor its threads) once
   * its connections are closed. What stays grows with the processes and
   * named threads seen, not with traffic.
   */
  private readonly retainHistory: boolean;
  /** Render params and results as text (off for a model kept for names only: the interceptor's). */
  private readonly renderText: boolean;

  constructor(
    readonly schemas: SchemaSet,
    opts: { retainHistory?: boolean; renderText?: boolean } = {},
  ) {
    this.retainHistory = opts.retainHistory ?? true;
    this.renderText = opts.renderText ?? true;
  }

  // ---- connections ----

  open(id: number, time: number, label: string, names: { client?: string; server?: string } = {}): ConnRecord {
    // A process named by the transport (the upstream of every proxied
    // connection, an exec child) is one process across its connections.
    // `exec:bitcoin-wallet[5291]` (an exec child) is Bitcoin Core's `bitcoin-wallet-5291`.
    this.openingConn = id;
    const exec = execProcessName;
    const named = (n: string | undefined) => {
      const label = exec(n)?.label ?? n;
      return label ? this.byLabel.get(label) : undefined;
    };
    const create = (placeholder: string, given: string | undefined) => {
      const e = exec(given);
      const p = this.newProcess(e?.label ?? placeholder, given === undefined);
      if (e) Object.assign(p, e);
      return p;
    };
    const mk = (placeholder: string, given: string | undefined): Vat => ({
      process: named(given) ?? create(placeholder, given),
      loop: null,
      exports: new Map(),
      questions: new Map(),
      counts: new Map(),
    });
    const vats = { A: mk(names.client ?? `client#${id}`, names.client), B: mk(names.server ?? `server#${id}`, names.server) };
    const record: ConnRecord = { id, label, opened: time, closed: null, closeReason: null, processes: { A: vats.A.process, B: vats.B.process } };
    const state: ConnState = { record, vats, live: new Set(), threads: [] };
    this.connections.set(id, state);
    this.idx(vats.A.process).conns.add(state);
    this.idx(vats.B.process).conns.add(state);
    this.dirty.connections.add(record);
    return record;
  }

  /**
   * The connection ended: its outstanding calls were interrupted by the
   * disconnect. The rule (statusAtClose for each call not yet retired, then
   * retired; every capability it exported released at the close's time) is
   * also applied to stored rows by a stop that ends the database without the
   * recording worker (src/store/takeover.ts): change both together.
   */
  close(id: number, time: number, reason: string | null): CallRecord[] {
    const c = this.connections.get(id);
    if (!c) return [];
    c.record.closed = time;
    c.record.closeReason = reason;
    this.dirty.connections.add(c.record);
    const interrupted: CallRecord[] = [];
    for (const call of [...c.live]) {
      const status = statusAtClose(call.status);
      if (status !== call.status) {
        this.setStatus(call, status);
        interrupted.push(call);
      }
      this.retire(call);
    }
    for (const v of Object.values(c.vats)) {
      for (const cap of v.exports.values()) {
        if (cap.released === null) {
          cap.released = time;
          this.dirty.caps.add(cap);
        }
      }
    }
    return interrupted;
  }

  conn(id: number): ConnRecord | undefined {
    return this.connections.get(id)?.record;
  }

  /** Placeholder processes that got their real names since the last call (for the log's `client#1 is NAME`). */
  takeNamings(): ProcessNaming[] {
    const n = this.namings;
    if (n.length) this.namings = [];
    return n;
  }

  // ---- messages ----

  message(connId: number, d: DecodedMessage, time: number): Update {
    const c = this.connections.get(connId) ?? (this.open(connId, time, `connection ${connId}`), this.connections.get(connId)!);
    if (d.error !== undefined || !d.rpc) {
      return { kind: 'error', error: d.error ?? 'undecodable message', offset: d.offset, framing: !!d.framingError };
    }
    const r = d.rpc;
    const sender = senderOf(d.dir);
    switch (r.type) {
      case 'bootstrap':
        c.vats[sender].questions.set(r.questionId, this.question(null, true, []));
        return { kind: 'bootstrap', questionId: r.questionId };
      case 'call':
        return this.onCall(c, d, r, time);
      case 'return':
        return this.onReturn(c, d, r, time);
      case 'finish':
        return this.onFinish(c, d.dir, r.questionId, r.releaseResultCaps, time);
      case 'release': {
        const cap = c.vats[other(sender)].exports.get(r.id) ?? null;
        if (cap) this.release(cap, r.referenceCount, time);
        return { kind: 'release', cap, id: r.id, count: r.referenceCount };
      }
      case 'resolve': {
        const cap = c.vats[sender].exports.get(r.promiseId) ?? null;
        const to = r.cap ? this.capFrom(c, sender, r.cap, time, null) : null;
        if (cap && to) {
          cap.iface ??= to.iface;
          cap.thread ??= to.thread;
          this.dirty.caps.add(cap);
        }
        return { kind: 'resolve', cap, promiseId: r.promiseId, to, exception: r.exception?.reason ?? null };
      }
      case 'disembargo':
        return { kind: 'disembargo', rpc: r };
      case 'abort':
        return { kind: 'abort', reason: `${r.exception.type}: ${r.exception.reason}` };
      default:
        return { kind: 'other', rpc: r };
    }
  }

  /** Forgets what changed since the last delta without building rows (a reader that wants no feed, like replay's log). */
  skipDelta(): ReturnType<typeof newDirty> {
    const d = this.dirty;
    this.dirty = newDirty();
    if (!this.retainHistory) {
      for (const c of d.connections) {
        if (c.closed === null) continue;
        const cs = this.connections.get(c.id);
        if (!cs) continue;
        this.connections.delete(c.id);
        this.forgetConnection(cs);
      }
    }
    return d;
  }

  /** A closed connection whose rows went out: its threads, and processes nothing can refer to any more. */
  private forgetConnection(cs: ConnState): void {
    for (const t of cs.threads) {
      this.index.get(t.process)?.threads.delete(t);
      this.forgetThread(t);
    }
    for (const side of ['A', 'B'] as const) {
      const p = cs.vats[side].process;
      const pi = this.index.get(p);
      if (!pi) continue;
      pi.conns.delete(cs);
      // A process named by its threads stays: another connection of it merges into it.
      if (pi.conns.size > 0 || !pi.ephemeral || p.pid !== null) continue;
      this.index.delete(p);
      if (this.byLabel.get(p.label) === p) this.byLabel.delete(p.label);
      for (const t of pi.threads) this.forgetThread(t);
    }
  }

  /** Drops a thread from the lookups by name and by the thread a worker serves. */
  private forgetThread(t: ThreadRecord): void {
    const drop = <K>(m: Map<K, Set<ThreadRecord>>, k: K) => {
      const xs = m.get(k);
      if (xs?.delete(t) && xs.size === 0) m.delete(k);
    };
    if (t.name !== null) {
      drop(this.threadsNamed, t.name);
      const named = this.index.get(t.process)?.named;
      if (named?.get(t.name) === t) named.delete(t.name);
    }
    if (t.from) drop(this.workersFor, t.from);
    this.workersFor.delete(t);
    this.pendingByCaller.delete(t);
  }

  /**
   * Everything that changed since the last call, as rows: the one change
   * feed every consumer (store, TUI, live chains) reads. Merged-away
   * processes appear only in `merges`.
   */
  takeDelta(): Delta {
    const d = this.skipDelta();
    const live = (p: ProcessRecord) => !d.mergedAway.has(p.id);
    return {
      processes: [...d.processes].filter(live).map(processRow),
      threads: [...d.threads].map(threadRow),
      caps: [...d.caps].map(capRow),
      calls: [...d.calls].map(callRow),
      connections: [...d.connections].map(connRow),
      merges: d.merges,
    };
  }

  // ---- calls ----

  private onCall(c: ConnState, d: DecodedMessage, r: Extract<RpcMessage, { type: 'call' }>, time: number): Update {
    const sender = senderOf(d.dir);
    const receiver = other(sender);
    const vs = c.vats[sender];
    const vr = c.vats[receiver];
    const iface = d.iface ?? this.schemas.interfaces.get(r.interfaceId) ?? null;
    const title = iface && d.method ? `${iface.name}.${d.method.name}` : `${r.interfaceId}@${r.methodId}`;
    // Capabilities passed in the params (exports of the sender, references to the receiver's).
    const paramCaps = r.params.capTable.map((cd) => this.capFrom(c, sender, cd, time, null));
    const paramExports = exportsIn(r.params.capTable, paramCaps);
    if (d.content) this.nameCaps(c, d.content, paramCaps);
    const targetCap = this.targetCap(c, sender, r.target);
    if (targetCap && !targetCap.iface && iface) this.setIface(c, targetCap, iface.name);

    const call: CallRecord = {
      id: ++this.callIds,
      conn: c.record.id,
      dir: d.dir,
      questionId: r.questionId,
      interfaceId: r.interfaceId,
      methodId: r.methodId,
      iface: iface?.name ?? null,
      method: d.method?.name ?? null,
      title,
      target: targetCap?.label ?? this.promisedLabel(vs, r.target) ?? iface?.name ?? r.interfaceId,
      hasContext: false,
      caller: null,
      executor: null,
      clientProcess: vs.process,
      serverProcess: vr.process,
      parent: null,
      depth: 0,
      status: 'pending',
      exception: null,
      requestNo: null,
      sent: time,
      returned: null,
      cancelRequested: null,
      finished: null,
      callMsg: d.n ?? -1,
      returnMsg: null,
      params: d.content && this.renderText ? renderStruct(d.content, this.schemas) : null,
      results: null,
      retired: false,
    };
    if (this.retainHistory) this.calls.push(call);
    this.outstanding.set(call.id, call);
    c.live.add(call);
    if (call.clientProcess.pid === null) this.idx(call.clientProcess).calls.add(call);
    if (call.serverProcess.pid === null) this.idx(call.serverProcess).calls.add(call);
    this.dirty.calls.add(call);
    const q = this.question(call, false, paramExports);
    vs.questions.set(r.questionId, q);

    let makeThread: ThreadRecord | null = null;
    if (r.interfaceId === THREADMAP_ID && r.methodId === 0 && d.content) {
      // makeThread(name): the sender's thread `name`; its result is a worker in the receiver.
      const name = d.content.get('name');
      const client = this.clientThread(c.record.id, vs, typeof name === 'string' ? name : '', time);
      call.caller = client;
      makeThread = this.newThread(vr.process, 'worker', null, client, time, c);
      q.resultThread = makeThread;
      call.executor = this.loop(c, vr, time);
    } else {
      const ctx = d.content ? contextOf(d.content) : null;
      if (ctx) {
        call.hasContext = true;
        this.attribute(c, call, sender, ctx, paramCaps, r.params.capTable, time);
      } else {
        call.executor = this.loop(c, vr, time);
      }
    }
    if (call.caller) this.trackPending(call);
    if (!isThreadInterface(r.interfaceId) && d.method) {
      call.requestNo = ++vr.process.requests;
      this.dirty.processes.add(vr.process);
    }
    return { kind: 'call', call, makeThread };
  }

  /** Caller, executor and parent of a call with a Proxy.Context. */
  private attribute(
    c: ConnState,
    call: CallRecord,
    sender: Side,
    ctx: DStruct,
    paramCaps: (CapRecord | null)[],
    table: CapDescriptor[],
    time: number,
  ): void {
    const receiver = other(sender);
    const threadRef = ctx.get('thread');
    const cbRef = ctx.get('callbackThread');
    // Context.thread: a worker in the receiver (a makeThread result, or a callbackThread the receiver sent).
    let executor: ThreadRecord | null = null;
    let execCap: CapRecord | null = null;
    if (threadRef instanceof CapRef && threadRef.index >= 0) {
      const desc = table[threadRef.index];
      if (desc?.kind === 'receiverAnswer') {
        executor = c.vats[sender].questions.get(desc.questionId)?.resultThread ?? null;
      }
      execCap = paramCaps[threadRef.index] ?? null;
      executor ??= execCap?.thread ?? null;
    }
    // A call whose executing thread is the caller of an outstanding call the
    // other way is a callback nested in that call.
    let parent: CallRecord | null = null;
    if (executor) {
      for (const o of this.pendingByCaller.get(executor) ?? []) {
        if (o.conn === call.conn && o.dir !== call.dir && o.status === 'pending') {
          if (!parent || o.id > parent.id) parent = o;
        }
      }
    }
    // Context.callbackThread: the calling thread itself (exported by the sender).
    let caller: ThreadRecord | null = null;
    if (cbRef instanceof CapRef && cbRef.index >= 0) {
      const cb = paramCaps[cbRef.index] ?? null;
      if (cb) {
        if (!cb.thread) {
          cb.thread = parent?.executor ?? executor?.from ?? this.newThread(c.vats[sender].process, 'client', null, null, time, c);
          cb.label = threadCapLabel(cb.thread);
          this.dirty.caps.add(cb);
        }
        caller = cb.thread;
      }
    }
    caller ??= parent?.executor ?? executor?.from ?? null;
    if (!executor) executor = this.newThread(c.vats[receiver].process, 'worker', null, caller, time, c);
    call.executor = executor;
    call.caller = caller;
    call.parent = parent;
    call.depth = parent ? parent.depth + 1 : 0;
  }

  private onReturn(c: ConnState, d: DecodedMessage, r: Extract<RpcMessage, { type: 'return' }>, time: number): Update {
    const sender = senderOf(d.dir);
    const asker = other(sender);
    const q = c.vats[asker].questions.get(r.answerId);
    const table = r.results?.capTable ?? [];
    const caps = table.map((cd) => this.capFrom(c, sender, cd, time, null));
    if (q) {
      // Return.releaseParamCaps: as if the callee released each export the params introduced.
      if (r.releaseParamCaps) for (const x of q.paramExports) this.release(x, 1, time);
      q.paramExports = [];
      // Finished before it returned (Finish.releaseResultCaps): the results' exports are released at once.
      if (q.releaseResultsOnReturn) for (const x of exportsIn(table, caps)) this.release(x, 1, time);
      else q.resultExports = exportsIn(table, caps);
    }
    if (q?.bootstrap) {
      const cap = caps[0] ?? null;
      if (cap && !cap.iface) cap.label = 'bootstrap';
      q.returned = true;
      this.maybeRetireQuestion(c.vats[asker], r.answerId, q);
      return { kind: 'bootstrapReturn', questionId: r.answerId, cap };
    }
    if (d.content) this.nameCaps(c, d.content, caps);
    if (!q?.call) return { kind: 'other', rpc: r };
    const call = q.call;
    q.returned = true;
    q.results = d.content ?? null;
    q.resultCaps = caps;
    call.returned = time;
    call.returnMsg = d.n ?? -1;
    if (r.exception) {
      this.setStatus(call, 'exception');
      call.exception = `${r.exception.type}: ${r.exception.reason}`;
    } else if (r.which === 'canceled') {
      this.setStatus(call, 'canceled');
    } else if (call.status === 'pending') {
      this.setStatus(call, 'returned');
    }
    if (d.content && this.renderText) call.results = renderStruct(d.content, this.schemas);
    let madeThread: ThreadRecord | null = null;
    if (q.resultThread) {
      madeThread = q.resultThread;
      const ref = d.content?.get('result');
      const cap = ref instanceof CapRef ? caps[ref.index] : null;
      if (cap) {
        cap.thread = madeThread;
        cap.iface = 'Thread';
        cap.label = threadCapLabel(madeThread);
        this.dirty.caps.add(cap);
      }
    }
    this.dirty.calls.add(call);
    if (r.noFinishNeeded) q.finished = true;
    this.maybeRetireQuestion(c.vats[asker], r.answerId, q);
    return { kind: 'return', call, madeThread };
  }

  private onFinish(c: ConnState, dir: Dir, questionId: number, releaseResultCaps: boolean, time: number): Update {
    const asker = senderOf(dir);
    const q = c.vats[asker].questions.get(questionId);
    if (!q) return { kind: 'finish', call: null, questionId, cancel: false };
    q.finished = true;
    if (releaseResultCaps) {
      if (q.returned) for (const x of q.resultExports) this.release(x, 1, time);
      else q.releaseResultsOnReturn = true;
    }
    q.resultExports = [];
    const call = q.call;
    const cancel = !q.returned;
    if (call) {
      call.finished = time;
      if (cancel) call.cancelRequested = time;
      this.dirty.calls.add(call);
    }
    this.maybeRetireQuestion(c.vats[asker], questionId, q);
    return { kind: 'finish', call, questionId, cancel };
  }

  private maybeRetireQuestion(v: Vat, id: number, q: Question): void {
    if (q.returned && q.finished) {
      v.questions.delete(id);
      if (q.call) this.retire(q.call);
    } else if (q.returned && q.call) {
      // Returned but not finished: the call is done for every view but the question table.
      this.outstanding.delete(q.call.id);
    }
  }

  private retire(call: CallRecord): void {
    call.retired = true;
    this.outstanding.delete(call.id);
    this.connections.get(call.conn)?.live.delete(call);
    this.untrackPending(call);
    if (!this.retainHistory) {
      this.index.get(call.clientProcess)?.calls.delete(call);
      this.index.get(call.serverProcess)?.calls.delete(call);
    }
    this.dirty.calls.add(call);
  }

  private setStatus(call: CallRecord, status: CallRecord['status']): void {
    call.status = status;
    if (status !== 'pending') this.untrackPending(call);
  }

  private trackPending(call: CallRecord): void {
    const set = this.pendingByCaller.get(call.caller!);
    if (set) set.add(call);
    else this.pendingByCaller.set(call.caller!, new Set([call]));
  }

  private untrackPending(call: CallRecord): void {
    if (!call.caller) return;
    const set = this.pendingByCaller.get(call.caller);
    if (!set) return;
    set.delete(call);
    if (set.size === 0) this.pendingByCaller.delete(call.caller);
  }

  private question(call: CallRecord | null, bootstrap: boolean, paramExports: CapRecord[]): Question {
    return {
      call, bootstrap, returned: false, finished: false, resultThread: null, results: null, resultCaps: [],
      paramExports, resultExports: [], releaseResultsOnReturn: false,
    };
  }

  // ---- capabilities ----

  /**
   * rpc.capnp's reference counting: every senderHosted/senderPromise
   * descriptor the exporter sends adds one reference; Release(id, n), a
   * Return with releaseParamCaps and a Finish with releaseResultCaps take
   * them away. At zero the export is gone and its id may be reused for a new
   * capability.
   */
  private release(cap: CapRecord, count: number, time: number): void {
    cap.refs -= count;
    if (cap.refs <= 0 && cap.released === null) cap.released = time;
    this.dirty.caps.add(cap);
  }

  /** The capability a CapDescriptor in a message from `sender` denotes (introducing it when new). */
  private capFrom(c: ConnState, sender: Side, d: CapDescriptor, time: number, iface: string | null): CapRecord | null {
    switch (d.kind) {
      case 'senderHosted':
      case 'senderPromise': {
        const v = c.vats[sender];
        let cap = v.exports.get(d.id);
        if (!cap || cap.released !== null) {
          cap = {
            id: ++this.capIds,
            conn: c.record.id,
            owner: sender,
            exportId: d.id,
            iface,
            label: iface ?? `cap#${d.id}`,
            thread: null,
            refs: 0,
            promise: d.kind === 'senderPromise',
            created: time,
            released: null,
          };
          if (this.retainHistory) this.caps.push(cap);
          v.exports.set(d.id, cap);
        }
        cap.refs++;
        this.dirty.caps.add(cap);
        return cap;
      }
      case 'receiverHosted':
        return c.vats[other(sender)].exports.get(d.id) ?? null;
      case 'receiverAnswer':
        return this.answerCap(c.vats[sender].questions.get(d.questionId), d.transform);
      default:
        return null;
    }
  }

  /** The capability at a promisedAnswer path, if the answer has arrived. */
  private answerCap(q: Question | undefined, transform: number[]): CapRecord | null {
    if (!q?.results || transform.length !== 1) return null;
    const f = q.results.info.fields.find((f) => f.groupId === null && f.offset === transform[0] && f.type.kind === 'interface');
    const v = f ? q.results.get(f.name) : undefined;
    return v instanceof CapRef ? (q.resultCaps[v.index] ?? null) : null;
  }

  private targetCap(c: ConnState, sender: Side, t: MessageTarget): CapRecord | null {
    if (t.kind === 'importedCap') return c.vats[other(sender)].exports.get(t.id) ?? null;
    return this.answerCap(c.vats[sender].questions.get(t.questionId), t.transform);
  }

  /** A pipelined call's target, named after the call whose answer it targets. */
  private promisedLabel(v: Vat, t: MessageTarget): string | null {
    if (t.kind !== 'promisedAnswer') return null;
    const q = v.questions.get(t.questionId);
    if (q?.bootstrap) return 'bootstrap';
    return q?.call ? `result of ${q.call.title}` : null;
  }

  /** Names capabilities from the interface types of the fields they sit in. */
  private nameCaps(c: ConnState, s: DStruct, caps: (CapRecord | null)[]): void {
    const visit = (v: Value, ifaceId: string | null): void => {
      if (v instanceof CapRef) {
        const cap = v.index >= 0 ? caps[v.index] : null;
        const iface = ifaceId ? this.schemas.interfaces.get(ifaceId)?.name : undefined;
        if (cap && iface && !cap.iface) this.setIface(c, cap, iface);
      } else if (v instanceof DStruct) {
        for (const f of v.fields) visit(f.value, f.type.kind === 'interface' ? f.type.id : null);
      } else if (v instanceof DList) {
        const el = v.elementType;
        for (const item of v.items) visit(item, el.kind === 'interface' ? el.id : null);
      }
    };
    visit(s, null);
  }

  private setIface(c: ConnState, cap: CapRecord, iface: string): void {
    cap.iface = iface;
    if (iface === 'Thread') return;
    const v = c.vats[cap.owner];
    const n = (v.counts.get(iface) ?? 0) + 1;
    v.counts.set(iface, n);
    cap.label = n === 1 ? iface : `${iface} #${n}`;
    this.dirty.caps.add(cap);
  }

  // ---- threads and processes ----

  private newProcess(label: string, ephemeral: boolean): ProcessRecord {
    const p: ProcessRecord = { id: ++this.processIds, label, exe: null, pid: null, requests: 0 };
    if (this.retainHistory) this.processes.push(p);
    this.idx(p).ephemeral = ephemeral;
    if (!this.byLabel.has(label)) this.byLabel.set(label, p);
    this.dirty.processes.add(p);
    return p;
  }

  private idx(p: ProcessRecord): ProcessIndex {
    let x = this.index.get(p);
    if (!x) {
      x = { threads: new Set(), named: new Map(), calls: new Set(), conns: new Set(), since: { call: this.callIds + 1, thread: this.threadIds + 1, conn: this.openingConn }, ephemeral: false };
      this.index.set(p, x);
    }
    return x;
  }

  /** A thread; `conn` when it lives as long as that connection. */
  private newThread(process: ProcessRecord, role: ThreadRecord['role'], name: string | null, from: ThreadRecord | null, time: number, conn: ConnState | null = null): ThreadRecord {
    const t: ThreadRecord = { id: ++this.threadIds, process, role, name, from, firstSeen: time };
    if (this.retainHistory) this.threads.push(t);
    conn?.threads.push(t);
    this.idx(process).threads.add(t);
    if (name !== null) this.indexName(t);
    if (from) {
      const ws = this.workersFor.get(from);
      if (ws) ws.add(t);
      else this.workersFor.set(from, new Set([t]));
    }
    this.dirty.threads.add(t);
    return t;
  }

  private indexName(t: ThreadRecord): void {
    const named = this.idx(t.process).named;
    if (!named.has(t.name!)) named.set(t.name!, t);
    const all = this.threadsNamed.get(t.name!);
    if (all) all.add(t);
    else this.threadsNamed.set(t.name!, new Set([t]));
  }

  private loop(c: ConnState, v: Vat, time: number): ThreadRecord {
    v.loop ??= this.newThread(v.process, 'loop', null, null, time, c);
    return v.loop;
  }

  /**
   * The sender's thread of this name (one record per name and process). A
   * worker that calls out over another connection names itself
   * `P/THREAD (from CLIENT)`: that is the worker already known as
   * `(from CLIENT)` in the same process, which now has its own name.
   */
  private clientThread(conn: number, v: Vat, name: string, time: number): ThreadRecord {
    this.nameProcess(conn, v, name);
    const existing = this.idx(v.process).named.get(name);
    if (existing) return existing;
    const from = servedClient(name);
    if (from !== undefined) {
      // The first unnamed worker of this process made for a thread called `from`.
      let worker: ThreadRecord | null = null;
      for (const f of this.threadsNamed.get(from) ?? []) {
        for (const w of this.workersFor.get(f) ?? []) {
          if (w.role === 'worker' && w.process === v.process && w.name === null && (!worker || w.id < worker.id)) worker = w;
        }
      }
      if (worker) {
        worker.name = name;
        this.indexName(worker);
        this.dirty.threads.add(worker);
        return worker;
      }
    }
    return this.newThread(v.process, 'client', name, null, time);
  }

  /**
   * A thread name like `bitcoin-node-72388/b-http.00-72390` names its
   * process; a process already known by that name (from another connection)
   * takes over this vat's placeholder, so request numbers stay per process.
   */
  private nameProcess(conn: number, v: Vat, threadName: string): void {
    const p = v.process;
    if (p.pid !== null) return;
    const n = parseThreadName(threadName);
    if (!n) return;
    const label = n.process;
    const was = p.label;
    const other = this.byLabel.get(label);
    const known = other && other !== p && other.pid !== null ? other : undefined;
    const pi = this.idx(p);
    if (!known) {
      if (this.byLabel.get(was) === p) this.byLabel.delete(was);
      p.exe = n.exe;
      p.pid = n.pid;
      p.label = label;
      if (!this.byLabel.has(label) || this.byLabel.get(label)!.pid === null) this.byLabel.set(label, p);
      this.dirty.processes.add(p);
      for (const t of pi.threads) this.dirty.threads.add(t);
      this.namings.push({ conn, was, process: p });
      pi.calls.clear(); // a named process never merges: nothing needs its calls
      return;
    }
    // Everything that pointed at the placeholder now points at the known process.
    const ki = this.idx(known);
    known.requests += p.requests;
    for (const t of pi.threads) {
      t.process = known;
      ki.threads.add(t);
      if (t.name !== null && !ki.named.has(t.name)) ki.named.set(t.name, t);
      this.dirty.threads.add(t);
    }
    for (const c of pi.calls) {
      if (c.clientProcess === p) c.clientProcess = known;
      if (c.serverProcess === p) c.serverProcess = known;
      ki.calls.add(c);
      this.dirty.calls.add(c);
    }
    for (const cs of pi.conns) {
      for (const side of ['A', 'B'] as const) {
        if (cs.vats[side].process === p) cs.vats[side].process = known;
        if (cs.record.processes[side] === p) {
          cs.record.processes[side] = known;
          this.dirty.connections.add(cs.record);
        }
      }
      ki.conns.add(cs);
    }
    this.index.delete(p);
    if (this.byLabel.get(was) === p) this.byLabel.delete(was);
    if (this.retainHistory) this.processes.splice(this.processes.indexOf(p), 1);
    this.dirty.processes.add(known);
    this.dirty.merges.push({ from: p.id, into: known.id, since: pi.since });
    this.dirty.mergedAway.add(p.id);
    this.namings.push({ conn, was, process: known });
  }
}

function newDirty() {
  return {
    calls: new Set<CallRecord>(),
    threads: new Set<ThreadRecord>(),
    caps: new Set<CapRecord>(),
    processes: new Set<ProcessRecord>(),
    connections: new Set<ConnRecord>(),
    merges: [] as ProcessMerge[],
    mergedAway: new Set<number>(),
  };
}

/** The exports a payload introduced: its senderHosted/senderPromise descriptors (one entry each, repeats counted). */
function exportsIn(table: CapDescriptor[], caps: (CapRecord | null)[]): CapRecord[] {
  const out: CapRecord[] = [];
  table.forEach((d, i) => {
    const cap = caps[i];
    if (cap && (d.kind === 'senderHosted' || d.kind === 'senderPromise')) out.push(cap);
  });
  return out;
}

function threadCapLabel(t: ThreadRecord): string {
  if (t.role === 'worker') return `Thread (from ${t.from?.name ?? '?'})`;
  return `Thread "${t.name ?? '?'}"`;
}

export type { StructInfo, Dir };
export { otherDir };
