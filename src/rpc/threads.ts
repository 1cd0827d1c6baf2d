// libmultiprocess's threading model (mp/proxy.capnp ThreadMap/Thread/Context)
// on top of lanes:
//
// - Each connection gets a ThreadMap server. `makeThread(name)` creates a
//   worker lane named `<exe>-<pid>/<loop thread>-<tid> (from <name>)` and
//   returns a Thread capability for it; `makePool(count)` creates pool lanes
//   for calls whose Context.thread is null.
// - An incoming call whose params have a `context :Proxy.Context` runs on the
//   lane of `context.thread` (queued behind that lane's work, or on top of a
//   task blocked in IPC); calls without Context run directly ("on the event
//   loop"). While it runs, `context.callbackThread` is the lane's request
//   thread for that connection unless the lane already has one (a nested
//   call), so calls it makes back go to the waiting caller's lane.
// - An outgoing call with a Context from lane L fills `thread` with L's
//   request thread for the connection (the first call pipelines
//   `ThreadMap.makeThread(L.name)` in the same write and uses its pipelined
//   result) and `callbackThread` with a Thread server for L (exported).
// - `Init.construct(threadMap)` swaps ThreadMaps at connection start.
//
// Code outside any lane counts as the process's main thread.

import { SchemaSet, MethodInfo } from '../decoder/schema.js';
import { THREADMAP_ID as THREAD_MAP_ID, THREAD_ID, contextField, formatThreadName, workerThreadName } from '../mp/concepts.js';
import { Cap, CallRequest, Hook } from './cap.js';
import { Connection, IncomingCall } from './connection.js';
import { RpcError } from './errors.js';
import { Lane } from './lane.js';
import { ServerImpl, serve } from './server.js';
import { Plain } from './values.js';

export { THREADMAP_ID as THREAD_MAP_ID, THREAD_ID } from '../mp/concepts.js';

export interface ThreadsOptions {
  schemas: SchemaSet;
  /** Executable name, e.g. `bitcoin-wallet`. */
  exe: string;
  /** Process id in thread names (default: this process's). */
  pid?: number;
  /**
   * pthread name of the thread running the event loop; worker threads
   * inherit it (`b-capnp-loop` in bitcoin-node). Default: the exe name, as
   * in bitcoin-wallet, whose loop runs on the main thread.
   */
  loopThreadName?: string;
}

interface ConnThreads {
  /** Our ThreadMap server for this connection. */
  threadMap: Cap;
  /** The peer's ThreadMap, from Init.construct. */
  peerThreadMap: Cap | null;
  pool: Lane[];
  poolNext: number;
}

interface LaneConns {
  /** The peer's Thread to run this lane's calls on, per connection. */
  request: Map<Connection, Cap>;
  /** The Thread server handed out as this lane's callbackThread, per connection. */
  callback: Map<Connection, Cap>;
}

type ContextValue = { thread?: Cap | null; callbackThread?: Cap | null } | undefined;

export class Threads {
  readonly schemas: SchemaSet;
  readonly exe: string;
  readonly pid: number;
  readonly main: Lane;
  private readonly loopThreadName: string;
  private lastTid: number;
  private readonly conns = new Map<Connection, ConnThreads>();
  private readonly laneConns = new Map<Lane, LaneConns>();
  private readonly serverLanes = new WeakMap<Hook, Lane>();
  private readonly contextFields = new Map<string, string | null>();
  private readonly allLanes: Lane[] = [];

  constructor(options: ThreadsOptions) {
    this.schemas = options.schemas;
    this.exe = options.exe;
    this.pid = options.pid ?? process.pid;
    this.loopThreadName = options.loopThreadName ?? options.exe;
    this.lastTid = this.pid;
    this.main = this.addLane(this.threadName(this.exe, this.pid), this.pid);
  }

  /** Every lane created so far (main first). */
  get lanes(): readonly Lane[] {
    return this.allLanes;
  }

  /** A new client-side thread, named `<exe>-<pid>/<name>-<tid>`. */
  lane(name: string): Lane {
    const tid = ++this.lastTid;
    return this.addLane(this.threadName(name, tid), tid);
  }

  /** Installs the thread handling on a connection (idempotent). */
  attach(conn: Connection): void {
    if (this.conns.has(conn)) return;
    const st: ConnThreads = { threadMap: this.threadMapServer(conn), peerThreadMap: null, pool: [], poolNext: 0 };
    this.conns.set(conn, st);
    conn.runner = (call, run) => this.runCall(call, run);
    conn.outgoing = (c, req) => this.fillContext(c, req);
    conn.onDisconnect(() => this.detach(conn));
  }

  /** Client side of the handshake: bootstrap the peer's Init and call `construct` with our ThreadMap. */
  async connect(conn: Connection, iface = 'Init'): Promise<Cap> {
    const init = conn.bootstrap(iface);
    await this.construct(conn, init);
    return init;
  }

  /** Calls `Init.construct(threadMap)` on `init` and keeps the peer's ThreadMap. */
  async construct(conn: Connection, init: Cap): Promise<void> {
    this.attach(conn);
    const st = this.conns.get(conn)!;
    const r = await init.call('construct', { threadMap: st.threadMap });
    st.peerThreadMap?.release();
    st.peerThreadMap = r.threadMap instanceof Cap ? r.threadMap : null;
  }

  /** Server side: `impl` plus an Init.construct that swaps ThreadMaps. */
  initImpl(impl: ServerImpl): ServerImpl {
    const out = Object.create(impl) as ServerImpl;
    out.construct = (params: { threadMap?: Cap | null }, ctx) => {
      const conn = ctx.conn as Connection;
      this.attach(conn);
      const st = this.conns.get(conn)!;
      st.peerThreadMap?.release();
      st.peerThreadMap = params.threadMap ? params.threadMap.dup() : null;
      return { threadMap: st.threadMap };
    };
    return out;
  }

  /** Our ThreadMap for `conn` (after attach). */
  threadMap(conn: Connection): Cap | null {
    return this.conns.get(conn)?.threadMap ?? null;
  }

  /** The peer's ThreadMap on `conn` (after Init.construct). */
  peerThreadMap(conn: Connection): Cap | null {
    return this.conns.get(conn)?.peerThreadMap ?? null;
  }

  /** The lane a Thread capability stands for, if it is one of ours. */
  async laneOf(thread: Cap): Promise<Lane | null> {
    const h = await thread.localServer();
    return h ? (this.serverLanes.get(h) ?? null) : null;
  }

  // ---- internals ---------------------------------------------------------

  private threadName(pthread: string, tid: number): string {
    return formatThreadName(this.exe, this.pid, pthread, tid);
  }

  private addLane(name: string, tid: number): Lane {
    const l = new Lane(name, tid);
    this.allLanes.push(l);
    return l;
  }

  private laneState(lane: Lane): LaneConns {
    let s = this.laneConns.get(lane);
    if (!s) {
      s = { request: new Map(), callback: new Map() };
      this.laneConns.set(lane, s);
    }
    return s;
  }

  /** A Thread server standing for `lane`. */
  private threadServer(lane: Lane): Cap {
    const cap = serve(this.schemas, THREAD_ID, { getName: () => ({ result: lane.name }) });
    this.serverLanes.set(cap.hook, lane);
    return cap;
  }

  private threadMapServer(conn: Connection): Cap {
    return serve(this.schemas, THREAD_MAP_ID, {
      makeThread: ({ name }: { name?: string }) => {
        const tid = ++this.lastTid;
        const lane = this.addLane(workerThreadName(this.threadName(this.loopThreadName, tid), name ?? ''), tid);
        return { result: this.threadServer(lane) };
      },
      makePool: ({ count }: { count?: number }) => {
        const st = this.conns.get(conn);
        if (!st) return {};
        for (let i = 0; i < (count ?? 0); i++) {
          const tid = ++this.lastTid;
          st.pool.push(this.addLane(`${this.threadName(this.loopThreadName, tid)} (pool/${st.pool.length})`, tid));
        }
        return {};
      },
    });
  }

  private contextField(method: MethodInfo): string | null {
    let f = this.contextFields.get(method.paramId);
    if (f === undefined) {
      const s = this.schemas.structs.get(method.paramId);
      f = contextField(s)?.name ?? null;
      this.contextFields.set(method.paramId, f);
    }
    return f;
  }

  /** Outgoing call: fill in Context.thread / callbackThread for the calling lane. */
  private fillContext(conn: Connection, req: CallRequest): Plain {
    const field = this.contextField(req.method);
    if (!field || req.params[field] !== undefined) return req.params;
    const lane = req.frame?.lane ?? this.main;
    return { ...req.params, [field]: { thread: this.requestThread(lane, conn), callbackThread: this.callbackThread(lane, conn) } };
  }

  private requestThread(lane: Lane, conn: Connection): Cap {
    const s = this.laneState(lane);
    let c = s.request.get(conn);
    if (c) return c;
    const tm = this.conns.get(conn)?.peerThreadMap;
    if (!tm) throw new RpcError('failed', 'no ThreadMap from the peer on this connection (Init.construct must come first)');
    // Nonblocking thanks to pipelining: the Call below uses the answer of this one.
    c = tm.call('makeThread', { name: lane.name }).pipeline('result');
    s.request.set(conn, c);
    return c;
  }

  private callbackThread(lane: Lane, conn: Connection): Cap {
    const s = this.laneState(lane);
    let c = s.callback.get(conn);
    if (!c) {
      c = this.threadServer(lane);
      s.callback.set(conn, c);
    }
    return c;
  }

  /** Incoming call: on the lane of Context.thread, or directly when the method has no Context. */
  private async runCall(call: IncomingCall, run: () => Promise<Plain>): Promise<Plain> {
    const field = this.contextField(call.method);
    if (!field) return run();
    const ctx = call.params[field] as ContextValue;
    let lane: Lane | null = null;
    if (ctx?.thread) {
      lane = await this.laneOf(ctx.thread);
      if (!lane) throw new RpcError('failed', 'Context.thread is not a Thread of this process (missing thread to execute request)');
    } else {
      const st = this.conns.get(call.conn);
      if (!st || st.pool.length === 0) throw new RpcError('failed', 'no thread specified and no pool configured');
      lane = st.pool[st.poolNext++ % st.pool.length]!;
    }
    const conn = call.conn;
    const target = lane;
    return target.post(async () => {
      const s = this.laneState(target);
      let inserted = false;
      if (!s.request.has(conn) && ctx?.callbackThread) {
        s.request.set(conn, ctx.callbackThread.dup());
        inserted = true;
      }
      try {
        return await run();
      } finally {
        if (inserted) {
          s.request.get(conn)?.release();
          s.request.delete(conn);
        }
      }
    }, `${call.iface.name}.${call.method.name}`);
  }

  private detach(conn: Connection): void {
    const st = this.conns.get(conn);
    if (!st) return;
    this.conns.delete(conn);
    st.peerThreadMap?.release();
    for (const s of this.laneConns.values()) {
      s.request.get(conn)?.release();
      s.request.delete(conn);
      s.callback.get(conn)?.release();
      s.callback.delete(conn);
    }
  }
}
