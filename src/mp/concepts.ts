// libmultiprocess's concepts, one home each: the ThreadMap and Thread
// interfaces, the Proxy.Context parameter, thread names as libmultiprocess
// builds and logs them, and how durations are shown. The decoder, the
// session model, the log, chains, the runtime and the views import these
// instead of spelling them again.

import type { DStruct } from '../decoder/dynamic.js';
import type { FieldInfo, StructInfo } from '../decoder/schema.js';

/** mp/proxy.capnp's ThreadMap (makeThread) and Thread (getName) interfaces. */
export const THREADMAP_ID = '0xee5e37179ad9dc9d';
export const THREAD_ID = '0x81c1e2600d0b56c5';
/** mp/proxy.capnp's Context struct: `thread` (run the call on it) and `callbackThread` (the caller). */
export const PROXY_CONTEXT_ID = '0x9c44e6645d0b22c6';

/** ThreadMap and Thread calls are libmultiprocess's own: not numbered or logged as requests. */
export function isThreadInterface(interfaceId: string): boolean {
  return interfaceId === THREADMAP_ID || interfaceId === THREAD_ID;
}

/** The Context field of a method's params struct, if it has one. */
export function contextField(params: StructInfo | undefined): FieldInfo | undefined {
  return params?.fields.find((f) => f.type.kind === 'struct' && f.type.id === PROXY_CONTEXT_ID);
}

/** The decoded Context struct among a call's params, if it has one. */
export function contextOf(params: DStruct): DStruct | null {
  for (const f of params.fields) {
    if (f.type.kind === 'struct' && f.type.id === PROXY_CONTEXT_ID && f.value && typeof f.value === 'object' && 'fields' in f.value) return f.value as DStruct;
  }
  return null;
}

// ---- thread names ----
// libmultiprocess names a thread `EXE-PID/PTHREAD-TID` (e.g.
// `bitcoin-node-72388/b-http.00-72390`); a server worker made by makeThread
// for a client thread is `EXE-PID/LOOP-TID (from CLIENT-NAME)`. Only client
// names cross the wire; ipc-trace labels what it cannot name as
// `PROCESS (from CLIENT)` (a worker) and `PROCESS (event loop)`.

/** Linux limits pthread names to 15 bytes. */
export const PTHREAD_NAME_MAX = 15;

export interface ThreadName {
  exe: string;
  pid: number;
  /** `EXE-PID`, the process as Bitcoin Core names it. */
  process: string;
  /** The part after the slash (pthread name and tid, and a `(from …)` suffix if any). */
  thread: string;
  /** The client thread a worker serves, from a `(from …)` suffix. */
  from: string | null;
}

const THREAD_NAME = /^([^/]+)-(\d+)\/(.*)$/;
const FROM_SUFFIX = / \(from (.*)\)$/;

export function parseThreadName(name: string): ThreadName | null {
  const m = THREAD_NAME.exec(name);
  if (!m) return null;
  return { exe: m[1]!, pid: Number(m[2]), process: `${m[1]!}-${m[2]!}`, thread: m[3]!, from: FROM_SUFFIX.exec(name)?.[1] ?? null };
}

/** The client thread named in a `… (from CLIENT)` suffix, or undefined. */
export function servedClient(name: string): string | undefined {
  return FROM_SUFFIX.exec(name)?.[1];
}

/** `EXE-PID/PTHREAD-TID`, as libmultiprocess names a thread (pthread name cut to 15 bytes). */
export function formatThreadName(exe: string, pid: number, pthread: string, tid: number): string {
  const p = pthread.slice(0, PTHREAD_NAME_MAX);
  return `${exe}-${pid}/${p ? p + '-' : ''}${tid}`;
}

/** A worker's full name as libmultiprocess gives it: its own name and the client it serves. */
export function workerThreadName(own: string, client: string): string {
  return `${own} (from ${client})`;
}

/** A worker as ipc-trace shows it (its own name never crosses the wire). */
export function workerLabel(processLabel: string, client: string | null): string {
  return `${processLabel} (from ${client ?? '?'})`;
}

export function loopLabel(processLabel: string): string {
  return processLabel + LOOP_SUFFIX;
}

/** A thread label taken apart: its process, and the thread's own part (`P/NAME`), the client a worker serves (`P (from C)`), or the loop (`P (event loop)`). */
export interface ThreadLabel {
  process: string;
  /** After the slash of `P/NAME`; null for a worker or loop ipc-trace labelled. */
  thread: string | null;
  /** The client a worker (`P (from C)`) serves. */
  from: string | null;
  loop: boolean;
}

export function parseThreadLabel(label: string): ThreadLabel {
  const from = FROM_SUFFIX.exec(label);
  if (from) return { process: label.slice(0, from.index), thread: null, from: from[1]!, loop: false };
  if (label.endsWith(LOOP_SUFFIX)) return { process: label.slice(0, -LOOP_SUFFIX.length), thread: null, from: null, loop: true };
  const slash = label.indexOf('/');
  return slash < 0 ? { process: label, thread: null, from: null, loop: false } : { process: label.slice(0, slash), thread: label.slice(slash + 1), from: null, loop: false };
}

const LOOP_SUFFIX = ' (event loop)';

/** A thread known only by its process (a call without a Context). */
export function unknownThreadLabel(processLabel: string): string {
  return `${processLabel}/?`;
}

/** `exec:bitcoin-wallet[5291]` or `exec:bitcoin-wallet[5291, launched as 5288]` (how exec names a child) as Bitcoin Core's `bitcoin-wallet-5291`. */
export function execProcessName(n: string | undefined): { exe: string; pid: number; label: string } | null {
  const m = n ? /^exec:(.+?)\[(\d+)(?:, launched as \d+)?\]$/.exec(n) : null;
  return m ? { exe: m[1]!, pid: Number(m[2]), label: `${m[1]!}-${m[2]!}` } : null;
}

// ---- durations ----

/**
 * A duration for people: `250ms` / `4.1s` (ages, reports), or with
 * `precise` the log's latency form `0.42ms` / `12.5ms` / `1.234s`.
 */
export function formatDuration(ms: number, precise = false): string {
  if (precise) {
    if (ms < 1) return `${Math.round(ms * 1000)}us`;
    if (ms < 1000) return `${ms.toFixed(ms < 10 ? 2 : 1)}ms`;
    return `${(ms / 1000).toFixed(3)}s`;
  }
  return ms < 1000 ? `${Math.round(ms)}ms` : `${(ms / 1000).toFixed(1)}s`;
}
