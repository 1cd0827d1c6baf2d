// The -debug=ipc-style log of a session that has no recorded bytes (an
// imported log, a merged session): the same lines ipclog.ts prints, made
// from call rows (client send, server recv/post, server send/error, client
// recv/exception), in time order.

import type { SessionRows } from '../store/reader.js';
import { RowIndex } from '../session/row-index.js';
import { logEscape } from '../decoder/text.js';
import { formatDuration, isThreadInterface, loopLabel } from '../mp/concepts.js';
import { callLines, interruptedLine, isoTime, returnLines, type CallWords } from './ipclog.js';

export interface RowLogOptions {
  maxChars?: number;
  redact?: ((text: string) => string) | null;
}

export function rowLogLines(rows: SessionRows, opts: RowLogOptions = {}): string[] {
  const ix = new RowIndex(rows.processes, rows.threads);
  const maxChars = opts.maxChars ?? Infinity;
  const data = (t: string | null) => (t === null ? '' : ' ' + logEscape(opts.redact ? opts.redact(t) : t, maxChars));
  const out: { t: number; n: number; line: string }[] = [];
  const loops = new Map<number, string>();
  for (const t of rows.threads) if (t.role === 'loop' && !loops.has(t.process)) loops.set(t.process, t.label);
  const closedAt = new Map(rows.connections.map((k) => [k.id, k.closed]));
  let n = 0;
  const L = (t: number, conn: number, dir: string, body: string) => out.push({ t, n: n++, line: `${isoTime(t)} c${conn} ${dir} ${body}` });
  for (const c of rows.connections) {
    L(c.opened, c.id, '-', `IPC wire connect ${c.label}`);
    if (c.closed !== null) L(c.closed, c.id, '-', `IPC wire disconnect${c.closeReason ? ` (${c.closeReason})` : ''}`);
  }
  const byId = new Map(rows.calls.map((c) => [c.id, c]));
  for (const c of rows.calls) {
    const parent = c.parent !== null ? byId.get(c.parent) : undefined;
    const w: CallWords = {
      caller: ix.callerLabel(c),
      server: loops.get(c.serverProcess) ?? loopLabel(ix.processLabel(c.serverProcess)),
      executor: c.hasContext ? ix.executorLabel(c) : null,
      title: c.title,
      named: c.iface !== null && c.method !== null,
      wire: isThreadInterface(c.interfaceId),
      questionId: c.questionId,
      requestNo: c.requestNo,
      target: c.target,
      parent: parent ? { no: parent.requestNo ?? parent.id, title: parent.title } : null,
      status: c.status,
      exception: c.exception,
    };
    const back = c.dir === '>' ? '<' : '>';
    for (const l of callLines(w, data(c.params))) L(c.sent, c.conn, c.dir, l);
    if (c.returned === null) {
      const closed = closedAt.get(c.conn);
      if (c.status === 'disconnected' && closed != null) {
        L(closed, c.conn, c.dir, interruptedLine(w.caller, c.title, c.requestNo, closed - c.sent));
      }
      continue;
    }
    for (const l of returnLines(w, data(c.results), formatDuration(c.returned - c.sent, true))) L(c.returned, c.conn, back, l);
  }
  return out.sort((a, b) => a.t - b.t || a.n - b.n).map((o) => o.line);
}
