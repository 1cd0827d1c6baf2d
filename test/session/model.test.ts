// The session model on real captures: thread attribution from makeThread and
// Proxy.Context, callbacks nested inside the calls they serve, call status,
// capability names and request numbering.

import { describe, it, expect } from 'vitest';
import { join } from 'node:path';
import { ROOT, schemaSetFromCgr } from '../helpers.js';
import { feedHexlog } from './feed.js';
import { threadLabel } from '../../src/session/records.js';
import { Pipeline } from '../../src/session/pipeline.js';
import { rpcSchemaSet } from '../../src/decoder/sources.js';

const CAP = join(ROOT, 'test/fixtures/captures');

describe('session model', () => {
  it('nests callbacks inside the call they serve, on the waiting thread', () => {
    const schemas = schemaSetFromCgr(join(ROOT, 'test/golden/captures/mpexample.cgr'));
    const m = feedHexlog(join(CAP, 'mpexample-mpcalculator-01.hexlog'), [], schemas).model;
    const solve = m.calls.filter((c) => c.title === 'CalculatorInterface.solveEquation');
    const prints = m.calls.filter((c) => c.title === 'PrinterInterface.print');
    expect(solve.length).toBeGreaterThan(0);
    expect(prints.length).toBe(solve.length);
    for (const p of prints) {
      const parent = p.parent!;
      expect(parent.title).toBe('CalculatorInterface.solveEquation');
      expect(p.dir).not.toBe(parent.dir);
      expect(p.depth).toBe(1);
      // The callback runs on the thread waiting for solveEquation, and is made by the worker running it.
      expect(p.executor).toBe(parent.caller);
      expect(p.caller).toBe(parent.executor);
      expect(threadLabel(p.executor)).toBe('mpexample-32580/mpexample-32580');
      expect(threadLabel(p.caller)).toBe(`${parent.serverProcess.label} (from mpexample-32580/mpexample-32580)`);
      expect(p.sent).toBeGreaterThan(parent.sent);
      expect(p.returned!).toBeLessThanOrEqual(parent.returned!);
    }
    for (const s of solve) expect(s.parent).toBeNull();
    // Request numbers are per server process: the callbacks count on mpexample's side.
    expect(prints.map((p) => p.requestNo)).toEqual(prints.map((_, i) => i + 1));
  });

  it('names threads, processes and capabilities, and tracks status', () => {
    const m = feedHexlog(join(CAP, 'mining-01.hexlog'), []).model;
    const byTitle = (t: string) => m.calls.filter((c) => c.title === t);
    const make = byTitle('ThreadMap.makeThread');
    expect(make).toHaveLength(1);
    expect(make[0]!.requestNo).toBeNull();
    const tip = byTitle('Mining.getTip')[0]!;
    expect(threadLabel(tip.caller)).toBe('bitcoin-mine-test-32192/bitcoin-mine-te-32192');
    expect(tip.executor!.role).toBe('worker');
    expect(tip.target).toBe('Mining');
    expect(tip.clientProcess.label).toBe('bitcoin-mine-test-32192');
    expect(tip.status).toBe('returned');
    // Mining.interrupt has no Context: it runs on the server's event loop, its caller is not on the wire.
    const interrupt = byTitle('Mining.interrupt')[0]!;
    expect(interrupt.executor!.role).toBe('loop');
    expect(interrupt.caller).toBeNull();
    // The waitTipChanged it interrupts was outstanding meanwhile, on the worker.
    const waits = byTitle('Mining.waitTipChanged');
    const last = waits[waits.length - 1]!;
    expect(last.sent).toBeLessThan(interrupt.sent);
    expect(last.returned!).toBeGreaterThan(interrupt.returned!);
    // libmultiprocess numbering: every generated call, in order.
    const numbered = m.calls.filter((c) => c.requestNo !== null);
    expect(numbered.map((c) => c.requestNo)).toEqual(numbered.map((_, i) => i + 1));
    expect(m.outstanding.size).toBe(0);
  });

  it('labels several objects of one interface and records exceptions', () => {
    const m = feedHexlog(join(CAP, 'template-01.hexlog'), []).model;
    const labels = new Set(m.caps.map((c) => c.label));
    expect(labels).toContain('BlockTemplate');
    expect(labels).toContain('BlockTemplate #2');
    const targets = new Set(m.calls.filter((c) => c.iface === 'BlockTemplate').map((c) => c.target));
    expect(targets.size).toBeGreaterThan(1);
    const failed = m.calls.filter((c) => c.status === 'exception');
    expect(failed.length).toBeGreaterThan(0);
    expect(failed[0]!.exception).toMatch(/^failed: /);
  });

  it('marks calls interrupted by a disconnect', () => {
    const m = feedHexlog(join(CAP, 'disconnect-01.hexlog'), []).model;
    const interrupted = m.calls.filter((c) => c.status === 'disconnected');
    expect(interrupted.length).toBeGreaterThan(0);
    expect(interrupted.every((c) => c.returned === null && c.retired)).toBe(true);
  });

  it('keeps one process per name across connections (request numbers continue)', () => {
    const p = new Pipeline(schemaSetFromCgr(join(ROOT, 'schemas/compiled/bitcoin.cgr')), rpcSchemaSet(), []);
    feedHexlog(join(CAP, 'cli-01.hexlog'), [], undefined, 1, p);
    feedHexlog(join(CAP, 'cli-02.hexlog'), [], undefined, 2, p);
    // Both connections come from different bitcoin-cli processes but reach the same named upstream only if named so.
    const servers = new Set(p.model.calls.map((c) => c.serverProcess));
    expect(servers.size).toBe(2);
    const q = new Pipeline(schemaSetFromCgr(join(ROOT, 'schemas/compiled/bitcoin.cgr')), rpcSchemaSet(), []);
    for (const id of [1, 2]) {
      q.open({ id, time: 0, label: 'x', server: 'upstream node.sock' });
    }
    expect(q.model.conn(1)!.processes.B).toBe(q.model.conn(2)!.processes.B);
  });
});
