// The common rpc.capnp messages (Call, Return, Finish, Bootstrap, Release)
// read straight from the wire into typed RPC messages, without building the
// generic value tree first: the hot path of decoding. It follows exactly the
// pointers the schema-driven decoder follows for these messages, through the
// same wire.ts readers, so bounds, nesting and traversal-limit charges are
// the same. readRpc (rpc.ts) is the one entry point: it falls back to the
// schema-driven decoder for every other message and for any error, so error
// texts always come from there. test/decoder/rpc-direct.test.ts checks both
// paths agree on every capture message and on corrupted ones.

import { OpaquePointer } from './dynamic.js';
import type { CapDescriptor, MessageTarget, Payload, RpcException, RpcMessage } from './rpc.js';
import {
  WireMessage,
  StructRef,
  ElementSize,
  DEFAULT_NESTING_LIMIT,
  isNullPointer,
  listStruct,
  readBit,
  readBlob,
  readList,
  readStruct,
  readUint,
  readWord,
  structPointer,
  wordHex,
} from './wire.js';

const EMPTY: StructRef = { seg: 0, data: 0, dataBits: 0, ptrs: 0, ptrCount: 0, nest: 1 };

/** The struct pointer `index` of `s` points to, or the empty struct for a null or absent pointer. */
function child(m: WireMessage, s: StructRef, index: number): StructRef {
  const loc = structPointer(s, index);
  return (loc && readStruct(m, loc, s.nest)) ?? EMPTY;
}

/** An AnyPointer field: never read, only kept (as the schema-driven decoder keeps it). */
function anyPointer(m: WireMessage, s: StructRef, index: number): OpaquePointer | null {
  const loc = structPointer(s, index);
  return loc && !isNullPointer(m, loc) ? new OpaquePointer(m, loc, s.nest) : null;
}

/** Validates a Text field as the schema-driven decoder reads it. */
function text(m: WireMessage, s: StructRef, index: number): string {
  const loc = structPointer(s, index);
  const b = loc && readBlob(m, loc, true);
  return b ? Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1') : '';
}

/** PromisedAnswer: the question and its getPointerField transform. */
function promisedAnswer(m: WireMessage, pa: StructRef): { questionId: number; transform: number[] } {
  const questionId = readUint(m, pa, 0, 32);
  const transform: number[] = [];
  const loc = structPointer(pa, 0);
  const l = loc && readList(m, loc, pa.nest, ElementSize.InlineComposite);
  if (l) {
    for (let i = 0; i < l.count; i++) {
      const op = listStruct(l, i);
      if (readUint(m, op, 0, 16) === 1) transform.push(readUint(m, op, 1, 16));
    }
  }
  return { questionId, transform };
}

function target(m: WireMessage, t: StructRef): MessageTarget {
  const which = readUint(m, t, 2, 16);
  if (which === 1) return { kind: 'promisedAnswer', ...promisedAnswer(m, child(m, t, 0)) };
  return { kind: 'importedCap', id: which === 0 ? readUint(m, t, 0, 32) : 0 };
}

const HOSTED = [null, 'senderHosted', 'senderPromise', 'receiverHosted'] as const;

function capDescriptor(m: WireMessage, c: StructRef): CapDescriptor {
  const which = readUint(m, c, 0, 16);
  switch (which) {
    case 1:
    case 2:
    case 3:
      return { kind: HOSTED[which]!, id: readUint(m, c, 1, 32) };
    case 4:
      return { kind: 'receiverAnswer', ...promisedAnswer(m, child(m, c, 0)) };
    case 5:
      child(m, c, 0); // ThirdPartyCapDescriptor: only an AnyPointer and a number, both unread
      return { kind: 'thirdPartyHosted' };
    default:
      return { kind: 'none' };
  }
}

function payload(m: WireMessage, p: StructRef): Payload {
  const content = anyPointer(m, p, 0);
  const capTable: CapDescriptor[] = [];
  const loc = structPointer(p, 1);
  const l = loc && readList(m, loc, p.nest, ElementSize.InlineComposite);
  if (l) for (let i = 0; i < l.count; i++) capTable.push(capDescriptor(m, listStruct(l, i)));
  return { content, capTable };
}

const EXCEPTION_TYPES = ['failed', 'overloaded', 'disconnected', 'unimplemented'];

function exception(m: WireMessage, e: StructRef): RpcException {
  const reason = text(m, e, 0);
  text(m, e, 1); // trace: validated, not kept
  const n = readUint(m, e, 2, 16);
  return { reason, type: EXCEPTION_TYPES[n] ?? `(${n})` };
}

/** Interface ids as text, by their low half (checked against the high half): a session has few interfaces. */
const interfaceIds = new Map<number, { hi: number; text: string }>();

function interfaceIdText(lo: number, hi: number): string {
  const known = interfaceIds.get(lo);
  if (known && known.hi === hi) return known.text;
  const text = '0x' + wordHex(lo, hi);
  if (interfaceIds.size < 4096) interfaceIds.set(lo, { hi, text });
  return text;
}

const RETURN_WHICH = ['results', 'exception', 'canceled', 'resultsSentElsewhere', 'takeFromOtherQuestion', 'acceptFromThirdParty'];
const SEND_RESULTS_TO = ['caller', 'yourself', 'thirdParty'];

/**
 * The RPC message of a Call, Return, Finish, Bootstrap or Release read
 * directly; null for every other message (left to the schema-driven decoder).
 * Throws the wire readers' errors on malformed input.
 */
export function readRpcDirect(m: WireMessage): RpcMessage | null {
  const root = readStruct(m, m.root(), DEFAULT_NESTING_LIMIT) ?? EMPTY;
  const which = readUint(m, root, 0, 16);
  switch (which) {
    case 2: {
      const c = child(m, root, 0);
      const questionId = readUint(m, c, 0, 32);
      const t = target(m, child(m, c, 0));
      const [lo, hi] = readWord(m, c, 1);
      const methodId = readUint(m, c, 2, 16);
      const params = payload(m, child(m, c, 1));
      return {
        type: 'call',
        questionId,
        interfaceId: interfaceIdText(lo, hi),
        methodId,
        target: t,
        params,
        sendResultsTo: SEND_RESULTS_TO[readUint(m, c, 3, 16)] ?? 'caller',
      };
    }
    case 3: {
      const r = child(m, root, 0);
      const w = readUint(m, r, 3, 16);
      const name = RETURN_WHICH[w] ?? 'results';
      return {
        type: 'return',
        answerId: readUint(m, r, 0, 32),
        releaseParamCaps: !readBit(m, r, 32),
        noFinishNeeded: readBit(m, r, 33),
        which: name,
        results: name === 'results' ? (w === 0 ? payload(m, child(m, r, 0)) : { content: null, capTable: [] }) : null,
        exception: w === 1 ? exception(m, child(m, r, 0)) : null,
        takeFromOtherQuestion: w === 4 ? readUint(m, r, 2, 32) : null,
      };
    }
    case 4: {
      const f = child(m, root, 0);
      return { type: 'finish', questionId: readUint(m, f, 0, 32), releaseResultCaps: !readBit(m, f, 32) };
    }
    case 6: {
      const r = child(m, root, 0);
      return { type: 'release', id: readUint(m, r, 0, 32), referenceCount: readUint(m, r, 1, 32) };
    }
    case 8:
      return { type: 'bootstrap', questionId: readUint(m, child(m, root, 0), 0, 32) };
    default:
      return null;
  }
}
