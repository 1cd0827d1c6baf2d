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


/** The log's line for a recording whose end was written without the recording thread (src/store/takeover.ts). */
export function recordingCutLine(time: number, text: string): string {
  return `${isoTime(time)} - - IPC wire recording cut: ${text}`;
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
    for (const l of callLines(this.words(c, makeThread), this.data(c.params))) L(l);
  }

  private ret(L: (b: string) => void, c: CallRecord, time: number): void {
    for (const l of returnLines(this.words(c, false), this.data(c.results), formatDuration(time - c.sent, true))) L(l);
  }

  private words(c: CallRecord, makeThread: boolean): CallWords {
    return {
      caller: callerLabel(c),
      server: loopLabel(c.serverProcess.label),
      executor: c.hasContext ? threadLabel(c.executor) : null,
      title: c.title,
      named: c.iface !== null && c.method !== null,
      wire: makeThread || isThreadInterface(c.interfaceId),
      questionId: c.questionId,
      requestNo: c.requestNo,
      target: c.target,
      parent: c.parent ? { no: c.parent.requestNo ?? c.parent.id, title: c.parent.title } : null,
      status: c.status,
      exception: c.exception,
    };
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
        interruptedLine(callerLabel(c), c.title, c.requestNo, time - c.sent),
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

/** A call as the log words it: labels already resolved (from records live and in replay, from rows for a session without bytes). */
export interface CallWords {
  caller: string;
  /** The serving process's event loop, which receives and posts requests. */
  server: string;
  /** The thread the request is posted to (calls with a Context), else null. */
  executor: string | null;
  title: string;
  /** Interface and method are known: `Iface.method$Params` / `$Results`. */
  named: boolean;
  /** libmultiprocess's own ThreadMap/Thread calls (and makeThread): `IPC wire` lines. */
  wire: boolean;
  questionId: number;
  requestNo: number | null;
  target: string;
  /** The call a callback serves. */
  parent: { no: number; title: string } | null;
  status: string;
  exception: string | null;
}

/** The lines of a Call: client send, server recv request and post request (`data` is ' PARAMS' or ''). */
export function callLines(w: CallWords, data: string): string[] {
  if (w.wire) return [`{${w.caller}} IPC wire ${w.title} q${w.questionId}${data}`];
  const params = w.named ? `${w.title}$Params` : w.title;
  const req = w.requestNo !== null ? `#${w.requestNo} ` : '';
  const lines = [`{${w.caller}} IPC client send ${params}${data}`, `{${w.server}} IPC server recv request  ${req}${params} to ${w.target}`];
  if (w.executor !== null) lines.push(`{${w.server}} IPC server post request  ${req}{${w.executor}}${w.parent ? ` (callback inside #${w.parent.no} ${w.parent.title})` : ''}`);
  return lines;
}

/** The lines of a call's Return (`data` is ' RESULTS' or '', `latency` as the log prints it). */
export function returnLines(w: CallWords, data: string, latency: string): string[] {
  if (w.wire) return [`{${w.caller}} IPC wire ${w.title} q${w.questionId} returned${data} [${latency}]`];
  const req = w.requestNo !== null ? `#${w.requestNo} ` : '';
  const results = w.named ? `${w.title}$Results` : w.title;
  if (w.status === 'exception') {
    return [`{${w.server}} IPC server error request ${req}${results} kj::Exception: ${w.exception}`, `{${w.caller}} IPC client exception kj::Exception: ${w.exception} [${latency}]`];
  }
  if (w.status === 'canceled') return [`{${w.caller}} IPC wire return ${req}${w.title} canceled [${latency}]`];
  return [`{${w.server}} IPC server send response ${req}${results}${data}`, `{${w.caller}} IPC client recv ${results}${data} [${latency}]`];
}

/** A call a disconnect cut, as the caller's side logs it. */
export function interruptedLine(caller: string, title: string, requestNo: number | null, ms: number): string {
  return `{${caller}} IPC client method call interrupted by disconnect: ${title}${requestNo !== null ? ` #${requestNo}` : ''} after ${formatDuration(ms, true)}`;
}
