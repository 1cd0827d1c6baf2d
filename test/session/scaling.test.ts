// The model's per-message work does not depend on the session's length:
// naming a process, finding a client thread or a callback's parent never
// walks every process, thread, call or connection (a recorder slowed from
// 1.3 ms to 9.1 ms per connection after 30,000 of them). The test makes the
// model's whole-session collections unwalkable and checks that a long
// session still comes out the same. The log says once when a placeholder
// process gets its real name.

import { describe, it, expect } from 'vitest';
import { join } from 'node:path';
import { ROOT, schemaSetFromCgr } from '../helpers.js';
import { feedHexlog } from './feed.js';
import { Pipeline } from '../../src/session/pipeline.js';
import { IpcLog } from '../../src/log/ipclog.js';
import { rpcSchemaSet, bundledSchemaSet } from '../../src/decoder/sources.js';
import { callRow, processRow, threadRow } from '../../src/session/rows.js';

const CAP = join(ROOT, 'test/fixtures/captures');

/** Makes walking an array or map throw (indexing by id stays allowed). */
function forbidWalks(x: unknown, what: string): void {
  const fail = () => {
    throw new Error(`walked ${what}`);
  };
  for (const m of ['find', 'filter', 'forEach', 'some', 'every', 'map', 'indexOf', 'findIndex', 'values', 'entries', 'keys', Symbol.iterator] as const) {
    Object.defineProperty(x, m, { value: fail, configurable: true });
  }
}

function session(conns: number, guarded: boolean) {
  const schemas = bundledSchemaSet();
  const lines: string[] = [];
  const p = new Pipeline(schemas, rpcSchemaSet(), [new IpcLog((l) => lines.push(l))]);
  // (The list of processes stays walkable: a merge removes the placeholder from it.)
  if (guarded) {
    forbidWalks(p.model.threads, 'threads');
    forbidWalks(p.model.calls, 'calls');
    forbidWalks(p.model.connections, 'connections');
  }
  const names = ['cli-01', 'cli-02', 'mining-01', 'echo-01', 'template-01'];
  for (let i = 1; i <= conns; i++) {
    // Every connection's server is the same upstream process; each client names itself.
    p.open({ id: i, time: i * 1000, label: `c${i}`, server: 'upstream node.sock' });
    feedHexlog(join(CAP, `${names[i % names.length]}.hexlog`), [], schemas, i, Object.assign(Object.create(p), { open: () => {} }));
  }
  return { model: p.model, lines };
}

describe('session model at length', () => {
  it('never walks every thread, call or connection per message, and builds the same session', () => {
    const guarded = session(60, true);
    const plain = session(60, false);
    expect(guarded.model.calls.length).toBeGreaterThan(500);
    expect(guarded.model.processes.map(processRow)).toEqual(plain.model.processes.map(processRow));
    expect(guarded.lines).toEqual(plain.lines);
    const g = guarded.model;
    const q = plain.model;
    for (let i = 0; i < q.calls.length; i++) expect(callRow(g.calls[i]!)).toEqual(callRow(q.calls[i]!));
    for (let i = 0; i < q.threads.length; i++) expect(threadRow(g.threads[i]!)).toEqual(threadRow(q.threads[i]!));
  });

  it('says once in the log when a placeholder process gets its real name', () => {
    const { lines, model } = session(3, false);
    const named = lines.filter((l) => / IPC wire client#\d+ is /.test(l));
    expect(named.map((l) => l.replace(/^\S+ /, ''))).toEqual(
      [1, 2, 3].map((i) => {
        const p = model.conn(i)!.processes.A;
        return `c${i} - IPC wire client#${i} is ${p.label}`;
      }),
    );
    // The line comes before the first line that uses the new name on that connection.
    const first = lines.findIndex((l) => l.includes(' c1 ') && l.includes(model.conn(1)!.processes.A.label));
    expect(lines[first]).toMatch(/IPC wire client#1 is /);
    // After it, the placeholder's name is gone from that connection's lines.
    expect(lines.slice(first + 1).filter((l) => l.includes(' c1 ') && l.includes('client#1'))).toEqual([]);
  });

  it('merges a placeholder into the process another connection already named (mpexample)', () => {
    const schemas = schemaSetFromCgr(join(ROOT, 'test/golden/captures/mpexample.cgr'));
    const lines: string[] = [];
    const p = new Pipeline(schemas, rpcSchemaSet(), [new IpcLog((l) => lines.push(l))]);
    feedHexlog(join(CAP, 'mpexample-mpcalculator-01.hexlog'), [], schemas, 1, p);
    feedHexlog(join(CAP, 'mpexample-mpprinter-01.hexlog'), [], schemas, 2, p);
    const client = p.model.conn(2)!.processes.A;
    expect(p.model.conn(1)!.processes.A).toBe(client);
    expect(lines.filter((l) => l.includes(`IPC wire client#2 is ${client.label}`))).toHaveLength(1);
  });
});
