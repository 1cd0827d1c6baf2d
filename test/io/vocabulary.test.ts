// The log vocabulary on the layouts users paste: Bitcoin Core's prefixes at
// Debug and Trace level, no prefix (libmultiprocess's examples), the older
// layout with params on the same line (v29/v30), ipc-trace's own log; and an
// import of an old-layout, server-only log.

import { describe, it, expect } from 'vitest';
import { parseLogLine, logUnescape } from '../../src/log/vocabulary.js';
import { DebugLogImporter } from '../../src/import/debuglog.js';
import { bundledSchemaSet } from '../../src/decoder/sources.js';

describe('log vocabulary', () => {
  it('reads every layout of a request line', () => {
    const lines = [
      '2025-09-01T10:00:00.123456Z [capnp-loop] [ipc] {bitcoin-node-100/b-capnp-loop-103} IPC server recv request  #7 Mining.createNewBlock$Params',
      '{bitcoin-node-100/b-capnp-loop-103} IPC server recv request  #7 Mining.createNewBlock$Params',
      '2025-09-01T10:00:00Z ipc: {bitcoin-node-100/b-capnp-loop-103} IPC server recv request  #7 Mining.createNewBlock$Params (context = (thread = <external capability>), options = (useMempool = true))',
      '2025-09-01T10:00:00.123456Z c1 > {bitcoin-node-100 (event loop)} IPC server recv request  #7 Mining.createNewBlock$Params to Mining',
    ];
    const parsed = lines.map((l) => parseLogLine(l)!);
    for (const p of parsed) expect(p.line).toMatchObject({ kind: 'server-request', req: 7, type: 'Mining.createNewBlock$Params' });
    expect(parsed[0]!.time).toBe(Date.parse('2025-09-01T10:00:00Z') + 123.456);
    expect(parsed[1]!.time).toBeNull();
    expect(parsed[2]!.line).toMatchObject({ data: '(context = (thread = <external capability>), options = (useMempool = true))' });
    expect(parsed[0]!.line).toMatchObject({ data: null });
    expect(parsed[3]!.line).toMatchObject({ data: null });
  });

  it('reads client lines, data lines and exceptions, and undoes LogEscape', () => {
    expect(parseLogLine('2026-01-01T00:00:00Z [capnp-loop] [ipc:trace] send data: (a = "\\\\005x\\0a")')!.line).toEqual({ kind: 'send-data', data: '(a = "\\\\005x\\0a")' });
    expect(logUnescape('(a = "\\\\005x\\0a...')).toBe('(a = "\\005x\n...');
    expect(parseLogLine('{a-1/b-2} IPC client recv Echo.echo$Results (result = "x") [1.25ms]')!.line).toEqual({
      kind: 'client-recv', thread: 'a-1/b-2', type: 'Echo.echo$Results', data: '(result = "x")',
    });
    expect(parseLogLine('x ipc: {a-1/b-2} IPC client exception kj::Exception: boom')!.line).toEqual({ kind: 'client-exception', thread: 'a-1/b-2', error: 'kj::Exception: boom' });
    expect(parseLogLine('2026-01-01T00:00:00Z [ipc] {n-1/l-2} Creating mp::ProxyServerBase<X> 0x1')).toBeNull();
  });

  it('imports an old-layout server-only log: params from the request line, an unanswered call pending', () => {
    const log = [
      '2025-09-01T10:00:00.000000Z ipc: {bitcoin-node-100/b-capnp-loop-103} IPC server recv request  #118 Mining.waitTipChanged$Params (context = (thread = <external capability>), timeout = 1000)',
      '2025-09-01T10:00:00.000100Z ipc: {bitcoin-node-100/b-capnp-loop-103} IPC server post request  #118 {bitcoin-node-100/b-capnp-loop-140 (from miner-200/miner-200)}',
      '2025-09-01T10:00:00.500000Z ipc: {bitcoin-node-100/b-capnp-loop-103} IPC server send response #118 Mining.waitTipChanged$Results ()',
      '2025-09-01T10:00:01.000000Z ipc: {bitcoin-node-100/b-capnp-loop-103} IPC server recv request  #119 Mining.waitTipChanged$Params (context = (thread = <external capability>), timeout = 1000)',
      '2025-09-01T10:00:01.000100Z ipc: {bitcoin-node-100/b-capnp-loop-103} IPC server post request  #119 {bitcoin-node-100/b-capnp-loop-140 (from miner-200/miner-200)}',
    ].join('\r\n');
    const imp = new DebugLogImporter(bundledSchemaSet());
    imp.add({ name: 'debug.log', text: log });
    const { delta } = imp.finish();
    expect(delta.calls.map((c) => [c.title, c.requestNo, c.status, c.params])).toEqual([
      ['Mining.waitTipChanged', 118, 'returned', '(context = (thread = <external capability>), timeout = 1000)'],
      ['Mining.waitTipChanged', 119, 'pending', '(context = (thread = <external capability>), timeout = 1000)'],
    ]);
    const label = (id: number | null) => delta.threads.find((t) => t.id === id)?.label;
    expect(label(delta.calls[0]!.caller)).toBe('miner-200/miner-200');
    expect(label(delta.calls[0]!.executor)).toBe('bitcoin-node-100/b-capnp-loop-140 (from miner-200/miner-200)');
    expect(delta.processes.map((p) => p.label).sort()).toEqual(['bitcoin-node-100', 'miner-200']);
    expect(delta.calls[0]!.returned! - delta.calls[0]!.sent).toBeCloseTo(500, 3);
  });
});
