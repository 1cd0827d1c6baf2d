// `export --format perfetto`: Chrome trace-event JSON (the format
// ui.perfetto.dev and chrome://tracing open). One process track per process
// (pid = the session's process id, named by a process_name metadata event),
// one thread track per thread (tid = the session's thread id, thread_name).
// Every call is a complete ('X') slice twice: on the thread that waits for it
// and on the thread that executes it, joined by a v2 flow (bind_id = the call
// id, flow_out on the waiting slice, flow_in on the executing one). A
// callback's waiting slice lies inside the executing slice of the call it
// serves, so its arrow leaves from there: the flow from a call to its
// callbacks. Finish, Release and disconnects are process-scoped instants.
// Times are integer microseconds from the session's start (exact in JSON, so
// slices nest exactly); where two calls overlap on one thread without
// nesting (a call queued behind another on a busy worker, or two calls sent
// at once from one thread), the later one's slice starts when the earlier
// ends and its args say by how much ("queued_us").

import type { SessionRows } from '../store/reader.js';
import type { CallRow } from '../session/rows.js';
import { RowIndex, latencyMs } from '../session/row-index.js';
import { isoTime } from '../log/ipclog.js';
import { sessionEnd, sessionStart } from './times.js';
import { loopLabel } from '../mp/concepts.js';

export interface TraceEvent {
  name: string;
  ph: 'X' | 'M' | 'i';
  pid: number;
  tid?: number;
  ts?: number;
  dur?: number;
  cat?: string;
  s?: 'p' | 't' | 'g';
  bind_id?: number;
  flow_in?: boolean;
  flow_out?: boolean;
  args?: Record<string, unknown>;
}

export interface TraceJson {
  traceEvents: TraceEvent[];
  displayTimeUnit: 'ms';
  otherData: Record<string, string>;
}

interface Slice {
  track: number;
  start: number;
  end: number;
  ev: TraceEvent;
}

/** Synthetic tracks: a process's unknown calling thread (`P/?`), and its event loop when no thread row names it. */
const UNKNOWN_CALLER = 1_000_000_000;
const EVENT_LOOP = 2_000_000_000;

/** Orders a track's slices so they nest: a slice overlapping the one open before it without nesting starts when that one ends. */
function nestTrack(slices: Slice[]): void {
  const cmp = (a: Slice, b: Slice) => a.start - b.start || b.end - a.end;
  slices.sort(cmp);
  const stack: Slice[] = [];
  for (let i = 0; i < slices.length; i++) {
    const s = slices[i]!;
    while (stack.length && stack[stack.length - 1]!.end <= s.start) stack.pop();
    const top = stack[stack.length - 1];
    if (top && s.end > top.end) {
      const by = top.end - s.start;
      s.start = top.end;
      s.ev.ts = s.start;
      s.ev.dur = s.end - s.start;
      s.ev.args!.queued_us = ((s.ev.args!.queued_us as number | undefined) ?? 0) + by;
      // Re-place it among the slices still to come.
      slices.splice(i, 1);
      let lo = i;
      let hi = slices.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (cmp(slices[mid]!, s) <= 0) lo = mid + 1;
        else hi = mid;
      }
      slices.splice(lo, 0, s);
      i--;
      continue;
    }
    stack.push(s);
  }
}

export function perfettoTrace(rows: SessionRows): TraceJson {
  const ix = new RowIndex(rows.processes, rows.threads);
  const base = sessionStart(rows);
  const us = (ms: number) => Math.round((ms - base) * 1000);
  const end = sessionEnd(rows);
  const closed = new Map(rows.connections.map((c) => [c.id, c.closed]));
  const conns = new Map(rows.connections.map((c) => [c.id, c]));
  const byId = new Map(rows.calls.map((c) => [c.id, c]));
  const events: TraceEvent[] = [];
  const tracks = new Map<number, { pid: number; name: string }>();

  for (const p of rows.processes) {
    events.push({ name: 'process_name', ph: 'M', pid: p.id, args: { name: p.label } });
    if (p.pid !== null) events.push({ name: 'process_labels', ph: 'M', pid: p.id, args: { labels: `pid ${p.pid}` } });
  }
  for (const t of rows.threads) tracks.set(t.id, { pid: t.process, name: t.label });

  const executorTrack = (c: CallRow): number => {
    if (c.executor !== null) return c.executor;
    const id = EVENT_LOOP + c.serverProcess;
    if (!tracks.has(id)) tracks.set(id, { pid: c.serverProcess, name: loopLabel(ix.processLabel(c.serverProcess)) });
    return id;
  };
  const callerTrack = (c: CallRow): number => {
    if (c.caller !== null) return c.caller;
    const parent = c.parent !== null ? byId.get(c.parent) : undefined;
    if (parent) return executorTrack(parent);
    const id = UNKNOWN_CALLER + c.clientProcess;
    if (!tracks.has(id)) tracks.set(id, { pid: c.clientProcess, name: `${ix.processLabel(c.clientProcess)}/?` });
    return id;
  };

  const slices: Slice[] = [];
  for (const c of rows.calls) {
    const stop = c.returned ?? (c.status === 'disconnected' ? (closed.get(c.conn) ?? end) : end);
    const start = us(c.sent);
    const stopUs = Math.max(start, us(stop));
    const args = (side: 'waiting' | 'executing'): Record<string, unknown> => ({
      call: c.id,
      side,
      status: c.status,
      target: c.target,
      caller: ix.callerLabel(c),
      executor: ix.executorLabel(c),
      ...(c.requestNo !== null ? { request: c.requestNo } : {}),
      ...(c.parent !== null ? { parent_call: c.parent } : {}),
      latency_ms: latencyMs(c),
      params: c.params,
      ...(c.results !== null ? { results: c.results } : {}),
      ...(c.exception !== null ? { exception: c.exception } : {}),
    });
    const wt = callerTrack(c);
    const et = executorTrack(c);
    const flow = wt !== et;
    const mk = (track: number, cat: string, side: 'waiting' | 'executing', dirFlow: 'flow_out' | 'flow_in'): Slice => {
      const ev: TraceEvent = { name: c.title, cat, ph: 'X', pid: tracks.get(track)!.pid, tid: track, ts: start, dur: stopUs - start, args: args(side) };
      if (flow) {
        ev.bind_id = c.id;
        ev[dirFlow] = true;
      }
      return { track, start, end: stopUs, ev };
    };
    slices.push(mk(wt, 'ipc.call', 'waiting', 'flow_out'));
    slices.push(mk(et, 'ipc.serve', 'executing', 'flow_in'));
    if (c.finished !== null) {
      const cancel = c.cancelRequested !== null && (c.returned === null || c.cancelRequested < c.returned);
      events.push({
        name: cancel ? `Cancel ${c.title}` : `Finish ${c.title}`,
        cat: 'ipc.wire',
        ph: 'i',
        s: 'p',
        pid: c.clientProcess,
        ts: us(c.finished),
        args: { call: c.id, question: c.questionId, conn: c.conn },
      });
    }
  }
  const perTrack = new Map<number, Slice[]>();
  for (const s of slices) {
    let l = perTrack.get(s.track);
    if (!l) perTrack.set(s.track, (l = []));
    l.push(s);
  }
  for (const l of perTrack.values()) nestTrack(l);

  for (const [id, t] of tracks) events.push({ name: 'thread_name', ph: 'M', pid: t.pid, tid: id, args: { name: t.name } });
  for (const cap of rows.caps) {
    if (cap.released === null) continue;
    const conn = conns.get(cap.conn);
    const pid = conn ? (cap.owner === 'A' ? conn.clientProcess : conn.serverProcess) : null;
    if (pid === null) continue;
    events.push({ name: `Release ${cap.label}`, cat: 'ipc.wire', ph: 'i', s: 'p', pid, ts: us(cap.released), args: { cap: cap.id, conn: cap.conn } });
  }
  for (const k of rows.connections) {
    if (k.closed === null) continue;
    for (const pid of new Set([k.clientProcess, k.serverProcess])) {
      events.push({ name: 'disconnect', cat: 'ipc.wire', ph: 'i', s: 'p', pid, ts: us(k.closed), args: { conn: k.id, label: k.label, reason: k.closeReason } });
    }
  }
  for (const l of perTrack.values()) for (const s of l) events.push(s.ev);
  return {
    traceEvents: events,
    displayTimeUnit: 'ms',
    otherData: { producer: 'ipc-trace', session_start: isoTime(base), source: rows.meta.source ?? 'recording' },
  };
}
