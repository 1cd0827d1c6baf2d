// Splice: relays bytes between two connected stream sockets, both ways, and
// reports every chunk to hooks. Shared by the listening relay (relay.ts) and
// the exec shim (shim.ts), so it depends on Node's standard library only
// (shim.ts is run as a separate process from dist/, see exec.ts).
//
// Rules, per direction (src → dst):
//   * each chunk read from src is written to dst unchanged and then given to
//     hooks.data(); nothing waits for the hooks;
//   * sockets made by reused-reads.ts (all of the relay's and the shim's) are
//     read into a buffer that is reused (Node's `onread`), so a read allocates
//     nothing; a chunk handed to the hooks is therefore valid only during the
//     call (copy what you keep). A chunk the destination could not write at
//     once (or that waits behind others) stays where it is until written: the
//     next reads go after it (ReadSlot.written). Any other socket is read with
//     'data' events;
//   * the only flow control is the sockets' own: when dst.write() returns
//     false, src is paused until dst emits 'drain' (so the relay holds at most
//     about one high-water mark of data per direction), plus an optional
//     external hold (hold(true)) used by the shim when its mirror lags;
//   * EOF on src (half-close) is reported with hooks.end() and propagated with
//     dst.end(); both sockets must have allowHalfOpen set;
//   * when one socket closes abruptly (an error, or closed before both of its
//     directions finished), the other is "finished off": reading from it stops,
//     what was already queued for it is flushed (bounded by flushTimeoutMs),
//     and then it is destroyed;
//   * hooks.close() is called once, after both sockets have closed, with null
//     for a clean close (both directions ended with EOF) or the first reason
//     seen otherwise ("client: ECONNRESET", "upstream closed abruptly",
//     "proxy stopped", …).
// Hook exceptions are caught and passed to onHookError; they never reach the
// sockets.
//
// Intercepted (opts.intercepted, an intercept rule is in force: src/intercept/):
// chunks and EOFs go to the hooks only; the interceptor decides when bytes go
// out, with write(dir, bytes) and endDir(dir). write() applies the same flow
// control (the source of that direction pauses until the destination drains).
// The exec shim switches between the two modes as rules come and go
// (setIntercepted).

import type { Socket } from 'node:net';
import { readSlot } from './reused-reads.js';
import type { ReadSlot } from './reused-reads.js';

/** '>' = from the connecting (accepting-side client / spawning parent) to the other end, '<' back. */
export type Dir = '>' | '<';

/** Receives a copy of the traffic. Calls must be cheap and must not throw; the tap must not modify the Buffers. */
export interface Tap {
  open(conn: { id: number; time: number; listen: string; upstream: string; peer?: string }): void;
  /** The exact bytes relayed, valid only during the call (the relay reads into the same buffer again): copy what you keep. */
  data(id: number, dir: Dir, bytes: Buffer, time: number): void;
  /** EOF / half-close in that direction. */
  end(id: number, dir: Dir, time: number): void;
  /** Both sides closed; reason is null for a clean close, else why it was abrupt. */
  close(id: number, time: number, reason: string | null): void;
  /** Bytes relayed in that direction that the tap never got (the native pump's handoff was full: src/proxy/pump.ts). */
  gap?(id: number, dir: Dir, bytes: number, time: number): void;
}

/** Wall-clock time in milliseconds since the epoch, fractional. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

/** A one-line description of a socket error: its code if it has one. */
export function errorText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e === 'object') {
    if (e.code && e.syscall) return `${e.syscall} ${e.code}`;
    if (e.code) return e.code;
    if (e.message) return e.message.split('\n')[0]!;
  }
  return String(err);
}

export interface SpliceHooks {
  /** The bytes are valid only during the call (see Tap.data); in intercepted mode they are the hooks' own to keep. */
  data(dir: Dir, bytes: Buffer, time: number): void;
  end(dir: Dir, time: number): void;
  close(time: number, reason: string | null): void;
}

export interface SpliceOptions {
  /** Names of the two sockets in close reasons (default 'client', 'upstream'). */
  names?: [string, string];
  /** How long a socket being finished off may take to flush its queued bytes (default 2000 ms). */
  flushTimeoutMs?: number;
  /** Called when a hook throws (the exception is otherwise ignored). */
  onHookError?: (err: unknown) => void;
  /** Nothing is written on by the splice itself: see write() and endDir(). */
  intercepted?: boolean;
}

interface Side {
  sock: Socket;
  /** Its reads go into a reused buffer (reused-reads.ts), or null: read with 'data' events. */
  slot: ReadSlot | null;
  name: string;
  /** Direction of the bytes read from this socket. */
  dir: Dir;
  peer: Side;
  waitingDrain: boolean;
  closed: boolean;
  finishing: boolean;
  /** A write to it failed after it had closed and its stream had ended: a normal close, not an error. */
  goneAfterEnd: boolean;
  /** Intercepted mode: not read while too much waits behind a hold in its direction (pauseDir). */
  paused: boolean;
}

export class Splice {
  /** Resolves after both sockets closed and hooks.close() was called. */
  readonly closed: Promise<void>;
  private resolveClosed!: () => void;
  private readonly a: Side;
  private readonly b: Side;
  private reason: string | null = null;
  private held = false;
  private stopping = false;
  private started = false;
  private done = false;
  private readonly flushTimeoutMs: number;
  private intercepted: boolean;

  /**
   * a: the connecting side (bytes read from it are '>'), b: the other end.
   * Both must be connected (or being connected, with writes buffered) and have
   * allowHalfOpen = true. Listeners are attached now; reading starts with start().
   */
  constructor(a: Socket, b: Socket, private readonly hooks: SpliceHooks, private readonly opts: SpliceOptions = {}) {
    const [nameA, nameB] = opts.names ?? ['client', 'upstream'];
    this.flushTimeoutMs = opts.flushTimeoutMs ?? 2000;
    this.intercepted = opts.intercepted ?? false;
    this.closed = new Promise((res) => (this.resolveClosed = res));
    const mk = (sock: Socket, name: string, dir: Dir): Side =>
      ({ sock, slot: readSlot(sock) ?? null, name, dir, peer: undefined as unknown as Side, waitingDrain: false, closed: false, finishing: false, goneAfterEnd: false, paused: false });
    this.a = mk(a, nameA, '>');
    this.b = mk(b, nameB, '<');
    this.a.peer = this.b;
    this.b.peer = this.a;
    for (const side of [this.a, this.b]) this.attach(side);
  }

  /** Starts reading from both sockets. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.updateFlow(this.a);
    this.updateFlow(this.b);
  }

  /** External backpressure: while held, neither socket is read. */
  hold(on: boolean): void {
    if (this.held === on) return;
    this.held = on;
    this.updateFlow(this.a);
    this.updateFlow(this.b);
  }

  /** True once both sockets have closed. */
  get isClosed(): boolean {
    return this.done;
  }

  /**
   * Closes the connection deliberately: stops reading, relays what was already
   * read (the sockets' read buffers), ends both sockets once their queued bytes
   * are flushed (or after flushMs) and destroys them. Resolves when closed.
   */
  shutdown(reason = 'proxy stopped', flushMs = this.flushTimeoutMs): Promise<void> {
    if (this.done) return this.closed;
    this.stopping = true;
    this.reason ??= reason;
    for (const side of [this.a, this.b]) {
      const s = side.sock;
      s.pause();
      // read() hands the buffered chunk to our 'data' listener, which relays it
      // (a socket read into a reused buffer has nothing waiting there).
      while (!side.slot && !s.destroyed && s.readableLength > 0) {
        if (s.read() === null) break;
      }
    }
    this.finishOff(this.a, flushMs);
    this.finishOff(this.b, flushMs);
    return this.closed;
  }

  /** Destroys both sockets now, without flushing. */
  destroy(reason: string): void {
    this.reason ??= reason;
    this.a.sock.destroy();
    this.b.sock.destroy();
  }

  /** Intercepted mode: writes bytes on in `dir` (to the side that receives that direction). */
  write(dir: Dir, bytes: Uint8Array): void {
    const src = dir === '>' ? this.a : this.b;
    const dst = src.peer.sock;
    if (dst.destroyed || dst.writableEnded) return;
    if (!dst.write(bytes)) this.waitDrain(src);
  }

  /** Switches between relaying by itself and intercepted mode (from the next chunk or EOF read on). */
  setIntercepted(on: boolean): void {
    this.intercepted = on;
  }

  /** Intercepted mode: stops (on) or resumes reading the sender of `dir`, as a slow receiver would make it. */
  pauseDir(dir: Dir, on: boolean): void {
    const src = dir === '>' ? this.a : this.b;
    if (src.paused === on) return;
    src.paused = on;
    this.updateFlow(src);
  }

  /** Intercepted mode: EOF in `dir`. */
  endDir(dir: Dir): void {
    const dst = (dir === '>' ? this.b : this.a).sock;
    if (!dst.destroyed && !dst.writableEnded) dst.end();
  }

  private waitDrain(side: Side): void {
    if (side.waitingDrain) return;
    side.waitingDrain = true;
    this.updateFlow(side);
    side.peer.sock.once('drain', () => {
      side.waitingDrain = false;
      this.updateFlow(side);
    });
  }

  private attach(side: Side): void {
    const s = side.sock;
    s.pause();
    if (side.slot) side.slot.take((chunk) => this.onData(side, chunk));
    else s.on('data', (chunk: Buffer) => this.onData(side, chunk));
    s.on('end', () => {
      this.hook(() => this.hooks.end(side.dir, now()));
      if (this.intercepted) return;
      const dst = side.peer.sock;
      if (!dst.destroyed && !dst.writableEnded) dst.end();
    });
    s.on('error', (err) => {
      // The other side sent EOF and went away; bytes still on their way to it
      // (e.g. the node's Abort after the client closed) find no reader. That
      // is how a connection normally ends, not a transport error.
      const code = (err as NodeJS.ErrnoException).code;
      if (s.readableEnded && (code === 'EPIPE' || code === 'ECONNRESET')) {
        side.goneAfterEnd = true;
        return;
      }
      this.reason ??= `${side.name}: ${errorText(err)}`;
    });
    const onClose = (hadError: boolean) => {
      if (side.closed) return;
      side.closed = true;
      const clean = (side.goneAfterEnd || (!hadError && s.writableFinished)) && s.readableEnded;
      if (!clean) {
        this.reason ??= `${side.name} closed abruptly`;
        this.finishOff(side.peer);
      } else if (side.peer.waitingDrain) {
        // Nothing will drain into a closed socket: let the peer be read to its end.
        side.peer.waitingDrain = false;
        this.updateFlow(side.peer);
      }
      if (this.a.closed && this.b.closed && !this.done) {
        this.done = true;
        this.a.slot?.release();
        this.b.slot?.release();
        this.hook(() => this.hooks.close(now(), this.reason));
        this.resolveClosed();
      }
    };
    if (s.closed) queueMicrotask(() => onClose(true));
    else s.on('close', onClose);
  }

  private onData(side: Side, chunk: Buffer): void {
    const dst = side.peer.sock;
    if (dst.destroyed || dst.writableEnded) return; // the other end is gone: nowhere to relay to
    const slot = side.slot;
    if (this.intercepted) {
      try {
        // The interceptor keeps chunks (held messages): its own copy.
        this.hooks.data(side.dir, slot ? Buffer.from(chunk) : chunk, now());
      } catch (err) {
        this.hookFailed(err);
      }
      return;
    }
    // Relay first; the recorder gets the same (unmodified) bytes after.
    const queued = !dst.write(chunk);
    // Not all written at once: the socket writes the rest from the slot's buffer later.
    slot?.written(chunk.length, dst.writableLength > 0);
    try {
      this.hooks.data(side.dir, chunk, now());
    } catch (err) {
      this.hookFailed(err);
    }
    if (queued) this.waitDrain(side);
  }

  private updateFlow(side: Side): void {
    const s = side.sock;
    if (s.destroyed) return;
    if (!this.started || side.waitingDrain || this.held || this.stopping || side.finishing || side.paused) s.pause();
    else s.resume();
  }

  /** Stops reading from side, flushes what is queued for it, then destroys it. */
  private finishOff(side: Side, flushMs = this.flushTimeoutMs): void {
    const s = side.sock;
    if (side.finishing || s.destroyed) return;
    side.finishing = true;
    s.pause();
    if (s.writableFinished || s.writableLength === 0 || s.connecting) {
      s.destroy();
      return;
    }
    if (!s.writableEnded) s.end();
    const timer = setTimeout(() => s.destroy(), flushMs);
    s.once('finish', () => {
      clearTimeout(timer);
      s.destroy();
    });
    s.once('close', () => clearTimeout(timer));
  }

  private hook(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.hookFailed(err);
    }
  }

  private hookFailed(err: unknown): void {
    try {
      this.opts.onHookError?.(err);
    } catch {
      // ignore
    }
  }
}
