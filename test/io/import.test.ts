// `import` checked against truth: the processes' own -debug=ipc logs of the
// real captures, imported, give the same calls (methods, order), the same
// calling thread names (where the wire carries them), the same workers and
// the same request numbering as decoding the matching hexlog captures. The
// log cannot know ThreadMap/Thread calls (never logged), so those are left
// out of the wire side.

import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers.js';
import { feedHexlog } from '../session/feed.js';
import { captureWindow } from '../session/debuglog.js';
import { DebugLogImporter } from '../../src/import/debuglog.js';
import { bundledSchemaSet } from '../../src/decoder/sources.js';
import { isThreadInterface, servedClient } from '../../src/mp/concepts.js';
import { threadLabel } from '../../src/session/records.js';
import { parseLogLine } from '../../src/log/vocabulary.js';
import { runCli } from '../cli/run.js';

const CAP = join(ROOT, 'test/fixtures/captures');

/** The capture sessions and their processes' logs (bitcoin-cli's log has no IPC lines). */
const SESSIONS: { hexlogs: string[]; client: string | null; server: string }[] = [
  { hexlogs: ['mining-01.hexlog'], client: 'mining.client.log', server: 'mining.node.log' },
  { hexlogs: ['template-01.hexlog'], client: 'template.client.log', server: 'template.node.log' },
  { hexlogs: ['echo-01.hexlog'], client: 'echo.client.log', server: 'echo.node.log' },
  { hexlogs: ['big-01.hexlog'], client: 'big.client.log', server: 'big.node.log' },
  { hexlogs: ['disconnect-01.hexlog'], client: 'disconnect.client.log', server: 'disconnect.node.log' },
  ...['01', '02', '03', '04', '05', '06'].map((n) => ({ hexlogs: [`cli-${n}.hexlog`], client: null, server: 'cli.node.log' })),
];

/**
 * The capture's span; with a client log, from a little before the relay's
 * open (a client logs its first send before the relay has connected upstream).
 */
function window(hexlog: string, client: boolean): [number, number] {
  const [a, b] = captureWindow(hexlog);
  return [client ? a - 50 : a, b];
}

interface Seen {
  title: string;
  caller: string | null;
  worker: string | null;
  req: number | null;
}

function fromWire(hexlog: string): Seen[] {
  const m = feedHexlog(join(CAP, hexlog), []).model;
  return m.calls
    .filter((c) => !isThreadInterface(c.interfaceId))
    .map((c) => ({
      title: c.title,
      caller: c.caller ? threadLabel(c.caller) : null,
      worker: c.hasContext && c.executor ? (servedClient(threadLabel(c.executor)) ?? threadLabel(c.executor)) : null,
      req: c.requestNo,
    }));
}

function fromLogs(logs: string[], window: [number, number]): Seen[] {
  const imp = new DebugLogImporter(bundledSchemaSet());
  for (const l of logs) imp.add({ name: l, text: readFileSync(join(CAP, l), 'latin1') });
  const { delta } = imp.finish();
  const label = new Map(delta.threads.map((t) => [t.id, t.label]));
  return delta.calls
    .filter((c) => c.sent >= window[0] && c.sent <= window[1])
    .map((c) => {
      const exec = c.executor !== null ? label.get(c.executor)! : null;
      return {
        title: c.title,
        caller: c.hasContext && c.caller !== null ? label.get(c.caller)! : null,
        worker: c.hasContext && exec !== null ? (servedClient(exec) ?? exec) : null,
        req: c.requestNo,
      };
    });
}

describe('import of the real captures’ -debug=ipc logs matches decoding their hexlogs', () => {
  for (const s of SESSIONS) {
    it(s.hexlogs.join(', '), () => {
      const wire = s.hexlogs.flatMap(fromWire);
      const logs = [s.client, s.server].filter((l): l is string => l !== null);
      const ours = fromLogs(logs, window(s.hexlogs[0]!, s.client !== null));
      expect(wire.length).toBeGreaterThan(0);
      expect(ours.map((c) => c.title)).toEqual(wire.map((c) => c.title));
      // Calling threads: the wire names them for calls with a Context.
      expect(ours.map((c) => (wire[ours.indexOf(c)]!.caller === null ? null : c.caller))).toEqual(wire.map((c) => c.caller));
      expect(ours.map((c) => c.worker)).toEqual(wire.map((c) => c.worker));
      // Request numbers: the log's are the process's own; the wire's count from the session's start.
      const base = (l: Seen[]) => l.find((c) => c.req !== null)?.req ?? 0;
      expect(ours.map((c) => (c.req === null ? null : c.req - base(ours)))).toEqual(wire.map((c) => (c.req === null ? null : c.req - base(wire))));
    });
  }

  it('reads every IPC line of the logs (client, server, data lines)', () => {
    const text = readFileSync(join(CAP, 'template.node.log'), 'latin1');
    const kinds = new Map<string, number>();
    for (const l of text.split('\n')) {
      const p = parseLogLine(l);
      if (p) kinds.set(p.line.kind, (kinds.get(p.line.kind) ?? 0) + 1);
    }
    const grep = (re: RegExp) => text.split('\n').filter((l) => re.test(l)).length;
    expect(kinds.get('server-request')).toBe(grep(/IPC server recv request/));
    expect(kinds.get('server-response')).toBe(grep(/IPC server send response/));
    expect(kinds.get('request-data')).toBe(grep(/\} request data: /));
    expect(kinds.get('server-post')).toBe(grep(/IPC server post request/));
    expect(grep(/IPC server recv request/)).toBeGreaterThan(10);
  });

  it('refuses an existing --db before reading any log, and replaces it with --force', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ipc-trace-import-'));
    try {
      const db = join(dir, 'x.sqlite');
      writeFileSync(db, 'not a session');
      // A missing log would fail the read: the --db check comes first.
      const r = runCli(['import', join(dir, 'no-such.log'), '--db', db]);
      expect([r.code, r.stderr.trim()]).toEqual([1, `ipc-trace: --db ${db} already exists (use --force to replace it)`]);
      const f = runCli(['import', join(CAP, 'mining.node.log'), '--db', db, '--force']);
      expect(f.code, f.stderr).toBe(0);
      expect(runCli(['stats', db, '--json']).code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the CLI imports node and client logs into a session chains, stats, export and replay read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ipc-trace-import-'));
    try {
      const db = join(dir, 'template.sqlite');
      const r = runCli(['import', join(CAP, 'template.client.log'), join(CAP, 'template.node.log'), '--db', db]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/imported \d+ calls/);
      const stats = runCli(['stats', db, '--json']);
      expect(stats.code, stats.stderr).toBe(0);
      const groups = stats.stdout.trim().split('\n').map((l) => JSON.parse(l) as { key: string; calls: number; errors: number });
      const byKey = new Map(groups.map((g) => [g.key, g]));
      expect(byKey.get('BlockTemplate.waitNext')!.calls).toBeGreaterThan(0);
      expect(groups.reduce((a, g) => a + g.errors, 0)).toBeGreaterThan(0);
      // --filter: the terminal UI's filter language picks the calls counted.
      const waitNext = runCli(['stats', db, '--json', '--filter', 'method:waitNext & !status:exception']);
      expect(waitNext.code, waitNext.stderr).toBe(0);
      const only = waitNext.stdout.trim().split('\n').map((l) => JSON.parse(l) as { key: string; calls: number; errors: number });
      expect(only.map((g) => g.key)).toEqual(['BlockTemplate.waitNext']);
      expect(only[0]!.calls).toBe(byKey.get('BlockTemplate.waitNext')!.calls - byKey.get('BlockTemplate.waitNext')!.errors);
      expect(runCli(['stats', db, '--filter', 'method:(']).code).toBe(2);
      const chains = runCli(['chains', db, '--json']);
      expect(chains.code, chains.stderr).toBe(0);
      expect(chains.stdout).toContain('(end of session)');
      const replay = runCli(['replay', db]);
      expect(replay.code).toBe(0);
      expect(replay.stdout).toMatch(/IPC server recv request +#\d+ BlockTemplate\.waitNext\$Params/);
      const hex = runCli(['export', db, '--format', 'hexlog']);
      expect(hex.code).toBe(1);
      expect(hex.stderr).toContain('no bytes');
      expect(runCli(['import', join(CAP, 'README.md'), '--db', join(dir, 'x.sqlite')]).stderr).toContain('no -debug=ipc lines');
      expect(runCli(['import', join(CAP, 'template.node.log'), '--db', db]).code).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
