// The real captures replayed through the recording pipeline give, for every
// `IPC client send/recv` and `IPC server recv/send/post` line of the
// processes' own -debug=ipc logs, the same method names in the same order,
// the same request numbering, and the same client thread names (where the
// wire carries them: calls without a Proxy.Context carry no thread).

import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers.js';
import { feedHexlog } from './feed.js';
import { IpcLog } from '../../src/log/ipclog.js';
import { parseHexlog } from '../../src/decoder/hexlog.js';
import { parseIpcLog, fromThread, LogEvent } from './debuglog.js';
import { bundledSchemaSet } from '../../src/decoder/sources.js';

/** `Iface.method$Params`/`$Results` names of methods that take a Proxy.Context. */
const WITH_CONTEXT = new Set<string>();
for (const i of bundledSchemaSet().interfaces.values()) {
  for (const m of i.methods) if (m.hasContext) WITH_CONTEXT.add(`${i.name}.${m.name}`);
}

const CAP = join(ROOT, 'test/fixtures/captures');

function window(hexlog: string): [number, number] {
  const times = parseHexlog(readFileSync(join(CAP, hexlog), 'latin1')).comments.map((c) => c.timeMicros!).filter((t) => t !== undefined);
  return [times[0]! / 1000 - 1, times[times.length - 1]! / 1000 + 1];
}

function ours(hexlog: string): LogEvent[] {
  const lines: string[] = [];
  feedHexlog(join(CAP, hexlog), [new IpcLog((l) => lines.push(l))]);
  return parseIpcLog(lines.join('\n').replace(/^\S+Z /gm, ''));
}

function theirs(log: string, w: [number, number] | null): LogEvent[] {
  const all = parseIpcLog(readFileSync(join(CAP, log), 'latin1'));
  return w ? all.filter((e) => e.timeMs !== null && e.timeMs >= w[0] && e.timeMs <= w[1]) : all;
}

function compareClient(our: LogEvent[], their: LogEvent[]): void {
  const o = our.filter((e) => e.side === 'client');
  const t = their.filter((e) => e.side === 'client');
  expect(o.map((e) => `${e.kind} ${e.type}`)).toEqual(t.map((e) => `${e.kind} ${e.type}`));
  o.forEach((e, i) => {
    const method = e.type.replace(/\$(Params|Results)$/, '');
    if (WITH_CONTEXT.has(method)) expect(e.thread, `${e.kind} ${e.type} #${i}`).toBe(t[i]!.thread);
    else expect(e.thread, `${e.type} has no Context: no thread on the wire`).toMatch(/\/\?$/);
  });
}

function compareServer(our: LogEvent[], their: LogEvent[]): void {
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

const SESSIONS: { hexlogs: string[]; client: string | null; server: string }[] = [
  { hexlogs: ['mining-01.hexlog'], client: 'mining.client.log', server: 'mining.node.log' },
  { hexlogs: ['template-01.hexlog'], client: 'template.client.log', server: 'template.node.log' },
  { hexlogs: ['echo-01.hexlog'], client: 'echo.client.log', server: 'echo.node.log' },
  { hexlogs: ['big-01.hexlog'], client: 'big.client.log', server: 'big.node.log' },
  { hexlogs: ['disconnect-01.hexlog'], client: 'disconnect.client.log', server: 'disconnect.node.log' },
  ...['01', '02', '03', '04', '05', '06'].map((n) => ({ hexlogs: [`cli-${n}.hexlog`], client: null, server: 'cli.node.log' })),
];

describe('replayed captures read like the processes own -debug=ipc logs', () => {
  for (const s of SESSIONS) {
    it(s.hexlogs.join(', '), () => {
      const w = window(s.hexlogs[0]!);
      const our = s.hexlogs.flatMap(ours);
      if (s.client) compareClient(our, theirs(s.client, null));
      compareServer(our, theirs(s.server, w));
    });
  }
});
