// Helpers shared by the demo node and wallet processes.

import { Lane } from '../rpc/lane.js';
import { Cap, findInterface } from '../rpc/cap.js';
import type { CallContext, ServerImpl } from '../rpc/server.js';
import type { SchemaSet, InterfaceInfo } from '../decoder/schema.js';
import { RpcError } from '../rpc/errors.js';

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** One line on stderr, as `EXE: message`. */
export function errorLine(exe: string, msg: string): void {
  process.stderr.write(`${exe}: ${msg.split('\n')[0]}\n`);
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function isDisconnect(e: unknown): boolean {
  return e instanceof RpcError && e.type === 'disconnected';
}

/**
 * A serial job queue run by one long task on a lane, like a thread draining
 * a queue (CScheduler running the validation interface queue). Unlike posting
 * each job to the lane, a job blocked in IPC keeps the next job waiting
 * (only callbacks for this lane run on top of it), so sync() really waits
 * for everything queued before it.
 */
export class SerialQueue {
  private readonly jobs: { fn: () => unknown | Promise<unknown>; label: string }[] = [];
  private running = false;
  private stopped = false;

  constructor(
    readonly lane: Lane,
    private readonly onError: (e: unknown, label: string) => void,
  ) {}

  push(label: string, fn: () => unknown | Promise<unknown>): void {
    if (this.stopped) return;
    this.jobs.push({ fn, label });
    if (!this.running) {
      this.running = true;
      void this.lane.run(() => this.drain(), 'queue');
    }
  }

  /** Resolves once every job queued before this call has run (SyncWithValidationInterfaceQueue). */
  sync(): Promise<void> {
    return new Promise((resolve) => {
      if (this.stopped) return resolve();
      this.push('sync', () => resolve());
    });
  }

  get pending(): number {
    return this.jobs.length;
  }

  /** Drops queued jobs and accepts no more. */
  stop(): void {
    this.stopped = true;
    this.jobs.length = 0;
  }

  private async drain(): Promise<void> {
    try {
      for (let j = this.jobs.shift(); j; j = this.jobs.shift()) {
        try {
          await j.fn();
        } catch (e) {
          this.onError(e, j.label);
        }
      }
    } finally {
      this.running = false;
    }
  }
}

/** A capability typed as `iface` (the runtime cannot always tell the interface of a generic field). */
export function typed(cap: Cap, iface: string): Cap {
  if (cap.iface?.name === iface) return cap;
  const t = cap.as(iface);
  cap.release();
  return t;
}

/** Random latency for the `slow` scenario. */
export function makeDelay(enabled: boolean, rand: () => number, lo = 50, hi = 300): () => Promise<void> {
  if (!enabled) return () => Promise.resolve();
  return () => sleep(lo + Math.floor(rand() * (hi - lo + 1)));
}

/** Adds a method throwing a clear 'not implemented' error for every method of `iface` that `impl` lacks. */
export function stubMissing(schemas: SchemaSet, iface: string, impl: ServerImpl, who: string): ServerImpl {
  const seen = new Set<string>();
  const visit = (info: InterfaceInfo) => {
    for (const m of info.methods) {
      if (seen.has(m.name)) continue;
      seen.add(m.name);
      if (typeof impl[m.name] !== 'function') {
        impl[m.name] = () => {
          throw new RpcError('unimplemented', `${info.name}.${m.name} is not implemented in the demo ${who}`);
        };
      }
    }
    for (const s of info.superclasses) {
      const sup = schemas.interfaces.get(s);
      if (sup) visit(sup);
    }
  };
  visit(findInterface(schemas, iface));
  return impl;
}

/** Wraps every method of `impl` so it first waits `delay()` (the `slow` scenario's injected latency). */
export function withLatency(impl: ServerImpl, delay: () => Promise<void>, skip: readonly string[] = ['destroy']): ServerImpl {
  const out: ServerImpl = {};
  for (const [name, fn] of Object.entries(impl)) {
    out[name] = skip.includes(name)
      ? fn
      : async (p: unknown, ctx: CallContext) => {
          await delay();
          return fn.call(impl, p, ctx);
        };
  }
  return out;
}
