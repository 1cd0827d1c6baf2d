// Capabilities as the application sees them. A Cap is one reference to a
// hook: a local server, an import from a connection, a promise (the pipelined
// result of a call not yet returned), or a broken capability. Caps are
// reference counted explicitly: release() drops this reference; when the last
// reference to an import goes, the connection sends Release.
//
// Ownership rules:
// - caps in the params a server method receives are borrowed for the call
//   (dup() one to keep it);
// - caps in a call's results belong to the caller (release() them when done);
//   a call used only for pipelining, whose results nobody awaited by the time
//   they arrive, drops them (await the call before then to keep them);
// - caps passed in params or returned from a server method stay the caller's
//   (the runtime takes its own references where it needs them).

import { SchemaSet, StructInfo, InterfaceInfo, MethodInfo } from '../decoder/schema.js';
import { RpcError } from './errors.js';
import { Frame, currentFrame } from './lane.js';
import { Plain, followPath, mapCaps, pathInterface, pathToOps, walkCaps } from './values.js';

export interface CallRequest {
  /** The interface declaring the method (its id goes on the wire). */
  iface: InterfaceInfo;
  method: MethodInfo;
  params: Plain;
  /** The lane task that made the call, if any. */
  frame?: Frame;
}

export interface CallResult {
  raw: Promise<RawResults>;
  /** A promise capability for the cap at `path` in the results. */
  pipeline(path: string[]): Hook;
  /** True when the call went to another process (a lane waits for it as for IPC). */
  remote: boolean;
}

export type HookKind = 'local' | 'import' | 'promise' | 'broken';

export abstract class Hook {
  /** Live Cap references. */
  refs = 0;
  abstract readonly kind: HookKind;
  /** The interface, when the hook knows it (local servers). */
  get iface(): InterfaceInfo | null {
    return null;
  }
  abstract call(req: CallRequest): CallResult;
  /** The hook calls end up at, as far as known now. */
  innermost(): Hook {
    return this;
  }
  /** Resolves once the hook is no longer a pending promise. */
  whenResolved(): Promise<Hook> {
    return Promise.resolve(this.innermost());
  }
  addRef(): void {
    this.refs++;
  }
  release(): void {
    if (--this.refs === 0) this.dropped();
  }
  /** Called when the last reference goes. */
  protected dropped(): void {}
}

export function isCap(v: unknown): v is Cap {
  return v instanceof Cap;
}

/** Results of a call, holding one reference per capability until the caller takes them. */
export class RawResults {
  private taken = false;
  private released = false;

  constructor(
    /** The results struct as a plain object (for a bootstrap: the capability). */
    readonly value: unknown,
    /** The references this object owns. */
    private readonly caps: Cap[],
  ) {}

  /**
   * Hands the value to the caller (first time: with these references). After
   * releaseUntaken() ran, capabilities still alive are re-referenced and
   * released ones come back broken.
   */
  take(): unknown {
    if (!this.released) {
      this.taken = true;
      return this.value;
    }
    return mapCaps(this.value, isCap, (c) => {
      const cap = c as Cap;
      return cap.hook.refs > 0 ? Cap.fromHook(cap.hook, cap.iface) : brokenCap(new RpcError('failed', 'capability was released: the call was not awaited before its results arrived'));
    });
  }

  /** A new reference to the capability at `path`, or null. */
  capAt(path: string[]): Cap | null {
    const v = path.length === 0 ? this.value : followPath(this.value, path);
    if (!isCap(v) || v.hook.refs === 0) return null;
    return Cap.fromHook(v.hook, v.iface);
  }

  /** Drops the references unless the caller took them. */
  releaseUntaken(): void {
    if (this.taken || this.released) return;
    this.released = true;
    for (const c of this.caps) c.release();
  }
}

/** Finds a method by name in an interface or its superclasses. */
export function findMethod(schemas: SchemaSet, iface: InterfaceInfo, name: string): { iface: InterfaceInfo; method: MethodInfo } | null {
  const m = iface.methods.find((x) => x.name === name);
  if (m) return { iface, method: m };
  for (const s of iface.superclasses) {
    const sup = schemas.interfaces.get(s);
    const r = sup ? findMethod(schemas, sup, name) : null;
    if (r) return r;
  }
  return null;
}

/** Finds an interface by id (`0x…`), display name (`file.capnp:Name`) or short name. */
export function findInterface(schemas: SchemaSet, nameOrId: string): InterfaceInfo {
  const byId = schemas.interfaces.get(nameOrId);
  if (byId) return byId;
  const all = [...schemas.interfaces.values()];
  const exact = all.filter((i) => i.displayName === nameOrId);
  if (exact.length === 1) return exact[0]!;
  const short = all.filter((i) => i.name === nameOrId || i.displayName.endsWith(':' + nameOrId));
  if (short.length === 1) return short[0]!;
  if (short.length > 1) throw new Error(`interface name ${nameOrId} is ambiguous: ${short.map((i) => i.displayName).join(', ')}`);
  throw new Error(`no interface ${nameOrId} in the schemas`);
}

/** The promise of a call's results, with pipelining. Awaiting it gives the results as a plain object. */
export class CallPromise implements PromiseLike<Plain> {
  private user: Promise<Plain> | null = null;
  private pipelined = false;

  constructor(
    private readonly result: CallResult,
    private readonly frame: Frame | undefined,
    private readonly schemas: SchemaSet | null,
    private readonly resultInfo: StructInfo | null,
  ) {
    // A call used only for pipelining (not awaited by the time its results
    // arrive) drops the results' references, as C++ drops an unused response.
    result.raw.then(
      (r) =>
        setImmediate(() => {
          if (this.pipelined && !this.user) r.releaseUntaken();
        }),
      () => undefined,
    );
  }

  private promise(): Promise<Plain> {
    if (!this.user) {
      let p = this.result.raw.then((r) => r.take() as Plain);
      if (this.frame && this.result.remote) p = this.frame.lane.block(this.frame, p);
      this.user = p;
    }
    return this.user;
  }

  then<A = Plain, B = never>(onOk?: ((v: Plain) => A | PromiseLike<A>) | null, onErr?: ((e: unknown) => B | PromiseLike<B>) | null): Promise<A | B> {
    return this.promise().then(onOk, onErr);
  }

  catch<B = never>(onErr?: ((e: unknown) => B | PromiseLike<B>) | null): Promise<Plain | B> {
    return this.promise().catch(onErr);
  }

  finally(f?: (() => void) | null): Promise<Plain> {
    return this.promise().finally(f);
  }

  /** The capability at a field path of the results, usable before they arrive (promise pipelining). */
  pipeline(...path: string[]): Cap {
    this.pipelined = true;
    let iface: InterfaceInfo | null = null;
    if (this.schemas && this.resultInfo) {
      pathToOps(this.schemas, this.resultInfo, path); // validates the path
      const id = pathInterface(this.schemas, this.resultInfo, path);
      iface = id ? (this.schemas.interfaces.get(id) ?? null) : null;
    }
    return Cap.fromHook(this.result.pipeline(path), iface, this.schemas);
  }
}

export class Cap {
  private released = false;
  private typed: InterfaceInfo | null;

  private constructor(
    readonly hook: Hook,
    iface: InterfaceInfo | null,
    private schemas: SchemaSet | null,
  ) {
    this.typed = iface;
    hook.addRef();
  }

  /** A new reference to `hook`. */
  static fromHook(hook: Hook, iface: InterfaceInfo | null = null, schemas: SchemaSet | null = null): Cap {
    return new Cap(hook, iface, schemas);
  }

  /** The interface calls by name are looked up in. */
  get iface(): InterfaceInfo | null {
    return this.typed ?? this.hook.innermost().iface ?? this.hook.iface;
  }

  get isReleased(): boolean {
    return this.released;
  }

  /** Sets the interface (and schemas) if not known yet; used by the runtime when a cap is decoded from a typed field. */
  type(iface: InterfaceInfo | null, schemas: SchemaSet): this {
    if (iface && !this.typed) this.typed = iface;
    this.schemas ??= schemas;
    return this;
  }

  /** Calls a method by name. Params are a plain object; missing fields take their defaults. */
  call(method: string, params: Plain = {}): CallPromise {
    const iface = this.iface;
    const schemas = this.schemas ?? schemasOf(this.hook);
    if (!iface || !schemas) throw new Error(`cannot call '${method}': the capability's interface is not known (use cap.as(name))`);
    const m = findMethod(schemas, iface, method);
    if (!m) throw new Error(`${iface.name} has no method '${method}'`);
    return this.callMethod(m.iface, m.method, params, schemas);
  }

  /** Calls a method given its schema entries. */
  callMethod(iface: InterfaceInfo, method: MethodInfo, params: Plain, schemas: SchemaSet | null = this.schemas): CallPromise {
    if (this.released) throw new Error('call on a released capability');
    const frame = currentFrame();
    const result = this.hook.call({ iface, method, params, frame });
    const info = schemas ? (schemas.structs.get(method.resultId) ?? null) : null;
    return new CallPromise(result, frame, schemas, info);
  }

  /** Another reference to the same capability. */
  dup(): Cap {
    if (this.released) throw new Error('dup of a released capability');
    return new Cap(this.hook, this.typed, this.schemas);
  }

  /** Another reference, typed as `iface` (name or id). */
  as(iface: string, schemas: SchemaSet | null = this.schemas ?? schemasOf(this.hook)): Cap {
    if (!schemas) throw new Error('no schemas to look the interface up in');
    const c = this.dup();
    c.typed = findInterface(schemas, iface);
    c.schemas = schemas;
    return c;
  }

  /** Drops this reference (idempotent). */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.hook.release();
  }

  /** The local server behind this capability once it resolves, or null if it is remote or broken. */
  async localServer(): Promise<Hook | null> {
    const h = await this.hook.whenResolved();
    return h.kind === 'local' ? h : null;
  }
}

function schemasOf(h: Hook): SchemaSet | null {
  const x = h.innermost() as Hook & { schemas?: SchemaSet };
  const y = h as Hook & { schemas?: SchemaSet };
  return x.schemas ?? y.schemas ?? null;
}

/** A capability whose calls fail. */
export class BrokenHook extends Hook {
  readonly kind = 'broken';
  constructor(readonly error: Error) {
    super();
  }
  call(): CallResult {
    const raw = Promise.reject(this.error);
    raw.catch(() => undefined);
    return { raw, pipeline: () => this, remote: false };
  }
}

export function brokenCap(error: Error): Cap {
  return Cap.fromHook(new BrokenHook(error));
}

/** Where a promise hook sends calls before it resolves (a question on a connection). */
export interface PipelineTarget {
  call(req: CallRequest): CallResult;
}

interface Queued {
  req: CallRequest;
  resolve: (r: RawResults) => void;
  reject: (e: unknown) => void;
  held: Cap[];
}

/**
 * A capability not known yet: the result of a call, or an answer being
 * computed. Calls go to `target` while pending (promise pipelining over a
 * connection) or wait in order and are delivered once it resolves.
 */
export class PromiseHook extends Hook {
  readonly kind = 'promise';
  private resolvedCap: Cap | null = null;
  private error: Error | null = null;
  private queue: Queued[] = [];
  private waiters: (() => void)[] = [];

  constructor(readonly target: PipelineTarget | null = null) {
    super();
  }

  get settled(): boolean {
    return this.resolvedCap !== null || this.error !== null;
  }

  override innermost(): Hook {
    return this.resolvedCap ? this.resolvedCap.hook.innermost() : this.error ? new BrokenHook(this.error) : this;
  }

  override whenResolved(): Promise<Hook> {
    if (this.settled) return this.innermost().whenResolved();
    return new Promise<void>((r) => this.waiters.push(r)).then(() => this.innermost().whenResolved());
  }

  /** Settles the promise with a capability (taking over the reference) or an error; null means a null capability. */
  resolve(to: Cap | Error | null): void {
    if (this.settled) {
      if (to instanceof Cap) to.release();
      return;
    }
    if (to instanceof Cap) this.resolvedCap = to;
    else this.error = to ?? new RpcError('failed', 'Called null capability.');
    if (this.refs === 0 && this.resolvedCap) {
      this.resolvedCap.release();
    }
    const q = this.queue;
    this.queue = [];
    for (const x of q) {
      const r = this.call(x.req);
      r.raw.then(x.resolve, x.reject);
      for (const c of x.held) c.release();
    }
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  call(req: CallRequest): CallResult {
    if (this.resolvedCap) return this.resolvedCap.hook.call(req);
    if (this.error) return new BrokenHook(this.error).call();
    if (this.target) return this.target.call(req);
    const held: Cap[] = [];
    const params = mapCaps(req.params, isCap, (c) => {
      const d = (c as Cap).dup();
      held.push(d);
      return d;
    }) as Plain;
    const raw = new Promise<RawResults>((resolve, reject) => this.queue.push({ req: { ...req, params }, resolve, reject, held }));
    return { raw, pipeline: (path) => pipelineFrom(raw, path), remote: true };
  }

  protected override dropped(): void {
    this.resolvedCap?.release();
  }
}

/** A promise hook for the cap at `path` in results that are still coming. */
export function pipelineFrom(raw: Promise<RawResults>, path: string[]): Hook {
  const h = new PromiseHook();
  raw.then(
    (r) => h.resolve(r.capAt(path)),
    (e: unknown) => h.resolve(e instanceof Error ? e : new Error(String(e))),
  );
  return h;
}

/** Every capability in a plain value. */
export function capsIn(v: unknown): Cap[] {
  const out: Cap[] = [];
  walkCaps(v, isCap, (c) => out.push(c as Cap));
  return out;
}
