// Reading libmultiprocess `-debug=ipc` logs, and our log, into comparable
// events, and comparing them.

import { expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers.js';
import { parseHexlog } from '../../src/decoder/hexlog.js';
import { bundledSchemaSet } from '../../src/decoder/sources.js';
import { parseLogLine } from '../../src/log/vocabulary.js';

const CAP = join(ROOT, 'test/fixtures/captures');

export interface LogEvent {
  side: 'client' | 'server';
  kind: 'send' | 'recv' | 'request' | 'response' | 'post';
  /** client: the caller thread; post: the worker (or executing thread). */
  thread: string;
  type: string;
  req: number | null;
  timeMs: number | null;
}

/** Our log's and libmultiprocess's lines, read with the one log vocabulary (src/log/vocabulary.ts). */
export function parseIpcLog(text: string): LogEvent[] {
  const out: LogEvent[] = [];
  for (const line of text.split('\n')) {
    const p = parseLogLine(line);
    if (!p) continue;
    const l = p.line;
    const timeMs = p.time;
    if (l.kind === 'server-post') out.push({ side: 'server', kind: 'post', thread: l.worker, type: '', req: l.req, timeMs });
    else if (l.kind === 'server-request' || l.kind === 'server-response')
      out.push({ side: 'server', kind: l.kind === 'server-request' ? 'request' : 'response', thread: l.thread, type: l.type, req: l.req, timeMs });
    else if (l.kind === 'client-send' || l.kind === 'client-recv') out.push({ side: 'client', kind: l.kind === 'client-send' ? 'send' : 'recv', thread: l.thread, type: l.type, req: null, timeMs });
  }
  return out;
}

/** The client thread a worker was made for: `X (from Y)` → Y; a thread running a callback is itself. */
export function fromThread(worker: string): string {
  const m = /\(from (.*)\)$/.exec(worker);
  return m ? m[1]! : worker;
}

/** `Iface.method$Params`/`$Results` names of methods that take a Proxy.Context. */
const WITH_CONTEXT = new Set<string>();
for (const i of bundledSchemaSet().interfaces.values()) {
  for (const m of i.methods) if (m.hasContext) WITH_CONTEXT.add(`${i.name}.${m.name}`);
}



export function compareClient(our: LogEvent[], their: LogEvent[]): void {
  const o = our.filter((e) => e.side === 'client');
  const t = their.filter((e) => e.side === 'client');
  expect(o.map((e) => `${e.kind} ${e.type}`)).toEqual(t.map((e) => `${e.kind} ${e.type}`));
  o.forEach((e, i) => {
    const method = e.type.replace(/\$(Params|Results)$/, '');
    if (WITH_CONTEXT.has(method)) expect(e.thread, `${e.kind} ${e.type} #${i}`).toBe(t[i]!.thread);
    else expect(e.thread, `${e.type} has no Context: no thread on the wire`).toMatch(/\/\?$/);
  });
}

export function compareServer(our: LogEvent[], their: LogEvent[]): void {
  const o = our.filter((e) => e.side === 'server');
  const t = their.filter((e) => e.side === 'server');
  expect(o.map((e) => `${e.kind} ${e.type}`)).toEqual(t.map((e) => `${e.kind} ${e.type}`));
  if (o.length === 0) return;
  const o0 = o[0]!.req!;
  const t0 = t[0]!.req!;
  expect(o.map((e) => e.req! - o0)).toEqual(t.map((e) => e.req! - t0));
  const posts = o.filter((e) => e.kind === 'post');
  const tposts = t.filter((e) => e.kind === 'post');
  expect(posts.map((e) => fromThread(e.thread))).toEqual(tposts.map((e) => fromThread(e.thread)));
}


/** The capture's time span (from its relay comments), widened by a millisecond. */
export function captureWindow(hexlog: string): [number, number] {
  const times = parseHexlog(readFileSync(join(CAP, hexlog), 'latin1')).comments.map((c) => c.timeMicros!).filter((t) => t !== undefined);
  return [times[0]! / 1000 - 1, times[times.length - 1]! / 1000 + 1];
}

/** Events of a process's own log, optionally within a time window. */
export function theirs(log: string, w: [number, number] | null): LogEvent[] {
  const all = parseIpcLog(readFileSync(join(CAP, log), 'latin1'));
  return w ? all.filter((e) => e.timeMs !== null && e.timeMs >= w[0] && e.timeMs <= w[1]) : all;
}
