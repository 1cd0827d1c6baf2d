// Capability ids as rpc.capnp defines their lifetime: each senderHosted
// descriptor adds a reference, Release(id, n), Return.releaseParamCaps and
// Finish.releaseResultCaps remove them, and at zero the id is free for a new
// capability. A pycapnp mining client pipelines construct().threadMap and
// Finishes before the Return: the node frees export 1 and reuses it for
// makeMining's result, which must then be "Mining", not "ThreadMap".

import { describe, it, expect } from 'vitest';
import { Pipeline } from '../../src/session/pipeline.js';
import { IpcLog } from '../../src/log/ipclog.js';
import { bundledSchemaSet, rpcSchemaSet } from '../../src/decoder/sources.js';
import * as env from '../../src/rpc/envelope.js';
import { encodeStruct } from '../../src/rpc/encode.js';
import { Message } from 'capnp-es';
import { Message as RpcMessage } from 'capnp-es/capnp/rpc';
import type { SchemaSet } from '../../src/decoder/schema.js';
import type { Dir } from '../../src/decoder/messages.js';

const schemas = bundledSchemaSet();

function iface(name: string) {
  const i = [...schemas.interfaces.values()].find((x) => x.name === name);
  if (!i) throw new Error(`no interface ${name}`);
  return i;
}

/** A payload writer: `value` with capabilities given as descriptors. */
function content(set: SchemaSet, structId: string, value: Record<string, unknown>): env.ContentWriter {
  return (p) => {
    const descs: env.Descriptor[] = [];
    encodeStruct({ schemas: set, capIndex: (v) => (v === null ? null : (descs.push(v as env.Descriptor), descs.length - 1)) }, p, set.struct(structId), null, value);
    return descs;
  };
}

function call(q: number, ifaceName: string, method: string, target: env.Target, value: Record<string, unknown>): Uint8Array {
  const i = iface(ifaceName);
  const m = i.methods.find((x) => x.name === method)!;
  return env.callMessage(q, i.id, m.ordinal, target, content(schemas, m.paramId, value)).bytes;
}

function ret(a: number, ifaceName: string, method: string, value: Record<string, unknown>, releaseParamCaps = false): Uint8Array {
  const m = iface(ifaceName).methods.find((x) => x.name === method)!;
  return env.returnResultsMessage(a, content(schemas, m.resultId, value), { releaseParamCaps, noFinishNeededIfNoCaps: false }).bytes;
}

/** The bootstrap capability's Return: content is the capability itself. */
function bootstrapReturn(a: number, exportId: number): Uint8Array {
  return env.returnResultsMessage(a, (p) => (env.writeCapPointer(p, 0), [{ kind: 'senderHosted', id: exportId }]), { releaseParamCaps: true, noFinishNeededIfNoCaps: false }).bytes;
}

function finish(q: number, releaseResultCaps: boolean): Uint8Array {
  const msg = new Message();
  const f = msg.initRoot(RpcMessage)._initFinish();
  f.questionId = q;
  f.releaseResultCaps = releaseResultCaps;
  return env.frame(msg);
}

function run(msgs: [Dir, Uint8Array][]) {
  const lines: string[] = [];
  const p = new Pipeline(schemas, rpcSchemaSet(), [new IpcLog((l) => lines.push(l))]);
  p.open({ id: 1, time: 1000, label: 'test' });
  let t = 1000;
  for (const [dir, bytes] of msgs) p.chunk(1, dir, bytes, (t += 1));
  return { model: p.model, lines, pipeline: p };
}

const ctx = (threadExport: number, callbackExport: number) => ({
  context: { thread: { kind: 'receiverHosted', id: threadExport }, callbackThread: { kind: 'senderHosted', id: callbackExport } },
});

describe('capability ids freed and reused', () => {
  it('a Finish before the Return releases the result caps; the reused id is a new capability', () => {
    const { model, lines } = run([
      ['>', env.bootstrapMessage(0)],
      ['<', bootstrapReturn(0, 0)],
      ['>', finish(0, false)],
      // construct(threadMap) and makeThread pipelined on its result, then an early Finish.
      ['>', call(1, 'Init', 'construct', { kind: 'importedCap', id: 0 }, { threadMap: { kind: 'senderHosted', id: 0 } })],
      ['>', call(2, 'ThreadMap', 'makeThread', { kind: 'promisedAnswer', questionId: 1, ops: [0] }, { name: 'miner-100/main-100' })],
      ['>', finish(1, true)],
      ['<', ret(1, 'Init', 'construct', { threadMap: { kind: 'senderHosted', id: 1 } })],
      ['<', ret(2, 'ThreadMap', 'makeThread', { result: { kind: 'senderHosted', id: 2 } })],
      ['>', finish(2, false)],
      // makeMining's result reuses export 1.
      ['>', call(3, 'Init', 'makeMining', { kind: 'importedCap', id: 0 }, ctx(2, 1))],
      ['<', ret(3, 'Init', 'makeMining', { result: { kind: 'senderHosted', id: 1 } })],
      ['>', finish(3, false)],
      ['>', call(4, 'Mining', 'isTestChain', { kind: 'importedCap', id: 1 }, ctx(2, 1))],
    ]);
    const nodeExports = model.caps.filter((c) => c.owner === 'B');
    const one = nodeExports.filter((c) => c.exportId === 1);
    expect(one.map((c) => c.iface)).toEqual(['ThreadMap', 'Mining']);
    expect(one[0]!.released).not.toBeNull();
    expect(one[1]!.released).toBeNull();
    expect(one[1]!.refs).toBe(1);
    const isTestChain = model.calls.find((c) => c.method === 'isTestChain')!;
    expect(isTestChain.target).toBe('Mining');
    expect(lines.find((l) => l.includes('Mining.isTestChain$Params to '))).toMatch(/to Mining$/);
    expect(lines.join('\n')).not.toMatch(/Mining\.\w+\$Params to ThreadMap/);
  });

  it('Release counts references: the id is only free once they are all released', () => {
    const { model } = run([
      ['>', env.bootstrapMessage(0)],
      ['<', bootstrapReturn(0, 0)],
      ['>', finish(0, false)],
      ['>', call(1, 'Init', 'construct', { kind: 'importedCap', id: 0 }, { threadMap: { kind: 'senderHosted', id: 0 } })],
      ['<', ret(1, 'Init', 'construct', { threadMap: { kind: 'senderHosted', id: 1 } })],
      ['>', finish(1, false)],
      // The same export sent twice more: three references.
      ['>', call(2, 'Init', 'construct', { kind: 'importedCap', id: 0 }, { threadMap: { kind: 'senderHosted', id: 0 } })],
      ['<', ret(2, 'Init', 'construct', { threadMap: { kind: 'senderHosted', id: 1 } })],
      ['>', finish(2, false)],
      ['>', call(3, 'Init', 'construct', { kind: 'importedCap', id: 0 }, { threadMap: { kind: 'senderHosted', id: 0 } })],
      ['<', ret(3, 'Init', 'construct', { threadMap: { kind: 'senderHosted', id: 1 } })],
      ['>', finish(3, false)],
      ['>', env.releaseMessage(1, 2)],
    ]);
    const first = () => model.caps.filter((c) => c.owner === 'B' && c.exportId === 1);
    expect(first()).toHaveLength(1);
    expect(first()[0]!.refs).toBe(1);
    expect(first()[0]!.released).toBeNull();
    // Returns with releaseParamCaps false (as C++ sends them): the client's ThreadMap keeps its three references.
    const clientMap = model.caps.filter((c) => c.owner === 'A' && c.exportId === 0);
    expect(clientMap).toHaveLength(1);
    expect(clientMap[0]!.refs).toBe(3);
  });

  it('Return.releaseParamCaps and Finish.releaseResultCaps after the Return release what the call carried', () => {
    const { model, pipeline } = run([
      ['>', env.bootstrapMessage(0)],
      ['<', bootstrapReturn(0, 0)],
      ['>', finish(0, false)],
      ['>', call(1, 'Init', 'construct', { kind: 'importedCap', id: 0 }, { threadMap: { kind: 'senderHosted', id: 0 } })],
      ['<', ret(1, 'Init', 'construct', { threadMap: { kind: 'senderHosted', id: 1 } }, true)],
      ['>', finish(1, true)],
    ]);
    const clientMap = model.caps.find((c) => c.owner === 'A' && c.exportId === 0)!;
    const nodeMap = model.caps.find((c) => c.owner === 'B' && c.exportId === 1)!;
    expect(clientMap.refs).toBe(0);
    expect(clientMap.released).not.toBeNull();
    expect(nodeMap.refs).toBe(0);
    expect(nodeMap.released).not.toBeNull();
    // Both ids are free: new exports under them are new capabilities.
    pipeline.chunk(1, '>', call(2, 'Init', 'construct', { kind: 'importedCap', id: 0 }, { threadMap: { kind: 'senderHosted', id: 0 } }), 2000);
    pipeline.chunk(1, '<', ret(2, 'Init', 'construct', { threadMap: { kind: 'senderHosted', id: 1 } }), 2001);
    expect(model.caps.filter((c) => c.owner === 'A' && c.exportId === 0)).toHaveLength(2);
    expect(model.caps.filter((c) => c.owner === 'B' && c.exportId === 1)).toHaveLength(2);
  });
});
