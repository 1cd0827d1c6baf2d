// The -debug=ipc-style log through a filter (`replay --filter`, the replay
// log pane): a line written for a call passes when the call, as it stands at
// that line, matches (so `status:exception` keeps the exception lines and
// `slow:>100ms` the returns that took that long); other lines (connects,
// releases, disconnects) pass when their text matches (compileLineFilter).

import type { Sink } from '../session/pipeline.js';
import type { Update } from '../session/model.js';
import type { DecodedMessage } from '../decoder/messages.js';
import { CallRecord, ConnRecord, threadLabel } from '../session/records.js';
import { callRow } from '../session/rows.js';
import { IpcLog } from '../log/ipclog.js';
import type { FilterExpr } from './parse.js';
import { compileFilter, compileLineFilter } from './match.js';

/** Sinks that write the log's lines that pass `expr` (feed them to a Pipeline in this order). */
export function filteredLogSinks(expr: FilterExpr, write: (line: string) => void, maxChars = Infinity, redact: ((text: string) => string) | null = null): Sink[] {
  if (expr.k === 'all') return [new IpcLog(write, maxChars, redact)];
  const threads = new Map<number, string>();
  const processes = new Map<number, string>();
  let now = 0;
  const matchCall = compileFilter(expr, { threadLabel: (id) => threads.get(id), processLabel: (id) => processes.get(id), get now() { return now; } });
  const matchLine = compileLineFilter(expr);
  let current: CallRecord | null = null;
  const note = (c: CallRecord) => {
    if (c.caller) threads.set(c.caller.id, threadLabel(c.caller));
    if (c.executor) threads.set(c.executor.id, threadLabel(c.executor));
    processes.set(c.clientProcess.id, c.clientProcess.label);
    processes.set(c.serverProcess.id, c.serverProcess.label);
  };
  const tracker: Sink = {
    message(_conn: ConnRecord, _d: DecodedMessage, u: Update, time: number) {
      now = time;
      current = u.kind === 'call' || u.kind === 'return' ? u.call : u.kind === 'finish' ? u.call : null;
      if (current) note(current);
    },
    open() {
      current = null;
    },
    end() {
      current = null;
    },
    close(_c, time, _r, interrupted) {
      now = time;
      current = null;
      for (const c of interrupted) note(c);
    },
    gap() {
      current = null;
    },
  };
  const log = new IpcLog((line) => {
    const c = current;
    if (c ? matchCall(callRow(c)) : matchLine(line)) write(line);
  }, maxChars, redact);
  return [tracker, log];
}
