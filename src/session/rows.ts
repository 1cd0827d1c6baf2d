// The session's records flattened to rows: ids, never object references.
// One shape per record, used by everything downstream of the session model:
// the store writes them, the session reader reads them back, `chains`, the
// exports and the terminal UI take them. A `Delta` is what one batch of
// traffic changed; the model emits it (SessionModel.takeDelta) and every
// consumer gets the same one.

import type { CallRecord, CallStatus, CapRecord, ConnRecord, ProcessRecord, Side, ThreadRecord, ThreadRole } from './records.js';
import { threadLabel } from './records.js';
import type { Dir } from '../decoder/messages.js';

export interface ProcessRow {
  id: number;
  /** `bitcoin-node-72388` once a thread name told it, else a placeholder (`client#1`, the transport's name). */
  label: string;
  exe: string | null;
  pid: number | null;
  /** Incoming calls numbered as libmultiprocess's `#N` so far. */
  requests: number;
}

export interface ThreadRow {
  id: number;
  process: number;
  role: ThreadRole;
  /** Client threads: the name sent in ThreadMap.makeThread. */
  name: string | null;
  /** Workers: the client thread they serve. */
  from: number | null;
  /** As shown: the name, `P (from NAME)`, `P (event loop)`. */
  label: string;
  firstSeen: number;
}

export interface CapRow {
  id: number;
  conn: number;
  owner: Side;
  exportId: number;
  iface: string | null;
  label: string;
  thread: number | null;
  refs: number;
  promise: boolean;
  created: number;
  released: number | null;
}

export interface CallRow {
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
  target: string;
  hasContext: boolean;
  /** The waiting thread (Context.callbackThread), when known. */
  caller: number | null;
  /** The thread running it (Context.thread's worker, or the server's event loop). */
  executor: number | null;
  clientProcess: number;
  serverProcess: number;
  /** The call this one is a callback nested in. */
  parent: number | null;
  depth: number;
  status: CallStatus;
  exception: string | null;
  requestNo: number | null;
  /** Times in ms since the Unix epoch. */
  sent: number;
  returned: number | null;
  cancelRequested: number | null;
  finished: number | null;
  params: string | null;
  results: string | null;
  retired: boolean;
}

export interface ConnRow {
  id: number;
  label: string;
  opened: number;
  closed: number | null;
  closeReason: string | null;
  /** The connecting side's process and the other side's. */
  clientProcess: number;
  serverProcess: number;
}

/** A placeholder process merged into the process a thread name revealed (`from` no longer exists). */
export interface ProcessMerge {
  from: number;
  into: number;
  /**
   * The first call, thread and connection ids that can refer to `from`: rows
   * written before the merge (and no longer held by the model) are re-pointed
   * from there on.
   */
  since: { call: number; thread: number; conn: number };
}

/** Everything one batch changed, as rows. */
export interface Delta {
  processes: ProcessRow[];
  threads: ThreadRow[];
  caps: CapRow[];
  calls: CallRow[];
  connections: ConnRow[];
  merges: ProcessMerge[];
}

/** One batch as the change feed delivers it: the rows that changed and the log lines the batch printed. */
export interface FeedBatch {
  delta: Delta;
  lines: string[];
}

export function emptyDelta(): Delta {
  return { processes: [], threads: [], caps: [], calls: [], connections: [], merges: [] };
}


export function processRow(p: ProcessRecord): ProcessRow {
  return { id: p.id, label: p.label, exe: p.exe, pid: p.pid, requests: p.requests };
}

export function threadRow(t: ThreadRecord): ThreadRow {
  return { id: t.id, process: t.process.id, role: t.role, name: t.name, from: t.from?.id ?? null, label: threadLabel(t), firstSeen: t.firstSeen };
}

export function capRow(c: CapRecord): CapRow {
  return {
    id: c.id,
    conn: c.conn,
    owner: c.owner,
    exportId: c.exportId,
    iface: c.iface,
    label: c.label,
    thread: c.thread?.id ?? null,
    refs: c.refs,
    promise: c.promise,
    created: c.created,
    released: c.released,
  };
}

export function callRow(c: CallRecord): CallRow {
  return {
    id: c.id,
    conn: c.conn,
    dir: c.dir,
    questionId: c.questionId,
    interfaceId: c.interfaceId,
    methodId: c.methodId,
    iface: c.iface,
    method: c.method,
    title: c.title,
    target: c.target,
    hasContext: c.hasContext,
    caller: c.caller?.id ?? null,
    executor: c.executor?.id ?? null,
    clientProcess: c.clientProcess.id,
    serverProcess: c.serverProcess.id,
    parent: c.parent?.id ?? null,
    depth: c.depth,
    status: c.status,
    exception: c.exception,
    requestNo: c.requestNo,
    sent: c.sent,
    returned: c.returned,
    cancelRequested: c.cancelRequested,
    finished: c.finished,
    params: c.params,
    results: c.results,
    retired: c.retired,
  };
}

export function connRow(c: ConnRecord): ConnRow {
  return {
    id: c.id,
    label: c.label,
    opened: c.opened,
    closed: c.closed,
    closeReason: c.closeReason,
    clientProcess: c.processes.A.id,
    serverProcess: c.processes.B.id,
  };
}
