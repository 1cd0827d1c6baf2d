// The native relay pump's JavaScript side (the C++ is native/pump/pump.cc):
// once both sockets of a `--listen` connection are connected, relay.ts hands
// their descriptors to the pump, whose own thread relays the bytes (epoll,
// non-blocking reads and writes, like socat) by the rules of splice.ts. This
// thread only gets copies of what was relayed, in batches (at most one wake
// per 10 ms while it has not caught up), and passes them to the same
// hooks as a Splice: data / end / close, plus gap for copies the pump dropped
// because this thread had not taken the previous ones yet (the relayed bytes
// are never dropped).
//
// The Node sockets are destroyed once the pump has its own duplicates of
// their descriptors: libuv never reads or closes what the pump relays, and
// the pump closes its duplicates itself.
//
// Which relay runs: the pump when the addon was built (scripts/build-pump.mjs,
// run by `npm install`) and no interceptor is in force; IPC_TRACE_RELAY=js
// forces the JavaScript relay, IPC_TRACE_RELAY=pump makes a missing pump an
// error.

import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';
import { PACKAGE_ROOT, UserError } from '../decoder/sources.js';
import { now } from './splice.js';
import type { Dir } from './splice.js';

/** Where the addon is built. */
export const PUMP_ADDON = join(PACKAGE_ROOT, 'native', 'pump', 'build', 'Release', 'pump.node');

interface Native {
  /** Starts the pump's thread; returns the handoff area (64 MiB of address space, memory only where used). */
  init(onWake: () => void, offsetMs: number): ArrayBuffer;
  /** CLOCK_MONOTONIC in ms. */
  clock(): number;
  add(id: number, fd0: number, fd1: number): void;
  stop(id: number, flushMs: number): void;
  destroy(id: number): void;
  take(table: Float64Array): number;
  buffered(id: number): number;
  ref(on: boolean): void;
}

export interface PumpHooks {
  data(dir: Dir, bytes: Buffer, time: number): void;
  end(dir: Dir, time: number): void;
  close(time: number, reason: string | null): void;
  /** Relayed bytes whose copies were dropped (the handoff was full), in order with the other events. */
  gap(dir: Dir, bytes: number, time: number): void;
}

/** Events taken per call (8 numbers each). */
const TABLE_EVENTS = 1024;
const EV = { data: 1, end: 2, close: 3, gap: 4 } as const;
const REASON = { none: 0, error: 1, abrupt: 2, stopped: 3 } as const;
const NAMES = ['client', 'upstream'] as const;

let native: Native | null | undefined;
let loadError = '';
let area: Buffer;
const table = new Float64Array(8 * TABLE_EVENTS);
const conns = new Map<number, PumpConn>();
let nextId = 0;

function load(): Native | null {
  if (native !== undefined) return native;
  try {
    native = createRequire(import.meta.url)(PUMP_ADDON) as Native;
    area = Buffer.from(native.init(drain, clockOffset(native)));
  } catch (err) {
    native = null;
    const e = err as NodeJS.ErrnoException;
    loadError = e.code === 'MODULE_NOT_FOUND' ? 'not built' : (e.message ?? String(err)).split('\n')[0]!;
  }
  return native;
}

/** Which relay `--listen` uses for plain recording, and why: 'pump', or 'js (reason)'. */
export function relayKind(): { pump: boolean; text: string } {
  const want = process.env.IPC_TRACE_RELAY;
  if (want === 'js') return { pump: false, text: 'js (IPC_TRACE_RELAY=js)' };
  if (want !== undefined && want !== '' && want !== 'pump') throw new UserError(`IPC_TRACE_RELAY must be js or pump, not ${JSON.stringify(want)}`);
  if (load()) return { pump: true, text: 'native pump' };
  if (want === 'pump') throw new UserError(`IPC_TRACE_RELAY=pump but the native relay pump cannot be loaded (${loadError}): run npm run build:native`);
  return { pump: false, text: `js (native pump ${loadError})` };
}

function fdOf(s: Socket): number {
  const fd = (s as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : -1;
}

/** One connection the pump relays: what relay.ts needs of a Splice. */
export class PumpConn {
  /** Resolves after the pump closed both sockets and hooks.close() was called. */
  readonly closed: Promise<void>;
  private resolveClosed!: () => void;
  private stopReason = 'proxy stopped';
  private done = false;

  constructor(private readonly id: number, private readonly hooks: PumpHooks, private readonly onHookError: (err: unknown) => void) {
    this.closed = new Promise((res) => (this.resolveClosed = res));
  }

  /** Stops reading, writes on what was read (within flushMs), then closes both sockets. */
  shutdown(reason = 'proxy stopped', flushMs = 2000): Promise<void> {
    if (!this.done) {
      this.stopReason = reason;
      native!.stop(this.id, flushMs);
    }
    return this.closed;
  }

  /** Closes both sockets now, without flushing. */
  destroy(reason: string): void {
    if (this.done) return;
    this.stopReason = reason;
    native!.destroy(this.id);
  }

  /** Bytes read and not yet written on, both directions. */
  bufferedBytes(): number {
    return this.done ? 0 : native!.buffered(this.id);
  }

  /** An event from the pump (see drain()). */
  event(kind: number, dir: Dir, time: number, a: number, b: number, c: number, d: number): void {
    try {
      switch (kind) {
        case EV.data:
          this.hooks.data(dir, area.subarray(a, a + b), time);
          break;
        case EV.end:
          this.hooks.end(dir, time);
          break;
        case EV.gap:
          this.hooks.gap(dir, a, time);
          break;
        case EV.close: {
          this.done = true;
          conns.delete(this.id);
          if (conns.size === 0) native!.ref(false);
          const name = NAMES[b] ?? 'client';
          const reason = a === REASON.none ? null
            : a === REASON.error ? `${name}: ${c === 1 ? 'write' : 'read'} ${errnoName(d)}`
            : a === REASON.abrupt ? `${name} closed abruptly`
            : this.stopReason;
          try {
            this.hooks.close(time, reason);
          } finally {
            this.resolveClosed();
          }
          break;
        }
      }
    } catch (err) {
      try {
        this.onHookError(err);
      } catch {
        // ignore
      }
    }
  }
}

/** What to add to the pump's clock to get now(): the closest of a few readings taken between two of now(). */
function clockOffset(n: Native): number {
  let best = Infinity;
  let offset = 0;
  for (let i = 0; i < 20; i++) {
    const t1 = now();
    const m = n.clock();
    const t2 = now();
    if (t2 - t1 < best) {
      best = t2 - t1;
      offset = (t1 + t2) / 2 - m;
    }
  }
  return offset;
}

function errnoName(errno: number): string {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `errno ${errno}`;
  }
}

/** Takes every event the pump has queued and passes them on (the pump's wake calls this). */
function drain(): void {
  for (;;) {
    const n = native!.take(table);
    if (n === 0) return;
    for (let i = 0; i < n; i++) {
      const o = i * 8;
      const conn = conns.get(table[o + 2]!);
      if (conn) conn.event(table[o]!, table[o + 1] ? '<' : '>', table[o + 3]!, table[o + 4]!, table[o + 5]!, table[o + 6]!, table[o + 7]!);
    }
  }
}

/**
 * Hands a connected pair of sockets to the pump (client: bytes read from it
 * are '>'). Returns null, leaving the sockets untouched, when the pump is not
 * in use or the sockets cannot be handed over (no descriptor, or Node already
 * read or buffered something): relay them with a Splice then.
 */
export function pumpConnection(client: Socket, upstream: Socket, hooks: PumpHooks, onHookError: (err: unknown) => void): PumpConn | null {
  if (!relayKind().pump) return null;
  const fa = fdOf(client);
  const fb = fdOf(upstream);
  if (fa < 0 || fb < 0) return null;
  for (const s of [client, upstream]) {
    if (s.readableLength > 0 || s.writableLength > 0 || s.readableEnded || s.writableEnded || s.destroyed) return null;
  }
  client.pause();
  upstream.pause();
  const id = ++nextId;
  native!.add(id, fa, fb);
  const conn = new PumpConn(id, hooks, onHookError);
  if (conns.size === 0) native!.ref(true);
  conns.set(id, conn);
  // The pump relays on its own duplicates of the descriptors.
  client.destroy();
  upstream.destroy();
  return conn;
}
