// stats and the exports on a recorded demo session: the Perfetto trace's
// shape (tracks named, every flow's two ends bound, slices nested without
// overlap per thread), OTLP posted to a local collector (span count = call
// count, parents resolve), JSON lines, and --out's file rules.

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer, Server } from 'node:http';
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import Database from 'better-sqlite3';
import { runCli } from '../cli/run.js';
import { ROOT } from '../helpers.js';
import { requireBuilt } from '../demo/helpers.js';

let dir: string;
let db: string;
let calls: { id: number; parent: number | null; title: string; status: string; latency: number | null }[];

beforeAll(() => {
  requireBuilt();
  dir = mkdtempSync(join(tmpdir(), 'ipc-trace-export-'));
  db = join(dir, 'demo.sqlite');
  const r = runCli(['demo', '--no-tui', '--duration', '3', '--seed', '3', '--db', db, '--log', join(dir, 'demo.log')]);
  expect(r.code, r.stderr).toBe(0);
  const d = new Database(db, { readonly: true });
  calls = d.prepare('SELECT id, parent_call AS parent, title, status, returned - sent AS latency FROM calls ORDER BY id').all() as typeof calls;
  d.close();
  expect(calls.length).toBeGreaterThan(50);
}, 60000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Ev {
  name: string;
  ph: string;
  pid: number;
  tid?: number;
  ts?: number;
  dur?: number;
  bind_id?: number;
  flow_in?: boolean;
  flow_out?: boolean;
  args?: Record<string, unknown>;
}

describe('stats', () => {
  it('counts every call once per grouping, with percentiles computed from the calls', () => {
    for (const by of ['method', 'thread', 'process']) {
      const r = runCli(['stats', db, '--by', by, '--json']);
      expect(r.code, r.stderr).toBe(0);
      const groups = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { key: string; calls: number; p50: number; p90: number; p99: number; max: number });
      expect(groups.reduce((a, g) => a + g.calls, 0)).toBe(calls.length);
      for (const g of groups) expect(g.p50 <= g.p90 && g.p90 <= g.p99 && g.p99 <= g.max).toBe(true);
    }
    const groups = runCli(['stats', db, '--json']).stdout.trim().split('\n').map((l) => JSON.parse(l) as { key: string; calls: number; p50: number; max: number });
    const top = groups[0]!;
    const lat = calls.filter((c) => c.title === top.key && c.latency !== null).map((c) => c.latency!).sort((a, b) => a - b);
    expect(top.calls).toBe(calls.filter((c) => c.title === top.key).length);
    expect(top.max).toBe(lat[lat.length - 1]);
    expect(top.p50).toBe(lat[Math.ceil(lat.length / 2) - 1]);
    const table = runCli(['stats', db]);
    expect(table.stdout.split('\n')[0]).toMatch(/^method\s+calls\s+errors\s+canceled\s+in-flight\s+p50\s+p90\s+p99\s+max$/);
    expect(runCli(['stats', db, '--by', 'color']).code).toBe(2);
  });
});

describe('export --format perfetto', () => {
  let events: Ev[];
  beforeAll(() => {
    const out = join(dir, 'trace.json');
    const r = runCli(['export', db, '--format', 'perfetto', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(readFileSync(out, 'utf8')) as { traceEvents: Ev[]; displayTimeUnit: string };
    expect(json.displayTimeUnit).toBe('ms');
    events = json.traceEvents;
  });

  it('names every process and thread track that has events', () => {
    const procs = new Set(events.filter((e) => e.ph === 'M' && e.name === 'process_name').map((e) => e.pid));
    const threads = new Set(events.filter((e) => e.ph === 'M' && e.name === 'thread_name').map((e) => `${e.pid}/${e.tid}`));
    for (const e of events.filter((e) => e.ph !== 'M')) {
      expect(procs.has(e.pid), `process ${e.pid} of ${e.name}`).toBe(true);
      if (e.ph === 'X') expect(threads.has(`${e.pid}/${e.tid}`), `thread ${e.tid} of ${e.name}`).toBe(true);
    }
    for (const e of events.filter((e) => e.ph === 'M')) expect(typeof e.args?.name === 'string' || e.name === 'process_labels').toBe(true);
  });

  it('has a slice per call on the waiting and on the executing thread, with params in args', () => {
    const slices = events.filter((e) => e.ph === 'X');
    expect(slices.length).toBe(2 * calls.length);
    const ids = new Set(slices.map((e) => e.args!.call as number));
    expect(ids.size).toBe(calls.length);
    for (const e of slices) {
      expect(Number.isInteger(e.ts) && Number.isInteger(e.dur) && e.dur! >= 0).toBe(true);
      expect(['waiting', 'executing']).toContain(e.args!.side);
    }
    expect(slices.some((e) => typeof e.args!.params === 'string' && (e.args!.params as string).includes('context'))).toBe(true);
  });

  it('binds both ends of every flow (v2: bind_id, flow_out on the waiting slice, flow_in on the executing one)', () => {
    const out = new Map<number, Ev[]>();
    const inn = new Map<number, Ev[]>();
    for (const e of events.filter((e) => e.bind_id !== undefined)) {
      if (e.flow_out) out.set(e.bind_id!, [...(out.get(e.bind_id!) ?? []), e]);
      if (e.flow_in) inn.set(e.bind_id!, [...(inn.get(e.bind_id!) ?? []), e]);
      expect(e.ph).toBe('X');
    }
    expect(out.size).toBeGreaterThan(calls.length / 2);
    for (const [id, l] of out) {
      expect(l.length).toBe(1);
      expect(inn.get(id)?.length, `flow ${id}`).toBe(1);
      expect(l[0]!.args!.side).toBe('waiting');
      expect(`${l[0]!.pid}/${l[0]!.tid}`).not.toBe(`${inn.get(id)![0]!.pid}/${inn.get(id)![0]!.tid}`);
    }
    for (const id of inn.keys()) expect(out.has(id)).toBe(true);
    // A callback's flow leaves from inside the executing slice of the call it serves.
    const callback = calls.find((c) => c.parent !== null)!;
    const from = out.get(callback.id)![0]!;
    const parentExec = events.find((e) => e.ph === 'X' && e.args!.call === callback.parent && e.args!.side === 'executing')!;
    expect(`${from.pid}/${from.tid}`).toBe(`${parentExec.pid}/${parentExec.tid}`);
    expect(from.ts! >= parentExec.ts! && from.ts! + from.dur! <= parentExec.ts! + parentExec.dur!).toBe(true);
  });

  it('nests slices without overlap on every thread', () => {
    const tracks = new Map<string, Ev[]>();
    for (const e of events.filter((e) => e.ph === 'X')) tracks.set(`${e.pid}/${e.tid}`, [...(tracks.get(`${e.pid}/${e.tid}`) ?? []), e]);
    for (const [track, l] of tracks) {
      l.sort((a, b) => a.ts! - b.ts! || b.dur! - a.dur!);
      const stack: Ev[] = [];
      for (const e of l) {
        while (stack.length && stack[stack.length - 1]!.ts! + stack[stack.length - 1]!.dur! <= e.ts!) stack.pop();
        const top = stack[stack.length - 1];
        if (top) expect(e.ts! + e.dur!, `${track}: ${e.name} inside ${top.name}`).toBeLessThanOrEqual(top.ts! + top.dur!);
        stack.push(e);
      }
    }
  });

  it('has Finish and disconnect instants', () => {
    const instants = events.filter((e) => e.ph === 'i');
    expect(instants.some((e) => e.name.startsWith('Finish '))).toBe(true);
    expect(instants.some((e) => e.name === 'disconnect')).toBe(true);
  });
});

describe('export --format otlp', () => {
  let server: Server;
  let url: string;
  const bodies: { path: string; type: string; body: string }[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString('utf8')));
      req.on('end', () => {
        bodies.push({ path: req.url ?? '', type: req.headers['content-type'] ?? '', body });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('posts every call as a well-formed span to a collector, parents resolving', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [join(ROOT, 'dist/cli/main.js'), 'export', db, '--otlp-endpoint', url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((r) => child.on('close', r));
    expect(code, stderr).toBe(0);
    expect(bodies.length).toBeGreaterThan(0);
    type Span = { traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number; startTimeUnixNano: string; endTimeUnixNano: string; attributes: { key: string; value: Record<string, unknown> }[]; status: { code: number } };
    const spans: Span[] = [];
    const services = new Set<string>();
    for (const b of bodies) {
      expect(b.path).toBe('/v1/traces');
      expect(b.type).toBe('application/json');
      const req = JSON.parse(b.body) as { resourceSpans: { resource: { attributes: { key: string; value: { stringValue?: string } }[] }; scopeSpans: { spans: Span[] }[] }[] };
      for (const rs of req.resourceSpans) {
        services.add(rs.resource.attributes.find((a) => a.key === 'service.name')!.value.stringValue!);
        for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      }
    }
    // Each call is a CLIENT span (caller's process) and a SERVER span (executor's).
    expect(spans.length).toBe(2 * calls.length);
    expect(spans.filter((s) => s.kind === 3).length).toBe(calls.length);
    expect(spans.filter((s) => s.kind === 2).length).toBe(calls.length);
    expect([...services].some((s) => s.startsWith('bitcoin-node-'))).toBe(true);
    expect([...services].some((s) => s.startsWith('bitcoin-wallet-'))).toBe(true);
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    expect(byId.size).toBe(spans.length);
    for (const s of spans) {
      expect(s.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(s.spanId).toMatch(/^[0-9a-f]{16}$/);
      expect(s.startTimeUnixNano).toMatch(/^\d{19}$/);
      expect(BigInt(s.endTimeUnixNano) >= BigInt(s.startTimeUnixNano)).toBe(true);
      expect(Number.isInteger(s.kind) && Number.isInteger(s.status.code)).toBe(true);
      for (const a of s.attributes) if ('intValue' in a.value) expect(typeof a.value.intValue).toBe('string');
      if (s.parentSpanId !== undefined) {
        const p = byId.get(s.parentSpanId);
        expect(p, `parent of ${s.name}`).toBeDefined();
        expect(p!.traceId).toBe(s.traceId);
      }
    }
    // Every SERVER span hangs under its CLIENT span; a CLIENT span has a parent
    // exactly when its call serves another (a callback).
    for (const s of spans.filter((x) => x.kind === 2)) expect(byId.get(s.parentSpanId!)?.kind).toBe(3);
    expect(spans.filter((s) => s.kind === 3 && s.parentSpanId !== undefined).length).toBe(calls.filter((c) => c.parent !== null).length);
  });

  it('says clearly when the collector cannot be reached', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const r = runCli(['export', db, '--otlp-endpoint', `http://127.0.0.1:${port}`]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/cannot reach the OTLP endpoint .*ECONNREFUSED \(tried \d+ times\)/);
  });

  it('makes a process that only makes calls a service, with CLIENT spans', () => {
    // The mining capture: a client that only calls the node.
    const m = join(dir, 'mining.sqlite');
    const logs = ['mining.client.log', 'mining.node.log'].map((f) => join(ROOT, 'test/fixtures/captures', f));
    expect(runCli(['import', ...logs, '--db', m]).code).toBe(0);
    const r = runCli(['export', m, '--format', 'otlp']);
    expect(r.code).toBe(0);
    type Rs = { resource: { attributes: { key: string; value: { stringValue?: string } }[] }; scopeSpans: { spans: { kind: number }[] }[] };
    const req = JSON.parse(r.stdout) as { resourceSpans: Rs[] };
    const kinds = new Map(
      req.resourceSpans.map((rs) => [rs.resource.attributes.find((a) => a.key === 'service.name')!.value.stringValue!, new Set(rs.scopeSpans[0]!.spans.map((s) => s.kind))]),
    );
    const client = [...kinds].find(([name]) => name.startsWith('bitcoin-mine-test'));
    expect(client, [...kinds.keys()].join(', ')).toBeDefined();
    expect([...client![1]]).toEqual([3]);
    expect([...kinds].find(([name]) => name.startsWith('bitcoin-node'))![1].has(2)).toBe(true);
  });

  it('writes the same request to a file', () => {
    const r = runCli(['export', db, '--format', 'otlp']);
    expect(r.code).toBe(0);
    const req = JSON.parse(r.stdout) as { resourceSpans: { scopeSpans: { spans: unknown[] }[] }[] };
    expect(req.resourceSpans.reduce((a, rs) => a + rs.scopeSpans[0]!.spans.length, 0)).toBe(2 * calls.length);
  });
});

describe('export --format jsonl and --out', () => {
  it('writes one line per call with threads and times', () => {
    const r = runCli(['export', db, '--format', 'jsonl']);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: number; caller: string; executor: string; sent: string; method: string });
    expect(lines.map((l) => l.id)).toEqual(calls.map((c) => c.id));
    for (const l of lines) {
      expect(l.caller).toBeTruthy();
      expect(l.executor).toBeTruthy();
      expect(l.sent).toMatch(/^\d{4}-\d\d-\d\dT.*Z$/);
    }
  });

  it('creates --out files 0600, refuses an existing file without --force and any symlink', () => {
    const out = join(dir, 'calls.jsonl');
    expect(runCli(['export', db, '--format', 'jsonl', '--out', out]).code).toBe(0);
    expect(lstatSync(out).mode & 0o777).toBe(0o600);
    const again = runCli(['export', db, '--format', 'jsonl', '--out', out]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already exists');
    writeFileSync(out, 'x');
    expect(runCli(['export', db, '--format', 'jsonl', '--out', out, '--force']).code).toBe(0);
    expect(readFileSync(out, 'utf8').split('\n').length).toBeGreaterThan(calls.length);
    const target = join(dir, 'target');
    const link = join(dir, 'link.json');
    symlinkSync(target, link);
    const viaLink = runCli(['export', db, '--format', 'perfetto', '--out', link, '--force']);
    expect(viaLink.code).toBe(1);
    expect(viaLink.stderr).toContain('symbolic link');
    expect(existsSync(target)).toBe(false);
    expect(runCli(['export', db, '--format', 'svg']).code).toBe(2);
  });
});
