// Importing libmultiprocess `-debug=ipc` logs (Bitcoin Core's debug.log with
// -debug=ipc, Debug or Trace level; the node's, the wallet's and the
// clients' logs of one run) into session rows. A log has no bytes, no
// question ids and no ThreadMap calls, and cuts params/results at 200
// characters: the rows say so (questionId -1, meta source=debug-log). Each
// file is read in its own order (a `send data:` line belongs to the `IPC
// client send` before it); the files' calls are then merged by time, and a
// client's `IPC client send` is paired with the server's `IPC server recv
// request` of the same method (the worker's `(from CLIENT)` names the
// client thread; calls without a Context pair by time).

import type { CallStatus } from '../session/records.js';
import type { CallRow, ConnRow, Delta } from '../session/rows.js';
import { emptyDelta } from '../session/rows.js';
import type { SchemaSet } from '../decoder/schema.js';
import { parseLogLine, logUnescape, methodOfType, LogLine } from '../log/vocabulary.js';
import { servedClient } from '../mp/concepts.js';
import { CallNester, ProcessTracker, ThreadTracker } from './trackers.js';

interface ClientSide {
  file: number;
  thread: string;
  method: string;
  sent: number;
  returned: number | null;
  params: string | null;
  results: string | null;
  status: CallStatus;
  exception: string | null;
  ended: number | null;
  server?: ServerSide;
}

interface ServerSide {
  file: number;
  loop: string;
  req: number;
  method: string;
  recv: number;
  worker: string | null;
  returned: number | null;
  params: string | null;
  results: string | null;
  status: CallStatus;
  exception: string | null;
  ended: number | null;
  client?: ClientSide;
}

export interface LogFile {
  name: string;
  text: string;
}

export interface ImportResult {
  delta: Delta;
  /** Lines read that carried an IPC event this importer uses. */
  lines: number;
  /** Files without timestamps (their events are ordered by line only). */
  untimed: string[];
}

/** Pairing window: a server receives a request at most this long after the client logged sending it (same host clock). */
const PAIR_BEFORE_MS = 5000;
const PAIR_AFTER_MS = 50;

function readFile(f: LogFile, file: number, clients: ClientSide[], servers: ServerSide[], onLine?: () => void): { lines: number; timed: boolean } {
  let t = 0;
  let timed = false;
  let lines = 0;
  let lastSend: ClientSide | null = null;
  let lastRecv: ClientSide | null = null;
  const openClient = new Map<string, ClientSide[]>();
  const byReq = new Map<string, ServerSide>();
  const lastRequest = new Map<string, ServerSide>();
  const lastResponse = new Map<string, ServerSide>();
  const openServer = new Set<ServerSide>();
  const procOf = (thread: string) => thread.split('/')[0]!;
  const key = (thread: string, req: number) => `${procOf(thread)}#${req}`;
  const data = (d: string | null) => (d === null ? null : logUnescape(d));
  const endClient = (c: ClientSide, at: number) => {
    c.ended = at;
    const l = openClient.get(c.thread);
    if (l) l.splice(l.indexOf(c), 1);
  };
  const endServer = (s: ServerSide, at: number) => {
    s.ended = at;
    openServer.delete(s);
  };
  for (const text of f.text.split(/\r?\n/)) {
    onLine?.();
    const p = parseLogLine(text);
    if (!p) continue;
    lines++;
    if (p.time !== null) {
      t = p.time;
      timed = true;
    } else if (!timed) t += 0.001;
    const l: LogLine = p.line;
    switch (l.kind) {
      case 'client-send': {
        const c: ClientSide = { file, thread: l.thread, method: methodOfType(l.type), sent: t, returned: null, params: data(l.data), results: null, status: 'pending', exception: null, ended: null };
        clients.push(c);
        let s = openClient.get(l.thread);
        if (!s) openClient.set(l.thread, (s = []));
        s.push(c);
        lastSend = c;
        break;
      }
      case 'send-data':
        if (lastSend && lastSend.params === null) lastSend.params = data(l.data);
        break;
      case 'client-recv': {
        const m = methodOfType(l.type);
        const s = openClient.get(l.thread) ?? [];
        const c = [...s].reverse().find((x) => x.method === m);
        if (!c) break;
        c.returned = t;
        c.status = 'returned';
        c.results = data(l.data);
        endClient(c, t);
        lastRecv = c;
        break;
      }
      case 'recv-data':
        if (lastRecv && lastRecv.results === null) lastRecv.results = data(l.data);
        break;
      case 'client-exception': {
        const c = openClient.get(l.thread)?.at(-1);
        if (!c) break;
        c.returned = t;
        c.status = 'exception';
        c.exception = l.error.replace(/^kj::Exception: /, '');
        endClient(c, t);
        break;
      }
      case 'client-interrupted':
      case 'client-disconnect':
        for (const s of openClient.values()) {
          for (const c of [...s]) {
            c.status = 'disconnected';
            endClient(c, t);
          }
        }
        break;
      case 'server-request': {
        const s: ServerSide = { file, loop: l.thread, req: l.req, method: methodOfType(l.type), recv: t, worker: null, returned: null, params: data(l.data), results: null, status: 'pending', exception: null, ended: null };
        servers.push(s);
        byReq.set(key(l.thread, l.req), s);
        lastRequest.set(l.thread, s);
        openServer.add(s);
        break;
      }
      case 'request-data': {
        const s = lastRequest.get(l.thread);
        if (s && s.params === null) s.params = data(l.data);
        break;
      }
      case 'server-post': {
        const s = byReq.get(key(l.thread, l.req));
        if (s) s.worker = l.worker;
        break;
      }
      case 'server-executing':
        break;
      case 'server-response': {
        const s = byReq.get(key(l.thread, l.req));
        if (!s) break;
        s.returned = t;
        s.status = 'returned';
        s.results = data(l.data);
        endServer(s, t);
        lastResponse.set(l.thread, s);
        break;
      }
      case 'response-data': {
        const s = lastResponse.get(l.thread);
        if (s && s.results === null) s.results = data(l.data);
        break;
      }
      case 'server-error': {
        const s = byReq.get(key(l.thread, l.req));
        if (!s) break;
        s.exception = l.error.replace(/^kj::Exception: /, '');
        s.status = /disconnect/i.test(s.exception) ? 'disconnected' : 'exception';
        if (s.status === 'exception') s.returned = t;
        endServer(s, t);
        break;
      }
      case 'server-unhandled': {
        const s = lastRequest.get(l.thread);
        if (!s || s.ended !== null) break;
        s.exception = l.error;
        s.status = 'exception';
        s.returned = t;
        endServer(s, t);
        break;
      }
      case 'server-canceled': {
        const s = byReq.get(key(l.thread, l.req));
        if (s && s.ended === null) s.status = 'canceled';
        break;
      }
      case 'server-interrupted':
        break;
      case 'socket':
        if (!l.connected) {
          for (const s of [...openServer]) {
            if (procOf(s.loop) !== procOf(l.thread)) continue;
            s.status = 'disconnected';
            endServer(s, t);
          }
        }
        break;
    }
  }
  return { lines, timed };
}

const processOf = (thread: string) => thread.split('/')[0]!;

/** Pairs each server-side request with the client-side send it answers. */
function pair(clients: ClientSide[], servers: ServerSide[]): void {
  const byMethod = new Map<string, ClientSide[]>();
  for (const c of [...clients].sort((a, b) => a.sent - b.sent)) {
    let l = byMethod.get(c.method);
    if (!l) byMethod.set(c.method, (l = []));
    l.push(c);
  }
  // Both sides in time order: each method's list is scanned from its first
  // call still unpaired and recent enough, up to the server's receive time.
  const first = new Map<string, number>();
  for (const s of [...servers].sort((a, b) => a.recv - b.recv)) {
    const from = s.worker !== null ? (servedClient(s.worker) ?? null) : null;
    const l = byMethod.get(s.method);
    if (!l) continue;
    let i = first.get(s.method) ?? 0;
    while (i < l.length && (l[i]!.server || l[i]!.sent < s.recv - PAIR_BEFORE_MS)) i++;
    first.set(s.method, i);
    for (; i < l.length && l[i]!.sent <= s.recv + PAIR_AFTER_MS; i++) {
      const c = l[i]!;
      if (c.server || (from !== null && c.thread !== from) || processOf(c.thread) === processOf(s.loop)) continue;
      c.server = s;
      s.client = c;
      break;
    }
  }
}

export class DebugLogImporter {
  private readonly clients: ClientSide[] = [];
  private readonly servers: ServerSide[] = [];
  private lines = 0;
  private readonly untimed: string[] = [];
  private files = 0;

  constructor(
    private readonly schemas: SchemaSet | null,
    private readonly onLine?: () => void,
  ) {}

  add(f: LogFile): void {
    const r = readFile(f, this.files++, this.clients, this.servers, this.onLine);
    this.lines += r.lines;
    if (!r.timed && r.lines > 0) this.untimed.push(f.name);
  }

  /** The session's rows: processes, threads, connections (one per pair of processes) and calls in the order they were sent. */
  finish(): ImportResult {
    pair(this.clients, this.servers);
    const procs = new ProcessTracker();
    const threads = new ThreadTracker(procs);
    const methods = new Map<string, { interfaceId: string; methodId: number; hasContext: boolean }>();
    if (this.schemas) {
      for (const i of this.schemas.interfaces.values()) {
        for (const m of i.methods) if (!methods.has(`${i.name}.${m.name}`)) methods.set(`${i.name}.${m.name}`, { interfaceId: i.id, methodId: m.ordinal, hasContext: m.hasContext });
      }
    }
    type Merged = { c?: ClientSide; s?: ServerSide; sent: number };
    const merged: Merged[] = [
      ...this.clients.map((c) => ({ c, s: c.server, sent: c.sent })),
      ...this.servers.filter((s) => !s.client).map((s) => ({ s, sent: s.recv })),
    ].sort((a, b) => a.sent - b.sent);
    const conns = new Map<string, ConnRow>();
    const calls: CallRow[] = [];
    const ends = new Map<number, number | null>();
    for (const { c, s, sent } of merged) {
      const method = (c ?? s)!.method;
      const dot = method.indexOf('.');
      const from = s?.worker != null ? (servedClient(s.worker) ?? null) : null;
      const caller = c ? threads.thread(c.thread, 'client', sent) : from !== null ? threads.thread(from, 'client', sent) : null;
      const loop = s ? threads.thread(s.loop, 'loop', s.recv) : null;
      const executor = s ? (s.worker !== null ? threads.thread(s.worker, 'worker', s.recv) : loop) : null;
      const serverProcess = s ? procs.ofThread(s.loop) : null;
      const clientProcess = caller !== null ? threads.rows.get(caller)!.process : procs.peerOf(serverProcess!);
      const server = serverProcess ?? procs.peerOf(clientProcess);
      if (s) procs.countRequest(server, s.req);
      const ck = `${clientProcess}>${server}`;
      let conn = conns.get(ck);
      if (!conn) {
        conn = { id: conns.size + 1, label: `log:${procs.label(clientProcess)} -> ${procs.label(server)}`, opened: sent, closed: null, closeReason: null, clientProcess, serverProcess: server };
        conns.set(ck, conn);
      }
      // The caller's view when the client's log has it; else the server's.
      const view = c && (c.status !== 'pending' || !s) ? c : s!;
      const info = methods.get(method);
      const status: CallStatus = view.status;
      const row: CallRow = {
        id: calls.length + 1,
        conn: conn.id,
        dir: '>',
        questionId: -1,
        interfaceId: info?.interfaceId ?? '',
        methodId: info?.methodId ?? -1,
        iface: dot > 0 ? method.slice(0, dot) : null,
        method: dot > 0 ? method.slice(dot + 1) : method,
        title: method,
        target: dot > 0 ? method.slice(0, dot) : method,
        hasContext: info?.hasContext ?? s?.worker != null,
        caller,
        executor,
        clientProcess,
        serverProcess: server,
        parent: null,
        depth: 0,
        status,
        exception: c?.exception ?? s?.exception ?? null,
        requestNo: s?.req ?? null,
        sent,
        returned: view.returned,
        cancelRequested: null,
        finished: null,
        params: c?.params ?? s?.params ?? null,
        results: c?.results ?? s?.results ?? null,
        retired: status !== 'pending',
      };
      calls.push(row);
      ends.set(row.id, view.ended);
      if (status === 'disconnected' && view.ended !== null && (conn.closed === null || conn.closed < view.ended)) {
        conn.closed = view.ended;
        conn.closeReason = 'as logged';
      }
    }
    const nester = new CallNester((c) => ends.get(c.id) ?? c.returned);
    for (const c of calls) nester.nest(c);
    const delta = emptyDelta();
    delta.processes = [...procs.rows.values()];
    delta.threads = [...threads.rows.values()];
    delta.connections = [...conns.values()];
    delta.calls = calls;
    return { delta, lines: this.lines, untimed: this.untimed };
  }
}
