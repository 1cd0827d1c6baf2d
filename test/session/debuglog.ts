// Reading libmultiprocess `-debug=ipc` logs, and our log, into comparable
// events, and comparing them.

import { expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers.js';
import { parseHexlog } from '../../src/decoder/hexlog.js';
import { bundledSchemaSet } from '../../src/decoder/sources.js';

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

const CLIENT = /\{(.+?)\} IPC client (send|recv) (\S+)/;
const SERVER = /\{(.+?)\} IPC server (recv request|send response) +#(\d+) (\S+)/;
const POST = /\{(.+?)\} IPC server post request +#(\d+) \{(.*)\}/;
const TIME = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z/;

export function parseIpcLog(text: string): LogEvent[] {
  const out: LogEvent[] = [];
  for (const line of text.split('\n')) {
    const tm = TIME.exec(line);
    const timeMs = tm ? Date.parse(tm[1]!.slice(0, 23) + 'Z') + Number('0.' + tm[1]!.slice(20)) * 1000 - Number('0.' + tm[1]!.slice(20, 23)) * 1000 : null;
    let m = POST.exec(line);
    if (m) {
      out.push({ side: 'server', kind: 'post', thread: m[3]!, type: '', req: Number(m[2]), timeMs });
      continue;
    }
    m = SERVER.exec(line);
    if (m) {
      out.push({ side: 'server', kind: m[2] === 'recv request' ? 'request' : 'response', thread: m[1]!, type: m[4]!, req: Number(m[3]), timeMs });
      continue;
    }
    m = CLIENT.exec(line);
    if (m) out.push({ side: 'client', kind: m[2] as 'send' | 'recv', thread: m[1]!, type: m[3]!, req: null, timeMs });
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
