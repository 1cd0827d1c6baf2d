// The `-debug=ipc`-style log: one line per event in libmultiprocess's words
// (client send/recv on the caller's thread, server recv/post/send numbered
// per server process), plus the wire-only events libmultiprocess does not
// log. Each line starts with the event's time, the connection and the
// message's direction. Params/results are escaped like LogEscape and only
// cut with --max-chars.

import type { DecodedMessage, Dir } from '../decoder/messages.js';
import { describeRpc } from '../decoder/describe.js';
import { logEscape } from '../decoder/text.js';
import type { Sink } from '../session/pipeline.js';
import type { Update } from '../session/model.js';
import { formatDuration, isThreadInterface, loopLabel, unknownThreadLabel } from '../mp/concepts.js';
import { CallRecord, CapRecord, ConnRecord, ProcessRecord, threadLabel } from '../session/records.js';
import type { Intervention } from '../intercept/engine.js';

/** The caller as shown in `{…}`: calls without a Context carry no thread on the wire. */
export function callerLabel(c: CallRecord): string {
  return c.caller ? threadLabel(c.caller) : unknownThreadLabel(c.clientProcess.label);
}

let isoSecond = NaN;
let isoPrefix = '';

export function isoTime(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== isoSecond) {
    // One Date per second of log, not per line.
    isoSecond = second;
    isoPrefix = new Date(second * 1000).toISOString().slice(0, 19) + '.';
  }
  const micros = Math.floor((ms - second * 1000) * 1000);
  return isoPrefix + String(micros).padStart(6, '0') + 'Z';
}


function capName(c: CapRecord | null, fallback: string): string {
  return c ? c.label : fallback;
}

export class IpcLog implements Sink {
  constructor(
    private readonly write: (line: string) => void,
    private readonly maxChars = Infinity,
    /** Masks secrets in params/results before they are printed (replay --redact). */
    private readonly redact: ((text: string) => string) | null = null,
  ) {}

  private data(text: string | null): string {
    if (text === null) return '';
    return ' ' + logEscape(this.redact ? this.redact(text) : text, this.maxChars);
  }

  private line(time: number, conn: number, dir: Dir | '-', body: string): void {
    this.write(`${isoTime(time)} c${conn} ${dir} ${body}`);
  }

  open(conn: ConnRecord): void {
    this.line(conn.opened, conn.id, '-', `IPC wire connect ${conn.label}`);
  }

  message(conn: ConnRecord, d: DecodedMessage, u: Update, time: number): void {
    const L = (body: string) => this.line(time, conn.id, d.dir, body);
    switch (u.kind) {
      case 'call':
        return this.call(L, u.call, u.makeThread !== null);
      case 'return':
        return this.ret(L, u.call, time);
      case 'bootstrap':
        return L(`IPC wire bootstrap q${u.questionId}`);
      case 'bootstrapReturn':
        return L(`IPC wire bootstrap q${u.questionId} returned ${capName(u.cap, 'no capability')}`);
      case 'finish':
        if (u.cancel) return L(`IPC wire cancel q${u.questionId} ${u.call?.title ?? ''} (Finish before Return)`.trimEnd());
        return L(`IPC wire finish q${u.questionId}${u.call ? ' ' + u.call.title : ''}`);
      case 'release': {
        const gone = u.cap && u.cap.refs <= 0 ? ', released' : u.cap ? `, ${u.cap.refs} left` : '';
        return L(`IPC wire release ${capName(u.cap, `cap#${u.id}`)} x${u.count}${gone}`);
      }
      case 'resolve':
        return L(
          `IPC wire resolve ${capName(u.cap, `promise#${u.promiseId}`)} -> ${u.exception !== null ? `exception: ${u.exception}` : capName(u.to, '?')}`,
        );
      case 'abort':
        return L(`IPC wire abort ${u.reason}`);
      case 'error':
        return L(`IPC wire ${u.framing ? 'framing' : 'decode'} error at byte ${u.offset}: ${u.error}`);
      case 'disembargo':
      case 'other':
        return L(`IPC wire ${u.rpc ? describeRpc(u.rpc) : 'message'}`);
    }
  }

  private call(L: (b: string) => void, c: CallRecord, makeThread: boolean): void {
    const caller = callerLabel(c);
    if (makeThread || isThreadInterface(c.interfaceId)) {
      L(`{${caller}} IPC wire ${c.title} q${c.questionId}${this.data(c.params)}`);
      return;
    }
    L(`{${caller}} IPC client send ${c.iface ? `${c.iface}.${c.method}$Params` : c.title}${this.data(c.params)}`);
    const loop = loopLabel(c.serverProcess.label);
    const req = c.requestNo !== null ? `#${c.requestNo} ` : '';
    L(`{${loop}} IPC server recv request  ${req}${c.iface ? `${c.iface}.${c.method}$Params` : c.title} to ${c.target}`);
    if (c.hasContext) L(`{${loop}} IPC server post request  ${req}{${threadLabel(c.executor)}}${c.parent ? ` (callback inside #${c.parent.requestNo ?? c.parent.id} ${c.parent.title})` : ''}`);
  }

  private ret(L: (b: string) => void, c: CallRecord, time: number): void {
    const caller = callerLabel(c);
    const latency = formatDuration(time - c.sent, true);
    if (isThreadInterface(c.interfaceId)) {
      L(`{${caller}} IPC wire ${c.title} q${c.questionId} returned${this.data(c.results)} [${latency}]`);
      return;
    }
    const loop = loopLabel(c.serverProcess.label);
    const req = c.requestNo !== null ? `#${c.requestNo} ` : '';
    const results = c.iface ? `${c.iface}.${c.method}$Results` : c.title;
    if (c.status === 'exception') {
      L(`{${loop}} IPC server error request ${req}${results} kj::Exception: ${c.exception}`);
      L(`{${caller}} IPC client exception kj::Exception: ${c.exception} [${latency}]`);
      return;
    }
    if (c.status === 'canceled') {
      L(`{${caller}} IPC wire return ${req}${c.title} canceled [${latency}]`);
      return;
    }
    L(`{${loop}} IPC server send response ${req}${results}${this.data(c.results)}`);
    L(`{${caller}} IPC client recv ${results}${this.data(c.results)} [${latency}]`);
  }

  end(conn: ConnRecord, dir: Dir, time: number): void {
    this.line(time, conn.id, dir, `IPC wire end of stream (${dir === '>' ? conn.processes.A.label : conn.processes.B.label} closed its side)`);
  }

  close(conn: ConnRecord, time: number, reason: string | null, interrupted: CallRecord[]): void {
    this.line(time, conn.id, '-', `IPC wire disconnect${reason ? ` (${reason})` : ''}`);
    for (const c of interrupted) {
      this.line(
        time,
        conn.id,
        c.dir,
        `{${callerLabel(c)}} IPC client method call interrupted by disconnect: ${c.title}${c.requestNo !== null ? ` #${c.requestNo}` : ''} after ${formatDuration(time - c.sent, true)}`,
      );
    }
  }

  processNamed(conn: ConnRecord, was: string, process: ProcessRecord, time: number): void {
    this.line(time, conn.id, '-', `IPC wire ${was} is ${process.label}`);
  }

  gap(conn: ConnRecord, dir: Dir, bytes: number, time: number): void {
    this.line(time, conn.id, dir, `IPC wire recorder gap: ${bytes} bytes relayed but not decoded`);
  }

  /** `IPC wire hold #1 c1 > call …`, `IPC wire release …`, `IPC wire injected exception …` (src/intercept/). */
  intervention(conn: ConnRecord, ev: Intervention): void {
    this.line(ev.time, conn.id, ev.dir, `IPC wire ${ev.text}`);
  }
}
