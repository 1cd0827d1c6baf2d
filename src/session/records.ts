// The session model's records: processes, threads, capabilities, calls.
// Everything here is built only from what crosses the wire.

import type { Dir } from '../decoder/messages.js';
import { loopLabel, unknownThreadLabel, workerLabel } from '../mp/concepts.js';

export interface ProcessRecord {
  id: number;
  /** Display name: `bitcoin-node-72388` once a thread name told it, else a placeholder like `server#1`. */
  label: string;
  exe: string | null;
  pid: number | null;
  /** Incoming calls on generated interfaces, numbered as libmultiprocess's `#N` (from the session's start). */
  requests: number;
}

export type ThreadRole = 'client' | 'worker' | 'loop';

export interface ThreadRecord {
  id: number;
  process: ProcessRecord;
  role: ThreadRole;
  /**
   * client: its own name as sent in makeThread (`bitcoin-node-72388/b-http.00-72390`);
   * worker: null (a server worker's own name never crosses the wire), unless
   * the worker itself calls out on another connection, which names it;
   * loop: null.
   */
  name: string | null;
  /** worker: the client thread it was made for. */
  from: ThreadRecord | null;
  firstSeen: number;
}

/** How a thread is shown: its name, `(from CLIENT)` for a worker, `(event loop)` for the loop. */
export function threadLabel(t: ThreadRecord | null): string {
  if (!t) return '?';
  if (t.name !== null) return t.name;
  if (t.role === 'worker') return workerLabel(t.process.label, t.from ? threadLabel(t.from) : null);
  if (t.role === 'loop') return loopLabel(t.process.label);
  return unknownThreadLabel(t.process.label);
}

export type Side = 'A' | 'B';

/** `>` is sent by side A (the side that connected), `<` by side B. */
export function senderOf(dir: Dir): Side {
  return dir === '>' ? 'A' : 'B';
}

export interface CapRecord {
  id: number;
  conn: number;
  /** The vat that exports it. */
  owner: Side;
  exportId: number;
  /** Interface short name, once known. */
  iface: string | null;
  label: string;
  thread: ThreadRecord | null;
  /** References the importer holds (introductions minus releases). */
  refs: number;
  promise: boolean;
  created: number;
  released: number | null;
}

export type CallStatus = 'pending' | 'returned' | 'exception' | 'canceled' | 'disconnected';

export interface CallRecord {
  id: number;
  conn: number;
  dir: Dir;
  questionId: number;
  interfaceId: string;
  methodId: number;
  iface: string | null;
  method: string | null;
  /** `Iface.method`, or `0x…@N` for an unknown method. */
  title: string;
  /** Target capability as named by the session (`Mining`, `BlockTemplate #3`, `Thread "…"`). */
  target: string;
  hasContext: boolean;
  /** The thread waiting for the call (Context.callbackThread), when known. */
  caller: ThreadRecord | null;
  /** The thread running it: Context.thread's worker, or the server's event loop. */
  executor: ThreadRecord | null;
  clientProcess: ProcessRecord;
  serverProcess: ProcessRecord;
  parent: CallRecord | null;
  depth: number;
  status: CallStatus;
  exception: string | null;
  /** libmultiprocess's request number on the server process (generated interfaces only). */
  requestNo: number | null;
  sent: number;
  returned: number | null;
  /** A Finish sent before the Return (a cancellation request). */
  cancelRequested: number | null;
  finished: number | null;
  /** Message numbers of the Call and its Return in the connection's stream. */
  callMsg: number;
  returnMsg: number | null;
  /** Text of params/results as capnp prints them (untruncated). */
  params: string | null;
  results: string | null;
  /** True when the wire says nothing more will happen to it (returned and finished, or interrupted). */
  retired: boolean;
}

export interface ConnRecord {
  id: number;
  label: string;
  opened: number;
  closed: number | null;
  closeReason: string | null;
  processes: Record<Side, ProcessRecord>;
}
