// The listening relay: accepts connections on one address (the proxy socket a
// Bitcoin Core client is pointed at) and, for each, opens its own connection to
// the upstream address (the real node.sock), relaying bytes unchanged both ways
// (see splice.ts for the relaying rules) and reporting them to a Tap.
//
// Connection lifecycle, per accepted connection (ids 1, 2, … per Relay):
//   tap.open          on accept (before the upstream connect completes)
//   tap.data / end    for every chunk relayed / every EOF ('>' client→upstream)
//   tap.close         once both sockets closed; reason null when both directions
//                     ended cleanly, else e.g. "upstream: connect ECONNREFUSED",
//                     "client: read ECONNRESET", "proxy stopped".
// The accepted socket is not read until the upstream connection is up
// (pauseOnConnect), so early client bytes wait in the kernel, not lost.
//
// Unix listening sockets: created with mode 0600 (the process umask is set to
// 0177 around the synchronous bind, and the mode is checked afterwards); an
// existing file at the path is only replaced when it is a stale socket (a
// connect to it is refused), never a regular file or a socket someone listens
// on. stop() stops accepting, closes open connections after flushing what was
// already read, and removes the socket file.

import net from 'node:net';
import { existsSync, lstatSync, statSync, unlinkSync, chmodSync } from 'node:fs';
import { dirname } from 'node:path';
import { UserError } from '../decoder/sources.js';
import { Address, formatAddress } from './address.js';
import { Splice, now, errorText } from './splice.js';
import { PumpConn, pumpConnection, relayKind } from './pump.js';
import { adoptForSplice, connectForSplice } from './reused-reads.js';
import type { Dir, Tap } from './splice.js';
import type { Interceptor } from '../intercept/engine.js';
import { interceptedHooks } from '../intercept/hooks.js';

export type { Dir, Tap } from './splice.js';
export { now } from './splice.js';

export interface RelayOptions {
  listen: Address;
  connect: Address;
  tap: Tap;
  /** One line per notable event (upstream connect failures, tap exceptions, accept errors), without a trailing newline or an 'ipc-trace:' prefix. */
  log?: (line: string) => void;
  /** How long stop() lets connections flush and close before destroying them, unless its caller gives a budget (default 5000 ms). */
  stopTimeoutMs?: number;
  /** Intercept rules in force (src/intercept/): every connection is framed and its messages may be held. */
  interceptor?: Interceptor;
}

interface Conn {
  id: number;
  client: net.Socket;
  upstream: net.Socket;
  /** What relays it once both sides are connected: the native pump (pump.ts), or a Splice when the pump is not used. */
  splice: Splice | PumpConn | null;
  /** Set once tap.close() was called for it. */
  closed: boolean;
}

/** What a probe of an existing Unix socket file found. */
async function probeUnixSocket(path: string): Promise<'live' | 'stale' | string> {
  return new Promise((resolve) => {
    const s = net.createConnection({ path });
    const timer = setTimeout(() => {
      s.destroy();
      resolve('live'); // a listener too busy to accept is still a listener
    }, 1000);
    s.once('connect', () => {
      clearTimeout(timer);
      s.destroy();
      resolve('live');
    });
    s.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err.code === 'ECONNREFUSED') resolve('stale');
      else if (err.code === 'EAGAIN') resolve('live');
      else resolve(err.code ?? err.message);
    });
  });
}

/** Makes sure `path` can be bound: absent, or a stale socket (then removed). */
async function prepareUnixPath(path: string): Promise<void> {
  let st;
  try {
    st = lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      // libuv reports a missing directory as EACCES: say what it is.
      if (!existsSync(dirname(path))) throw new UserError(`cannot listen on unix:${path}: directory ${dirname(path)} does not exist`);
      return;
    }
    throw new UserError(`cannot use ${path}: ${errorText(err)}`);
  }
  if (!st.isSocket()) throw new UserError(`refusing to replace ${path}: it exists and is not a socket`);
  const state = await probeUnixSocket(path);
  if (state === 'live') throw new UserError(`refusing to replace ${path}: a process is listening on it`);
  if (state !== 'stale') throw new UserError(`refusing to replace ${path}: cannot tell whether it is in use (${state})`);
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new UserError(`cannot remove stale socket ${path}: ${errorText(err)}`);
    }
  }
}

/** Runs fn (which must bind synchronously) with umask 0177, so the socket file is born 0600. */
function withPrivateUmask(fn: () => void): void {
  let old: number | null = null;
  try {
    old = process.umask(0o177);
  } catch {
    // process.umask() cannot be set in worker threads; the chmod after listen still applies.
  }
  try {
    fn();
  } finally {
    if (old !== null) process.umask(old);
  }
}

function peerText(s: net.Socket): string | undefined {
  if (s.remoteAddress === undefined) return undefined;
  const host = s.remoteAddress.includes(':') ? `[${s.remoteAddress}]` : s.remoteAddress;
  return `${host}:${s.remotePort}`;
}

export class Relay {
  private readonly listenText: string;
  private readonly connectText: string;
  private readonly log: (line: string) => void;
  private server: net.Server | null = null;
  private bound: Address | null = null;
  /** dev/ino of the socket file we created, so stop() removes only our own. */
  private socketFile: { path: string; dev: number; ino: number } | null = null;
  private readonly conns = new Set<Conn>();
  private nextId = 0;
  private stopping: Promise<void> | null = null;
  private tapErrors = 0;

  constructor(private readonly opts: RelayOptions) {
    this.listenText = formatAddress(opts.listen);
    this.connectText = formatAddress(opts.connect);
    this.log = opts.log ?? (() => {});
  }

  /** The address actually listened on (a tcp port 0 resolved), or null before listen(). */
  get address(): Address | null {
    return this.bound;
  }

  /** Number of connections not yet closed. */
  get connectionCount(): number {
    return this.conns.size;
  }

  /**
   * Bytes the relay currently holds in its sockets' buffers (written but not
   * yet accepted by the kernel, plus read but not yet relayed). Stays around a
   * socket high-water mark per direction thanks to backpressure.
   */
  bufferedBytes(): number {
    let n = 0;
    for (const c of this.conns) {
      n += c.client.writableLength + c.client.readableLength + c.upstream.writableLength + c.upstream.readableLength;
      if (c.splice instanceof PumpConn) n += c.splice.bufferedBytes();
    }
    return n;
  }

  /** Starts listening; rejects with UserError if the address cannot be used. */
  async listen(): Promise<void> {
    if (this.server) throw new Error('Relay.listen() called twice');
    if (!this.opts.interceptor) relayKind(); // a bad IPC_TRACE_RELAY fails here
    const { listen } = this.opts;
    if (listen.kind === 'unix') await prepareUnixPath(listen.path);
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
    server.on('connection', (s) => this.onConnection(s));
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(new UserError(`cannot listen on ${this.listenText}: ${errorText(err)}`));
      server.once('error', onError);
      server.once('listening', () => {
        server.off('error', onError);
        resolve();
      });
      if (listen.kind === 'unix') withPrivateUmask(() => server.listen({ path: listen.path }));
      else server.listen({ host: listen.host, port: listen.port });
    });
    server.on('error', (err) => this.log(`${this.listenText}: ${errorText(err)}`));
    this.server = server;
    if (listen.kind === 'unix') {
      try {
        if ((statSync(listen.path).mode & 0o777) !== 0o600) chmodSync(listen.path, 0o600);
        const st = statSync(listen.path);
        this.socketFile = { path: listen.path, dev: st.dev, ino: st.ino };
      } catch (err) {
        server.close();
        throw new UserError(`cannot secure ${listen.path}: ${errorText(err)}`);
      }
      this.bound = listen;
    } else {
      const a = server.address() as net.AddressInfo;
      this.bound = { kind: 'tcp', host: listen.host, port: a.port };
    }
  }

  /**
   * Stops accepting, closes every open connection after relaying what was
   * already read, removes the socket file and resolves when everything is
   * closed: within budgetMs (default stopTimeoutMs), connections that have not
   * flushed by then being destroyed.
   */
  stop(budgetMs = this.opts.stopTimeoutMs ?? 5000): Promise<void> {
    this.stopping ??= this.doStop(budgetMs);
    return this.stopping;
  }

  private async doStop(budgetMs: number): Promise<void> {
    const server = this.server;
    if (!server) return;
    const serverClosed = new Promise<void>((res) => server.close(() => res()));
    const waits: Promise<void>[] = [];
    for (const c of [...this.conns]) {
      if (c.splice) {
        waits.push(c.splice.shutdown('proxy stopped', budgetMs));
      } else {
        c.upstream.destroy();
        c.client.destroy();
        this.finish(c, 'proxy stopped');
      }
    }
    // The last part of the budget is for closing what did not flush.
    const destroyMs = Math.min(200, budgetMs / 4);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), budgetMs - destroyMs)));
    const r = await Promise.race([Promise.all(waits).then(() => serverClosed), timedOut]);
    clearTimeout(timer);
    if (r === 'timeout') {
      for (const c of this.conns) c.splice?.destroy('proxy stopped');
      await Promise.race([Promise.all(waits), new Promise((res) => (timer = setTimeout(res, destroyMs)))]);
      clearTimeout(timer);
    }
    this.removeSocketFile();
  }

  private removeSocketFile(): void {
    const f = this.socketFile;
    if (!f) return;
    this.socketFile = null;
    try {
      const st = lstatSync(f.path);
      if (st.isSocket() && st.dev === f.dev && st.ino === f.ino) unlinkSync(f.path);
    } catch {
      // already gone (libuv unlinks the path when the listening handle closes)
    }
  }

  private tapCall(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.onTapError(err);
    }
  }

  private onTapError(err: unknown): void {
    if (this.tapErrors++ === 0) this.log(`recorder error (further ones not shown): ${errorText(err)}`);
  }

  private finish(c: Conn, reason: string | null, time = now()): void {
    if (c.closed) return;
    c.closed = true;
    this.conns.delete(c);
    this.tapCall(() => this.opts.tap.close(c.id, time, reason));
  }

  private onConnection(accepted: net.Socket): void {
    if (this.stopping) {
      accepted.destroy();
      return;
    }
    const client = adoptForSplice(accepted); // read into a reused buffer (reused-reads.ts)
    const id = ++this.nextId;
    const { tap, connect } = this.opts;
    let clientError: string | null = null;
    client.on('error', (err) => (clientError ??= errorText(err)));
    this.tapCall(() =>
      tap.open({ id, time: now(), listen: this.listenText, upstream: this.connectText, peer: peerText(client) }));

    const upstream = connectForSplice(connect.kind === 'unix' ? { path: connect.path } : { host: connect.host, port: connect.port });
    const c: Conn = { id, client, upstream, splice: null, closed: false };
    this.conns.add(c);

    const onConnectError = (err: Error) => {
      client.off('close', onClientGone);
      client.destroy();
      upstream.destroy();
      const reason = `upstream: ${errorText(err)}`;
      this.log(`connection #${id}: cannot connect to ${this.connectText}: ${errorText(err)}`);
      this.finish(c, reason);
    };
    const onClientGone = () => {
      upstream.off('error', onConnectError);
      upstream.on('error', () => {});
      upstream.destroy();
      this.finish(c, `client: ${clientError ?? 'closed'} before upstream connected`);
    };
    upstream.once('error', onConnectError);
    client.once('close', onClientGone);
    upstream.once('connect', () => {
      upstream.off('error', onConnectError);
      client.off('close', onClientGone);
      if (connect.kind === 'tcp') upstream.setNoDelay(true);
      if (this.opts.listen.kind === 'tcp') client.setNoDelay(true);
      const eng = this.opts.interceptor;
      if (!eng) {
        const pumped = pumpConnection(client, upstream, {
          data: (dir, bytes, time) => tap.data(id, dir, bytes, time),
          end: (dir, time) => tap.end(id, dir, time),
          close: (time, reason) => this.finish(c, reason, time),
          gap: (dir, bytes, time) => tap.gap?.(id, dir, bytes, time),
        }, (err) => this.onTapError(err));
        if (pumped) {
          c.splice = pumped;
          return;
        }
      }
      let splice: Splice;
      const hooks = eng
        ? interceptedHooks(eng, id, tap, { write: (d, b) => splice.write(d, b), endDir: (d) => splice.endDir(d), destroy: (r) => splice.destroy(r), pauseDir: (d, on) => splice.pauseDir(d, on) }, (time, reason) => this.finish(c, reason, time))
        : {
            data: (dir: Dir, bytes: Buffer, time: number) => tap.data(id, dir, bytes, time),
            end: (dir: Dir, time: number) => tap.end(id, dir, time),
            close: (time: number, reason: string | null) => this.finish(c, reason, time),
          };
      splice = new Splice(client, upstream, hooks, { names: ['client', 'upstream'], onHookError: (err) => this.onTapError(err), intercepted: eng !== undefined });
      c.splice = splice;
      splice.start();
    });
  }
}
