// Level-1 two-party Cap'n Proto RPC over a byte stream, behaving like Cap'n
// Proto C++ 1.x as libmultiprocess uses it: Bootstrap, Call, Return, Finish,
// Release, Resolve (for promises we export), Disembargo replies, Abort.
//
// Tables (per connection): questions (our calls; ids reused lowest-first once
// the Return is in and Finish sent or not needed), answers (the peer's calls),
// exports (our capabilities the peer holds, with reference counts) and
// imports (the peer's capabilities we hold; Release when the last local
// reference goes). Returns set releaseParamCaps = false and Release the
// params' capabilities after the call; results without capabilities carry
// noFinishNeeded and their answer is dropped at once; otherwise the caller
// sends Finish (releaseResultCaps = false). Incoming messages are read with
// the project's decoder; outgoing ones are built with capnp-es.

import type { Duplex } from 'node:stream';
import { Framer, Frame } from '../decoder/framer.js';
import { WireMessage, readCapIndex } from '../decoder/wire.js';
import { readRpc, RpcMessage, Payload, MessageTarget } from '../decoder/rpc.js';
import { decodeStructAt, DStruct } from '../decoder/dynamic.js';
import { rpcSchemaSet } from '../decoder/sources.js';
import { SchemaSet, StructInfo, InterfaceInfo, MethodInfo, Brand, TypeRef } from '../decoder/schema.js';
import { Cap, CallRequest, CallResult, Hook, PromiseHook, BrokenHook, RawResults, brokenCap, capsIn, findInterface, isCap, pipelineFrom } from './cap.js';
import { LocalServer, Delivery } from './server.js';
import { RpcError, disconnected, fromException, toException } from './errors.js';
import * as env from './envelope.js';
import { Plain, mapCaps, pathToOps, structToPlain } from './values.js';
import { outsideLanes } from './lane.js';
import { CapTable } from './captable.js';
import { Answer, AnswerResult, ProtocolError, Question, capFromAnswer, exportedIds, lowestFree } from './tables.js';

export { ImportHook } from './remote.js';

/** A call the peer made to one of our local servers. */
export interface IncomingCall extends Delivery {
  conn: Connection;
  server: LocalServer;
  struct: DStruct;
}

/** Decides where an incoming call runs (threads.ts routes Context calls to lanes); `run` executes the method. */
export type CallRunner = (call: IncomingCall, run: () => Promise<Plain>) => Promise<Plain>;

/** Fills in params of an outgoing call (threads.ts adds the Context). */
export type OutgoingHook = (conn: Connection, req: CallRequest) => Plain;

export interface ConnectionOptions {
  schemas: SchemaSet;
  /** The capability the peer gets from Bootstrap. */
  bootstrap?: Cap | null;
  /** For messages and errors. */
  name?: string;
  /** Sees every framed message written ('out') or read ('in'). */
  onFrame?: (dir: 'in' | 'out', bytes: Uint8Array) => void;
}

function failedCall(e: Error): CallResult {
  return new BrokenHook(e).call();
}

function interfaceOf(schemas: SchemaSet, t: TypeRef): InterfaceInfo | null {
  return t.kind === 'interface' ? (schemas.interfaces.get(t.id) ?? null) : null;
}

export class Connection {
  readonly schemas: SchemaSet;
  readonly name: string;
  /** Set by threads.ts: where incoming calls run. */
  runner: CallRunner | null = null;
  /** Set by threads.ts: fills the Context of outgoing calls. */
  outgoing: OutgoingHook | null = null;

  private bootstrapCap: Cap | null;
  private readonly onFrame: ConnectionOptions['onFrame'];
  private readonly rpcSchemas = rpcSchemaSet();
  private readonly framer = new Framer();
  private readonly questions = new Map<number, Question>();
  private readonly answers = new Map<number, Answer>();
  private readonly caps: CapTable;
  private pending: Uint8Array[] = [];
  private flushScheduled = false;
  private closedError: RpcError | null = null;
  private readonly disconnectListeners: ((e: RpcError) => void)[] = [];
  /** Resolves with the reason once the connection is gone. */
  readonly disconnected: Promise<RpcError>;
  private resolveDisconnected!: (e: RpcError) => void;

  constructor(
    private readonly stream: Duplex,
    options: ConnectionOptions,
  ) {
    this.schemas = options.schemas;
    this.name = options.name ?? 'connection';
    this.bootstrapCap = options.bootstrap ? options.bootstrap.dup() : null;
    this.onFrame = options.onFrame;
    this.disconnected = new Promise((r) => (this.resolveDisconnected = r));
    this.caps = new CapTable({
      schemas: this.schemas,
      write: (b) => this.write(b),
      isOpen: () => this.closedError === null,
      sendCall: (t, req) => this.sendCall(t, req),
      answerCap: (id, ops) => this.answerCap(id, ops),
    });
    stream.on('data', (chunk: Buffer) => outsideLanes(() => this.onData(chunk)));
    stream.on('end', () => outsideLanes(() => this.onEnd()));
    stream.on('error', (e: Error) => outsideLanes(() => this.shutdown(disconnected(`connection error: ${e.message}`))));
    stream.on('close', () => outsideLanes(() => this.shutdown(disconnected('Peer disconnected.'))));
  }

  get closed(): boolean {
    return this.closedError !== null;
  }

  /** Sets (or replaces) the capability served to the peer's Bootstrap. */
  setBootstrap(cap: Cap | null): void {
    this.bootstrapCap?.release();
    this.bootstrapCap = cap ? cap.dup() : null;
  }

  /** The peer's bootstrap capability (pipelined: usable at once). */
  bootstrap(iface?: string): Cap {
    const info = iface ? findInterface(this.schemas, iface) : null;
    if (this.closedError) return brokenCap(this.closedError).type(info, this.schemas);
    const q = this.newQuestion(true, null);
    this.write(env.bootstrapMessage(q.id));
    return Cap.fromHook(this.questionPipeline(q, []), info, this.schemas);
  }

  /** Calls `fn` once the connection is gone. */
  onDisconnect(fn: (e: RpcError) => void): void {
    if (this.closedError) fn(this.closedError);
    else this.disconnectListeners.push(fn);
  }

  /** Closes the connection: outstanding calls fail with DISCONNECTED, the stream is ended. */
  close(): void {
    if (this.closedError) return;
    this.flush();
    this.shutdown(disconnected('Connection closed.'));
    this.stream.end();
  }

  /** Table sizes and reference counts (for tests and tracing). */
  stats(): {
    questions: number[];
    answers: number[];
    exports: { id: number; refcount: number }[];
    imports: { id: number; remoteRefcount: number; localRefs: number }[];
  } {
    return {
      questions: [...this.questions.keys()].sort((a, b) => a - b),
      answers: [...this.answers.keys()].sort((a, b) => a - b),
      ...this.caps.stats(),
    };
  }

  // ---- outgoing ----------------------------------------------------------

  /** Sends a Call (used by import and promise hooks). */
  sendCall(target: env.Target, req: CallRequest): CallResult {
    if (this.closedError) return failedCall(disconnected('Connection is closed.'));
    let params = req.params;
    if (req.method.hasContext && this.outgoing) {
      try {
        params = this.outgoing(this, req);
      } catch (e) {
        return failedCall(e instanceof Error ? e : new Error(String(e)));
      }
    }
    const info = this.schemas.structs.get(req.method.paramId);
    if (!info) return failedCall(new Error(`schema has no params struct for ${req.iface.name}.${req.method.name}`));
    const q = this.newQuestion(false, req.method);
    let built: { bytes: Uint8Array; descriptors: env.Descriptor[] };
    try {
      built = env.callMessage(q.id, req.iface.id, req.method.ordinal, target, (c) =>
        this.caps.encodeContent(c, info, req.method.paramBrand, params),
      );
    } catch (e) {
      this.questions.delete(q.id);
      return failedCall(e instanceof Error ? e : new Error(String(e)));
    }
    q.paramExports = exportedIds(built.descriptors);
    this.write(built.bytes);
    return { raw: q.raw, pipeline: (path) => this.questionPipeline(q, path), remote: true };
  }

  private newQuestion(bootstrap: boolean, method: MethodInfo | null): Question {
    const id = lowestFree(this.questions);
    let resolve!: (r: RawResults) => void;
    let reject!: (e: Error) => void;
    const raw = new Promise<RawResults>((a, b) => {
      resolve = a;
      reject = b;
    });
    raw.catch(() => undefined);
    const q: Question = {
      id,
      bootstrap,
      method,
      resultInfo: method ? (this.schemas.structs.get(method.resultId) ?? null) : null,
      paramExports: [],
      raw,
      resolve,
      reject,
      pipelines: [],
      outcome: null,
      redirect: null,
    };
    this.questions.set(id, q);
    return q;
  }

  private questionPipeline(q: Question, path: string[]): Hook {
    if (q.redirect) return pipelineFrom(q.redirect, path);
    if (q.outcome) {
      const h = new PromiseHook();
      h.resolve(q.outcome instanceof Error ? q.outcome : q.outcome.capAt(path));
      return h;
    }
    const ops = q.bootstrap || !q.resultInfo ? [] : pathToOps(this.schemas, q.resultInfo, path);
    const hook = new PromiseHook(this.caps.questionTarget(q.id, ops));
    q.pipelines.push({ path, hook });
    return hook;
  }

  private write(bytes: Uint8Array): void {
    if (this.closedError) return;
    this.onFrame?.('out', bytes);
    this.pending.push(bytes);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Writes everything queued in one chunk (several messages per write, as writev in C++). */
  private flush(): void {
    this.flushScheduled = false;
    if (this.pending.length === 0) return;
    const buf = Buffer.concat(this.pending);
    this.pending = [];
    if (this.stream.writable && !this.stream.writableEnded) this.stream.write(buf);
  }

  // ---- incoming ----------------------------------------------------------

  private onData(chunk: Buffer): void {
    if (this.closedError) return;
    for (const ev of this.framer.push(chunk)) {
      if (this.closedError) return;
      if (ev.kind === 'error') {
        this.abort(`invalid message framing: ${ev.reason}`);
        return;
      }
      try {
        this.onFrame?.('in', ev.frame.bytes);
        this.handle(ev.frame);
      } catch (e) {
        this.abort(e instanceof Error ? e.message : String(e));
        return;
      }
    }
  }

  private handle(frame: Frame): void {
    const wire = new WireMessage(frame.segments);
    const r: RpcMessage = readRpc(this.rpcSchemas, wire);
    switch (r.type) {
      case 'bootstrap':
        return this.onBootstrap(r.questionId);
      case 'call':
        return this.onCall(r, wire);
      case 'return':
        return this.onReturn(r, wire);
      case 'finish':
        return this.onFinish(r.questionId, r.releaseResultCaps);
      case 'release':
        return this.caps.releaseExport(r.id, r.referenceCount);
      case 'resolve':
        return this.onResolve(r);
      case 'disembargo':
        return this.onDisembargo(r);
      case 'abort':
        this.shutdown(fromException(r.exception.reason, r.exception.type));
        this.stream.end();
        return;
      case 'unimplemented':
        return this.onUnimplemented(r.inner);
      default:
        this.write(env.unimplementedMessage(frame.bytes));
    }
  }

  private newAnswer(id: number): Answer {
    if (this.answers.has(id)) throw new ProtocolError('questionId is already in use');
    const a: Answer = {
      id,
      state: 'running',
      finishReceived: false,
      result: null,
      resultExports: [],
      owned: [],
      waiting: [],
      redirect: null,
      returnSent: false,
    };
    this.answers.set(id, a);
    return a;
  }

  private onBootstrap(id: number): void {
    const a = this.newAnswer(id);
    if (!this.bootstrapCap) {
      const e = new RpcError('failed', 'This vat does not expose any public/bootstrap interfaces.');
      a.state = 'returned';
      a.result = { kind: 'error', error: e };
      this.write(env.returnExceptionMessage(id, e.message, e.type));
      return;
    }
    const cap = this.bootstrapCap;
    const built = env.returnResultsMessage(
      id,
      (content) => {
        const d = this.caps.descriptorFor(cap);
        if (!d) return [];
        env.writeCapPointer(content, 0);
        return [d];
      },
      { releaseParamCaps: true, noFinishNeededIfNoCaps: false },
    );
    a.state = 'returned';
    a.result = { kind: 'cap', cap };
    a.resultExports = exportedIds(built.descriptors);
    this.write(built.bytes);
  }

  /** A capability for a (possibly still running) answer's result at `ops`. */
  private answerCap(id: number, ops: number[]): Cap {
    const a = this.answers.get(id);
    if (!a) return brokenCap(new RpcError('failed', 'Pipeline call on a request that returned no capabilities or was already closed.'));
    if (a.state === 'returned') return capFromAnswer(this.schemas, a, ops);
    const hook = new PromiseHook();
    a.waiting.push({ hook, ops });
    return Cap.fromHook(hook, null, this.schemas);
  }

  private target(t: MessageTarget): Cap {
    if (t.kind === 'importedCap') {
      const c = this.caps.exported(t.id);
      if (!c) throw new ProtocolError('Message target is not a current export ID.');
      return c;
    }
    return this.answerCap(t.questionId, t.transform);
  }

  private onCall(r: Extract<RpcMessage, { type: 'call' }>, wire: WireMessage): void {
    const a = this.newAnswer(r.questionId);
    const target = this.target(r.target);
    const caps = r.params.capTable.map((d) => this.caps.receiveCap(d));
    let redirected: { resolve: (r: RawResults) => void; reject: (e: Error) => void } | null = null;
    if (r.sendResultsTo === 'yourself') {
      const results = new Promise<RawResults>((resolve, reject) => (redirected = { resolve, reject }));
      results.catch(() => undefined);
      a.redirect = { results, taken: false };
    }
    const done = (async (): Promise<{ value: Plain; info: StructInfo; brand: Brand | null }> => {
      if (r.sendResultsTo === 'thirdParty') throw new RpcError('unimplemented', 'three-party handoff is not supported');
      const m = this.schemas.method(r.interfaceId, r.methodId);
      if (!m) throw new RpcError('unimplemented', `Method not implemented: interface ${r.interfaceId} method ${r.methodId}`);
      const pinfo = this.schemas.struct(m.method.paramId);
      const rinfo = this.schemas.struct(m.method.resultId);
      const struct = decodeStructAt(
        { schemas: this.schemas, msg: wire, capCount: caps.length },
        r.params.content?.loc ?? null,
        r.params.content?.nest ?? 1,
        pinfo,
        m.method.paramBrand,
      );
      const params = structToPlain(struct, this.schemas, (i, t) => caps[i]?.type(interfaceOf(this.schemas, t), this.schemas) ?? null);
      const value = await this.deliver(target, { iface: m.iface, method: m.method, params, conn: this, struct }, a);
      return { value, info: rinfo, brand: m.method.resultBrand };
    })();
    done.then(
      (res) => {
        if (!redirected) return this.sendReturn(a, res.value, res.info, res.brand);
        // A tail call: keep the results (our own references) for the question that takes them.
        const owned: Cap[] = [];
        const value = mapCaps(res.value, isCap, (c) => {
          const cap = c as Cap;
          if (cap.isReleased) return cap;
          const d = cap.dup();
          owned.push(d);
          return d;
        });
        this.finishAnswer(a, { kind: 'struct', info: res.info, value: res.value });
        (redirected as { resolve: (r: RawResults) => void }).resolve(new RawResults(value, owned));
        this.redirectDone(a);
      },
      (e: unknown) => {
        if (!redirected) return this.sendError(a, e);
        const x = toException(e);
        const err = new RpcError(x.type, x.reason);
        this.finishAnswer(a, { kind: 'error', error: err });
        (redirected as { reject: (e: Error) => void }).reject(err);
        this.redirectDone(a);
      },
    )
      .catch((e: unknown) => this.abort(`internal error answering a call: ${e instanceof Error ? e.message : String(e)}`))
      .finally(() => {
        target.release();
        for (const c of caps) c?.release();
      });
  }

  /** Runs a call on its target: a local server (through the runner), or forwarded to where the cap lives. */
  private async deliver(target: Cap, d: Delivery & { struct: DStruct }, a: Answer): Promise<Plain> {
    const hook = await target.hook.whenResolved();
    if (hook instanceof LocalServer) {
      const run = () => hook.dispatch(d);
      return this.runner ? this.runner({ ...d, conn: this, server: hook }, run) : run();
    }
    const raw = await hook.call({ iface: d.iface, method: d.method, params: d.params }).raw;
    const value = raw.take() as Plain;
    a.owned.push(...capsIn(value));
    return value;
  }

  /** The method is done: pipelined calls on the answer can go ahead (even if the caller canceled). */
  private finishAnswer(a: Answer, result: AnswerResult): void {
    a.state = 'returned';
    if (result.kind === 'struct') {
      // The answer keeps its own references: the method's results may be borrowed (e.g. its params' caps).
      const value = mapCaps(result.value, isCap, (c) => {
        const cap = c as Cap;
        if (cap.isReleased) return cap;
        const d = cap.dup();
        a.owned.push(d);
        return d;
      }) as Plain;
      a.result = { ...result, value };
    } else {
      a.result = result;
    }
    this.resolveWaiting(a);
  }

  private sendReturn(a: Answer, value: Plain, info: StructInfo, brand: Brand | null): void {
    if (this.closedError) return;
    if (a.finishReceived) {
      // Finish came first: like C++, the results are not sent ('canceled'), but pipelines on them still resolve.
      this.finishAnswer(a, { kind: 'struct', info, value });
      return this.sendCanceled(a);
    }
    let built: ReturnType<typeof env.returnResultsMessage>;
    try {
      built = env.returnResultsMessage(a.id, (c) => this.caps.encodeContent(c, info, brand, value), {
        releaseParamCaps: false,
        noFinishNeededIfNoCaps: true,
      });
    } catch (e) {
      return this.sendError(a, e);
    }
    a.resultExports = exportedIds(built.descriptors);
    a.returnSent = true;
    this.finishAnswer(a, { kind: 'struct', info, value });
    if (built.noFinishNeeded) this.dropAnswer(a);
    this.write(built.bytes);
  }

  private sendError(a: Answer, err: unknown): void {
    if (this.closedError) return;
    const x = toException(err);
    this.finishAnswer(a, { kind: 'error', error: new RpcError(x.type, x.reason) });
    if (a.finishReceived) return this.sendCanceled(a);
    a.returnSent = true;
    this.write(env.returnExceptionMessage(a.id, x.reason, x.type));
  }

  /** A tail call finished; if the peer already sent Finish, the answer goes now. */
  private redirectDone(a: Answer): void {
    if (!a.finishReceived || this.closedError) return;
    if (a.returnSent) this.dropAnswer(a);
    else this.sendCanceled(a);
  }

  /** Finish came before the method completed: C++ answers `canceled` once it is done. */
  private sendCanceled(a: Answer): void {
    a.returnSent = true;
    this.dropAnswer(a);
    this.write(env.returnCanceledMessage(a.id));
  }

  private resolveWaiting(a: Answer): void {
    const w = a.waiting;
    a.waiting = [];
    for (const { hook, ops } of w) {
      const c = capFromAnswer(this.schemas, a, ops);
      hook.resolve(c.hook instanceof BrokenHook ? c.hook.error : c);
    }
  }

  private dropAnswer(a: Answer): void {
    if (this.answers.get(a.id) === a) this.answers.delete(a.id);
    for (const c of a.owned) c.release();
    a.owned = [];
    const r = a.redirect;
    if (r && !r.taken) r.results.then((raw) => raw.releaseUntaken(), () => undefined);
  }

  private onFinish(id: number, releaseResultCaps: boolean): void {
    const a = this.answers.get(id);
    if (!a) return; // e.g. after noFinishNeeded, from a peer that does not know the hint
    if (a.state === 'running') {
      a.finishReceived = true; // a cancellation request; the call runs to completion
      return;
    }
    if (releaseResultCaps) for (const x of a.resultExports) this.caps.releaseExport(x, 1);
    this.dropAnswer(a);
  }

  private onReturn(r: Extract<RpcMessage, { type: 'return' }>, wire: WireMessage): void {
    const q = this.questions.get(r.answerId);
    if (!q) throw new ProtocolError('Invalid question ID in Return message.');
    this.questions.delete(q.id);
    if (r.releaseParamCaps) for (const id of q.paramExports) this.caps.releaseExport(id, 1);
    let outcome: RawResults | Error;
    if (r.which === 'results' && r.results) {
      try {
        outcome = this.receiveResults(q, r.results, wire);
      } catch (e) {
        outcome = new RpcError('failed', `could not decode results: ${e instanceof Error ? e.message : String(e)}`);
      }
    } else if (r.which === 'exception' && r.exception) {
      outcome = fromException(r.exception.reason, r.exception.type);
    } else if (r.which === 'canceled') {
      outcome = new RpcError('failed', 'Call was canceled.');
    } else if (r.which === 'takeFromOtherQuestion' && r.takeFromOtherQuestion !== null) {
      this.takeFromAnswer(q, r.takeFromOtherQuestion);
      if (!r.noFinishNeeded) this.write(env.finishMessage(q.id));
      return;
    } else {
      outcome = new RpcError('unimplemented', `Return.${r.which} is not supported`);
    }
    this.settle(q, outcome);
    if (!r.noFinishNeeded) this.write(env.finishMessage(q.id));
  }

  /**
   * The callee made our call a tail call back to us: the results are those
   * of our answer `id` (a call with sendResultsTo.yourself). Like C++, tell
   * the peer with Return.resultsSentElsewhere that it can drop that call.
   */
  private takeFromAnswer(q: Question, id: number): void {
    const a = this.answers.get(id);
    if (!a || !a.redirect) throw new ProtocolError('`Return.takeFromOtherQuestion` had invalid answer ID.');
    const redirect = a.redirect;
    redirect.taken = true;
    q.redirect = redirect.results;
    for (const p of q.pipelines) p.hook.resolve(Cap.fromHook(pipelineFrom(redirect.results, p.path)));
    q.pipelines = [];
    redirect.results.then(
      (raw) => {
        q.outcome = raw;
        q.resolve(raw);
      },
      (e: Error) => {
        q.outcome = e;
        q.reject(e);
      },
    );
    if (!a.returnSent) {
      a.returnSent = true;
      this.write(env.returnResultsSentElsewhereMessage(a.id));
    }
  }

  private settle(q: Question, outcome: RawResults | Error): void {
    q.outcome = outcome;
    for (const p of q.pipelines) p.hook.resolve(outcome instanceof Error ? outcome : outcome.capAt(p.path));
    q.pipelines = [];
    if (outcome instanceof Error) {
      q.reject(outcome);
    } else {
      q.resolve(outcome);
      // Nobody takes a bootstrap's results: its pipeline holds the capability.
      if (q.bootstrap) setImmediate(() => outcome.releaseUntaken());
    }
  }

  private receiveResults(q: Question, p: Payload, wire: WireMessage): RawResults {
    const caps = p.capTable.map((d) => this.caps.receiveCap(d));
    const owned = (used: Set<number>): Cap[] => {
      const out: Cap[] = [];
      caps.forEach((c, i) => {
        if (!c) return;
        if (used.has(i)) out.push(c);
        else c.release();
      });
      return out;
    };
    if (q.bootstrap) {
      const idx = p.content?.loc ? readCapIndex(wire, p.content.loc) : null;
      const cap = idx !== null ? (caps[idx] ?? null) : null;
      return new RawResults(cap, owned(new Set(idx !== null ? [idx] : [])));
    }
    const info = q.resultInfo;
    if (!info || !q.method) throw new Error('no results struct for this question');
    const struct = decodeStructAt(
      { schemas: this.schemas, msg: wire, capCount: caps.length },
      p.content?.loc ?? null,
      p.content?.nest ?? 1,
      info,
      q.method.resultBrand,
    );
    const used = new Set<number>();
    const value = structToPlain(struct, this.schemas, (i, t) => {
      const c = caps[i];
      if (!c) return null;
      used.add(i);
      return c.type(interfaceOf(this.schemas, t), this.schemas);
    });
    return new RawResults(value, owned(used));
  }

  private onResolve(r: Extract<RpcMessage, { type: 'resolve' }>): void {
    const to: Cap | Error = r.cap
      ? (this.caps.receiveCap(r.cap) ?? new RpcError('failed', "'Resolve' contained 'CapDescriptor.none'."))
      : fromException(r.exception?.reason ?? '', r.exception?.type ?? 'failed');
    const h = this.caps.imported(r.promiseId);
    if (h && h.isPromise) h.resolveTo(to);
    else if (to instanceof Cap) to.release();
  }

  private onDisembargo(r: Extract<RpcMessage, { type: 'disembargo' }>): void {
    if (r.context !== 'senderLoopback' || r.embargoId === null) {
      throw new ProtocolError(`Unimplemented Disembargo type: ${r.context}`);
    }
    const embargoId = r.embargoId;
    const target = this.target(r.target);
    void target.hook.whenResolved().then(async (h) => {
      // Like C++'s evalLast: let calls already on their way to this target go first.
      await new Promise((r) => setImmediate(r));
      target.release();
      if (this.closedError) return;
      if (!this.caps.isOurImport(h)) {
        this.abort("'Disembargo' of type 'senderLoopback' sent to an object that does not point back to the sender.");
        return;
      }
      this.write(env.disembargoReceiverLoopback({ kind: 'importedCap', id: h.id }, embargoId));
    });
  }

  private onUnimplemented(inner: RpcMessage | null): void {
    if (!inner) return;
    if (inner.type === 'call' || inner.type === 'bootstrap') {
      const q = this.questions.get(inner.questionId);
      if (!q) return;
      this.questions.delete(q.id);
      this.settle(q, new RpcError('unimplemented', `peer does not implement ${inner.type}`));
    } else if (inner.type === 'resolve' && inner.cap && (inner.cap.kind === 'senderHosted' || inner.cap.kind === 'senderPromise')) {
      this.caps.releaseExport(inner.cap.id, 1);
    }
  }

  // ---- teardown ----------------------------------------------------------

  /** Peer closed its side: like C++, tell it (best effort) and shut down. */
  private onEnd(): void {
    if (this.closedError) return;
    this.write(env.abortMessage('Peer disconnected.', 'disconnected'));
    this.flush();
    this.shutdown(disconnected('Peer disconnected.'));
    if (!this.stream.writableEnded) this.stream.end();
  }

  /** A protocol error: send Abort and drop the connection. */
  private abort(reason: string): void {
    if (this.closedError) return;
    this.write(env.abortMessage(reason, 'failed'));
    this.flush();
    this.shutdown(new RpcError('failed', reason));
    this.stream.end();
  }

  private shutdown(err: RpcError): void {
    if (this.closedError) return;
    this.pending = [];
    this.closedError = err;
    const qs = [...this.questions.values()];
    this.questions.clear();
    for (const q of qs) this.settle(q, err);
    for (const a of [...this.answers.values()]) this.dropAnswer(a);
    this.answers.clear();
    this.caps.clear();
    this.bootstrapCap?.release();
    this.bootstrapCap = null;
    this.resolveDisconnected(err);
    for (const f of this.disconnectListeners.splice(0)) f(err);
  }
}
