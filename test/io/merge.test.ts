// merge: two sessions that share a process (two clients' logs of one
// bitcoin-node, imported separately as two proxies would record them) become
// one session with that process once, every call, and calls in time order.

import { describe, it, expect } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers.js';
import { runCli } from '../cli/run.js';
import { SessionReader } from '../../src/store/reader.js';
import { mergeSessions } from '../../src/merge/merge.js';

const CAP = join(ROOT, 'test/fixtures/captures');

describe('merge', () => {
  it('matches processes by name and orders the calls of both sessions by time', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ipc-trace-merge-'));
    try {
      const a = join(dir, 'mining.sqlite');
      const b = join(dir, 'echo.sqlite');
      const out = join(dir, 'merged.sqlite');
      expect(runCli(['import', join(CAP, 'mining.client.log'), join(CAP, 'mining.node.log'), '--db', a]).code).toBe(0);
      expect(runCli(['import', join(CAP, 'echo.client.log'), join(CAP, 'echo.node.log'), '--db', b]).code).toBe(0);
      const r = runCli(['merge', a, b, '--db', out]);
      expect(r.code, r.stderr).toBe(0);
      const rows = (p: string) => {
        const rd = SessionReader.open(p);
        const x = rd.rows();
        rd.close();
        return x;
      };
      const ra = rows(a);
      const rb = rows(b);
      const m = rows(out);
      expect(m.calls.length).toBe(ra.calls.length + rb.calls.length);
      const nodes = (x: typeof m) => x.processes.filter((p) => /^bitcoin-node-\d+$/.test(p.label)).map((p) => p.label);
      expect(nodes(ra)).toEqual(nodes(rb));
      expect(nodes(m)).toEqual(nodes(ra));
      expect(m.processes.length).toBe(new Set([...ra.processes, ...rb.processes].map((p) => p.label)).size);
      for (let i = 1; i < m.calls.length; i++) expect(m.calls[i]!.sent).toBeGreaterThanOrEqual(m.calls[i - 1]!.sent);
      // Every call keeps its method, threads and request number.
      const key = (x: typeof m, c: (typeof m.calls)[number]) =>
        `${c.title} ${c.requestNo} ${x.threads.find((t) => t.id === c.caller)?.label} ${x.threads.find((t) => t.id === c.executor)?.label}`;
      expect(m.calls.map((c) => key(m, c)).sort()).toEqual([...ra.calls.map((c) => key(ra, c)), ...rb.calls.map((c) => key(rb, c))].sort());
      expect(m.meta.source).toBe('merge');
      expect(runCli(['stats', out, '--by', 'process']).stdout).toMatch(/bitcoin-node-\d+\s+\d+/);
      expect(runCli(['chains', out]).code).toBe(0);
      expect(runCli(['merge', a, '--db', join(dir, 'x.sqlite')]).code).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps placeholder processes of different sessions apart and remaps parents', () => {
    const base = {
      meta: {}, caps: [], connections: [{ id: 1, label: 'c', opened: 0, closed: null, closeReason: null, clientProcess: 1, serverProcess: 2 }],
      span: { start: 0, last: 10, ended: null },
      processes: [
        { id: 1, label: 'client#1', exe: null, pid: null, requests: 0 },
        { id: 2, label: 'bitcoin-node-9', exe: 'bitcoin-node', pid: 9, requests: 2 },
      ],
      threads: [],
    };
    const call = (id: number, sent: number, parent: number | null) => ({
      id, conn: 1, dir: '>' as const, questionId: id, interfaceId: '0x1', methodId: 0, iface: 'I', method: 'm', title: 'I.m', target: 'I', hasContext: false,
      caller: null, executor: null, clientProcess: 1, serverProcess: 2, parent, depth: parent ? 1 : 0, status: 'returned' as const, exception: null,
      requestNo: id, sent, returned: sent + 1, cancelRequested: null, finished: null, params: null, results: null, retired: true,
    });
    const d = mergeSessions([
      { name: 'a', rows: { ...base, calls: [call(1, 5, null), call(2, 6, 1)] } },
      // Another client's call: other params, so not the same connection recorded twice.
      { name: 'b', rows: { ...base, calls: [{ ...call(1, 1, null), params: '(n = 2)' }] } },
    ]);
    expect(d.processes.map((p) => p.label)).toEqual(['client#1 [a]', 'bitcoin-node-9', 'client#1 [b]']);
    expect(d.calls.map((c) => [c.id, c.sent, c.parent, c.clientProcess])).toEqual([
      [1, 1, null, 3],
      [2, 5, null, 1],
      [3, 6, 2, 1],
    ]);
  });
});
