// The Perfetto exporter on hand-made rows: a call queued behind another on a
// busy worker (their intervals overlap without nesting) starts its slice when
// the first ends, and says by how much; a callback without a known caller
// thread is drawn inside the call it serves.

import { describe, it, expect } from 'vitest';
import { perfettoTrace, TraceEvent } from '../../src/export/perfetto.js';
import type { SessionRows } from '../../src/store/reader.js';
import type { CallRow } from '../../src/session/rows.js';

function call(id: number, over: Partial<CallRow>): CallRow {
  return {
    id, conn: 1, dir: '>', questionId: id, interfaceId: '0x1', methodId: 0, iface: 'Wallet', method: 'm', title: 'Wallet.m', target: 'Wallet',
    hasContext: true, caller: 1, executor: 2, clientProcess: 1, serverProcess: 2, parent: null, depth: 0, status: 'returned', exception: null,
    requestNo: id, sent: 0, returned: 0, cancelRequested: null, finished: null, params: '()', results: '()', retired: true, ...over,
  };
}

function rows(calls: CallRow[]): SessionRows {
  return {
    meta: {},
    processes: [
      { id: 1, label: 'node-1', exe: 'node', pid: 1, requests: 0 },
      { id: 2, label: 'wallet-2', exe: 'wallet', pid: 2, requests: 0 },
    ],
    threads: [
      { id: 1, process: 1, role: 'client', name: 'node-1/a', from: null, label: 'node-1/a', firstSeen: 0 },
      { id: 2, process: 2, role: 'worker', name: null, from: 1, label: 'wallet-2 (from node-1/a)', firstSeen: 0 },
      { id: 3, process: 1, role: 'client', name: 'node-1/b', from: null, label: 'node-1/b', firstSeen: 0 },
    ],
    caps: [],
    calls,
    connections: [{ id: 1, label: 'c', opened: 1000, closed: 2000, closeReason: null, clientProcess: 1, serverProcess: 2 }],
    span: { start: 1000, last: 2000, ended: null },
  };
}

const slices = (evs: TraceEvent[], tid: number) => evs.filter((e) => e.ph === 'X' && e.tid === tid).sort((a, b) => a.ts! - b.ts!);

describe('perfetto export', () => {
  it('starts a queued call’s slice when the call before it on the thread ends', () => {
    const t = perfettoTrace(rows([call(1, { sent: 1000, returned: 1400 }), call(2, { caller: 3, sent: 1100, returned: 1500 })]));
    const w = slices(t.traceEvents, 2);
    expect(w.map((e) => [e.ts, e.dur])).toEqual([
      [0, 400_000],
      [400_000, 100_000],
    ]);
    expect(w[1]!.args!.queued_us).toBe(300_000);
    // The waiting side is untouched: two threads.
    expect(slices(t.traceEvents, 3).map((e) => [e.ts, e.dur])).toEqual([[100_000, 400_000]]);
  });

  it('draws a callback without a caller thread inside the call it serves', () => {
    const t = perfettoTrace(
      rows([call(1, { sent: 1000, returned: 1400 }), call(2, { caller: null, executor: 1, clientProcess: 2, serverProcess: 1, parent: 1, depth: 1, sent: 1100, returned: 1200 })]),
    );
    const onWorker = slices(t.traceEvents, 2);
    expect(onWorker.map((e) => [e.args!.call, e.args!.side])).toEqual([
      [1, 'executing'],
      [2, 'waiting'],
    ]);
    expect(onWorker[1]!.flow_out).toBe(true);
    expect(slices(t.traceEvents, 1).find((e) => e.args!.call === 2)!.flow_in).toBe(true);
  });
});
