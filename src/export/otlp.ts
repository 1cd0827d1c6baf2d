// `export --format otlp`: the calls as OpenTelemetry spans in OTLP/JSON
// (ExportTraceServiceRequest: resourceSpans → scopeSpans → spans), the body
// an OTLP/HTTP collector (Jaeger, Tempo, the OpenTelemetry Collector)
// accepts at /v1/traces. One resource per process (service.name = its
// label); each call is two spans, as OpenTelemetry's RPC conventions have
// it: a CLIENT span in the process that makes the call and, as its child, a
// SERVER span in the process that executes it (so a process that only makes
// calls, like a mining client, is a service too). A callback's CLIENT span
// is a child of the SERVER span of the call it serves, so one trace is a
// call with everything nested in it. Ids are hex (trace 32, span 16 digits),
// derived from a session key and the call id, so exporting twice gives the
// same ids; enums are integers and 64-bit values strings, as OTLP/JSON
// requires.

import { createHash } from 'node:crypto';
import type { SessionRows } from '../store/reader.js';
import type { CallRow } from '../session/rows.js';
import { RowIndex, latencyMs } from '../session/row-index.js';
import { sessionEnd } from './times.js';

type AnyValue = { stringValue: string } | { intValue: string } | { boolValue: boolean } | { doubleValue: number };
export interface KeyValue {
  key: string;
  value: AnyValue;
}

export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: KeyValue[];
  status: { code: number; message?: string };
}

export interface OtlpRequest {
  resourceSpans: { resource: { attributes: KeyValue[] }; scopeSpans: { scope: { name: string; version: string }; spans: OtlpSpan[] }[] }[];
}

export const SPAN_KIND_SERVER = 2;
export const SPAN_KIND_CLIENT = 3;
export const STATUS_UNSET = 0;
export const STATUS_OK = 1;
export const STATUS_ERROR = 2;

function hex(key: string, digits: number): string {
  return createHash('sha256').update(key).digest('hex').slice(0, digits);
}

/** ms since the epoch (fractional) as decimal nanoseconds, exactly. */
export function unixNano(ms: number): string {
  const whole = Math.floor(ms);
  const frac = Math.round((ms - whole) * 1e6);
  return (BigInt(whole) * 1_000_000n + BigInt(frac)).toString();
}

const str = (key: string, v: string): KeyValue => ({ key, value: { stringValue: v } });
const int = (key: string, v: number): KeyValue => ({ key, value: { intValue: String(v) } });

export interface OtlpOptions {
  /** Distinguishes sessions' ids (default: the session's start time and database meta). */
  sessionKey?: string;
  version?: string;
}

export function otlpRequest(rows: SessionRows, opts: OtlpOptions = {}): OtlpRequest {
  const ix = new RowIndex(rows.processes, rows.threads);
  const key = opts.sessionKey ?? `${rows.meta.started ?? ''}|${rows.span.start ?? ''}|${rows.meta.source ?? ''}`;
  const end = sessionEnd(rows);
  const closed = new Map(rows.connections.map((c) => [c.id, c.closed]));
  const byId = new Map(rows.calls.map((c) => [c.id, c]));
  const rootOf = new Map<number, number>();
  const root = (c: CallRow): number => {
    let r = rootOf.get(c.id);
    if (r !== undefined) return r;
    const p = c.parent !== null ? byId.get(c.parent) : undefined;
    r = p ? root(p) : c.id;
    rootOf.set(c.id, r);
    return r;
  };
  const serverSpanId = (id: number) => hex(`${key}|span|${id}`, 16);
  const clientSpanId = (id: number) => hex(`${key}|client|${id}`, 16);
  const perProcess = new Map<number, OtlpSpan[]>();
  const add = (pid: number, span: OtlpSpan) => {
    let l = perProcess.get(pid);
    if (!l) perProcess.set(pid, (l = []));
    l.push(span);
  };
  for (const c of rows.calls) {
    const stop = c.returned ?? (c.status === 'disconnected' ? (closed.get(c.conn) ?? end) : end);
    const rpc = [
      str('rpc.system', 'capnp'),
      str('rpc.service', c.iface ?? c.interfaceId),
      str('rpc.method', c.method ?? String(c.methodId)),
      int('ipc.call_id', c.id),
      int('ipc.conn', c.conn),
    ];
    const attributes: KeyValue[] = [
      ...rpc,
      int('ipc.question_id', c.questionId),
      str('ipc.status', c.status),
      str('ipc.target', c.target),
      str('ipc.caller_thread', ix.callerLabel(c)),
      str('ipc.executor_thread', ix.executorLabel(c)),
      str('ipc.client_process', ix.processLabel(c.clientProcess)),
    ];
    if (c.requestNo !== null) attributes.push(int('ipc.request', c.requestNo));
    const lat = latencyMs(c);
    if (lat !== null) attributes.push({ key: 'ipc.latency_ms', value: { doubleValue: lat } });
    if (c.params !== null) attributes.push(str('ipc.params', c.params));
    if (c.results !== null) attributes.push(str('ipc.results', c.results));
    const failed = c.status === 'exception' || c.status === 'disconnected';
    const status: OtlpSpan['status'] = failed
      ? { code: STATUS_ERROR, message: c.exception ?? (c.status === 'disconnected' ? 'interrupted by disconnect' : c.status) }
      : c.status === 'returned'
        ? { code: STATUS_OK }
        : { code: STATUS_UNSET, ...(c.status !== 'pending' ? { message: c.status } : {}) };
    const traceId = hex(`${key}|trace|${root(c)}`, 32);
    const startTimeUnixNano = unixNano(c.sent);
    const endTimeUnixNano = unixNano(Math.max(c.sent, stop));
    const client: OtlpSpan = {
      traceId,
      spanId: clientSpanId(c.id),
      name: c.title,
      kind: SPAN_KIND_CLIENT,
      startTimeUnixNano,
      endTimeUnixNano,
      attributes: [...rpc, str('ipc.caller_thread', ix.callerLabel(c))],
      status,
    };
    if (c.parent !== null && byId.has(c.parent)) client.parentSpanId = serverSpanId(c.parent);
    add(c.clientProcess, client);
    add(c.serverProcess, {
      traceId,
      spanId: serverSpanId(c.id),
      parentSpanId: client.spanId,
      name: c.title,
      kind: SPAN_KIND_SERVER,
      startTimeUnixNano,
      endTimeUnixNano,
      attributes,
      status,
    });
  }
  const scope = { name: 'ipc-trace', version: opts.version ?? '0' };
  return {
    resourceSpans: [...perProcess].map(([pid, spans]) => {
      const p = ix.processes.get(pid);
      const attributes = [str('service.name', ix.processLabel(pid))];
      if (p?.exe) attributes.push(str('process.executable.name', p.exe));
      if (p?.pid !== null && p?.pid !== undefined) attributes.push(int('process.pid', p.pid));
      return { resource: { attributes }, scopeSpans: [{ scope, spans }] };
    }),
  };
}

/** Splits a request into requests of at most `max` spans each (collectors limit a request's size). */
export function* otlpBatches(req: OtlpRequest, max: number): Generator<OtlpRequest> {
  let cur: OtlpRequest = { resourceSpans: [] };
  let n = 0;
  for (const rs of req.resourceSpans) {
    const spans = rs.scopeSpans[0]!.spans;
    for (let i = 0; i < spans.length; ) {
      const take = spans.slice(i, i + (max - n));
      cur.resourceSpans.push({ resource: rs.resource, scopeSpans: [{ scope: rs.scopeSpans[0]!.scope, spans: take }] });
      n += take.length;
      i += take.length;
      if (n >= max) {
        yield cur;
        cur = { resourceSpans: [] };
        n = 0;
      }
    }
  }
  if (n > 0) yield cur;
}
