// The -debug=ipc-style log of a session that has no recorded bytes (an
// imported log, a merged session): the same lines ipclog.ts prints, made
// from call rows (client send, server recv/post, server send/error, client
// recv/exception), in time order.

import type { SessionRows } from '../store/reader.js';
import { RowIndex } from '../session/row-index.js';
import { logEscape } from '../decoder/text.js';
import { formatDuration, loopLabel } from '../mp/concepts.js';
import { isoTime } from './ipclog.js';

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
  for (const c of rows.calls) {
    const caller = ix.callerLabel(c);
    const server = loops.get(c.serverProcess) ?? loopLabel(ix.processLabel(c.serverProcess));
    const req = c.requestNo !== null ? `#${c.requestNo} ` : '';
    const params = c.iface ? `${c.title}$Params` : c.title;
    const results = c.iface ? `${c.title}$Results` : c.title;
    const back = c.dir === '>' ? '<' : '>';
    L(c.sent, c.conn, c.dir, `{${caller}} IPC client send ${params}${data(c.params)}`);
    L(c.sent, c.conn, c.dir, `{${server}} IPC server recv request  ${req}${params} to ${c.target}`);
    if (c.hasContext) L(c.sent, c.conn, c.dir, `{${server}} IPC server post request  ${req}{${ix.executorLabel(c)}}`);
    if (c.returned === null) {
      const closed = closedAt.get(c.conn);
      if (c.status === 'disconnected' && closed != null) {
        L(closed, c.conn, c.dir, `{${caller}} IPC client method call interrupted by disconnect: ${c.title}${c.requestNo !== null ? ` #${c.requestNo}` : ''} after ${formatDuration(closed - c.sent, true)}`);
      }
      continue;
    }
    const latency = formatDuration(c.returned - c.sent, true);
    if (c.status === 'exception') {
      L(c.returned, c.conn, back, `{${server}} IPC server error request ${req}${results} kj::Exception: ${c.exception}`);
      L(c.returned, c.conn, back, `{${caller}} IPC client exception kj::Exception: ${c.exception} [${latency}]`);
    } else {
      L(c.returned, c.conn, back, `{${server}} IPC server send response ${req}${results}${data(c.results)}`);
      L(c.returned, c.conn, back, `{${caller}} IPC client recv ${results}${data(c.results)} [${latency}]`);
    }
  }
  return out.sort((a, b) => a.t - b.t || a.n - b.n).map((o) => o.line);
}
