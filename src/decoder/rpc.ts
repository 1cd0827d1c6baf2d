// The RPC layer: the rpc.capnp envelope of a message, decoded with the same
// dynamic decoder as everything else, then read into typed RPC messages.

import { DStruct, DList, OpaquePointer, Value, decodeStructAt, DecodeContext } from './dynamic.js';
import { SchemaSet, StructInfo } from './schema.js';
import { WireMessage, readBit, readStruct, readUint, readWord, structPointer, DEFAULT_NESTING_LIMIT } from './wire.js';
import { readRpcDirect } from './rpc-direct.js';

export type MessageTarget =
  | { kind: 'importedCap'; id: number }
  | { kind: 'promisedAnswer'; questionId: number; transform: number[] };

export type CapDescriptor =
  | { kind: 'none' }
  | { kind: 'senderHosted'; id: number }
  | { kind: 'senderPromise'; id: number }
  | { kind: 'receiverHosted'; id: number }
  | { kind: 'receiverAnswer'; questionId: number; transform: number[] }
  | { kind: 'thirdPartyHosted' };

export interface Payload {
  /** The params/results struct (or the bootstrap capability) left undecoded. */
  content: OpaquePointer | null;
  capTable: CapDescriptor[];
}

export interface RpcException {
  reason: string;
  type: string;
}

export type RpcMessage =
  | { type: 'bootstrap'; questionId: number }
  | {
      type: 'call';
      questionId: number;
      interfaceId: string;
      methodId: number;
      target: MessageTarget;
      params: Payload;
      sendResultsTo: string;
    }
  | {
      type: 'return';
      answerId: number;
      releaseParamCaps: boolean;
      /** Cap'n Proto >= 1.0 (bit 33; not in older rpc.capnp). */
      noFinishNeeded: boolean;
      which: string;
      results: Payload | null;
      exception: RpcException | null;
      takeFromOtherQuestion: number | null;
    }
  | { type: 'finish'; questionId: number; releaseResultCaps: boolean }
  | { type: 'resolve'; promiseId: number; cap: CapDescriptor | null; exception: RpcException | null }
  | { type: 'release'; id: number; referenceCount: number }
  | { type: 'disembargo'; target: MessageTarget; context: string; embargoId: number | null }
  | { type: 'abort'; exception: RpcException }
  | { type: 'unimplemented'; inner: RpcMessage | null }
  | { type: 'other'; which: string };

/** rpc.capnp's Message struct. */
export const RPC_MESSAGE_ID = '0x91b79f1f808db032';

function num(v: Value | undefined): number {
  return typeof v === 'number' ? v : 0;
}

function struct(v: Value | undefined): DStruct | null {
  return v instanceof DStruct ? v : null;
}

function hex64(v: Value | undefined): string {
  return typeof v === 'bigint' || typeof v === 'number' ? '0x' + v.toString(16) : '0x0';
}

function transform(pa: DStruct): number[] {
  const ops = pa.get('transform');
  const out: number[] = [];
  if (ops instanceof DList) {
    for (const op of ops.items) {
      const s = struct(op);
      if (s && s.which() === 'getPointerField') out.push(num(s.get('getPointerField')));
    }
  }
  return out;
}

function target(s: DStruct | null): MessageTarget {
  if (s?.which() === 'promisedAnswer') {
    const pa = struct(s.get('promisedAnswer'));
    return { kind: 'promisedAnswer', questionId: num(pa?.get('questionId')), transform: pa ? transform(pa) : [] };
  }
  return { kind: 'importedCap', id: num(s?.get('importedCap')) };
}

export function capDescriptor(s: DStruct): CapDescriptor {
  const w = s.which();
  switch (w) {
    case 'senderHosted':
    case 'senderPromise':
    case 'receiverHosted':
      return { kind: w, id: num(s.get(w)) };
    case 'receiverAnswer': {
      const pa = struct(s.get('receiverAnswer'));
      return { kind: 'receiverAnswer', questionId: num(pa?.get('questionId')), transform: pa ? transform(pa) : [] };
    }
    case 'thirdPartyHosted':
      return { kind: 'thirdPartyHosted' };
    default:
      return { kind: 'none' };
  }
}

function payload(s: DStruct | null): Payload {
  const content = s?.get('content');
  const table = s?.get('capTable');
  return {
    content: content instanceof OpaquePointer ? content : null,
    capTable: table instanceof DList ? table.items.map((c) => capDescriptor(c as DStruct)) : [],
  };
}

function exception(s: DStruct | null): RpcException {
  const reason = s?.get('reason');
  return { reason: typeof reason === 'string' ? reason : '', type: exceptionType(num(s?.get('type'))) };
}

const EXCEPTION_TYPES = ['failed', 'overloaded', 'disconnected', 'unimplemented'];
function exceptionType(n: number): string {
  return EXCEPTION_TYPES[n] ?? `(${n})`;
}

/** Reads a decoded rpc.Message into a typed RPC message. */
export function interpret(msg: DStruct, wire: WireMessage): RpcMessage {
  const w = msg.which();
  const body = w ? struct(msg.get(w)) : null;
  switch (w) {
    case 'bootstrap':
      return { type: 'bootstrap', questionId: num(body?.get('questionId')) };
    case 'call':
      return {
        type: 'call',
        questionId: num(body?.get('questionId')),
        interfaceId: hex64(body?.get('interfaceId')),
        methodId: num(body?.get('methodId')),
        target: target(struct(body?.get('target'))),
        params: payload(struct(body?.get('params'))),
        sendResultsTo: struct(body?.get('sendResultsTo'))?.which() ?? 'caller',
      };
    case 'return': {
      const which = body?.which() ?? 'results';
      const take = body?.get('takeFromOtherQuestion');
      return {
        type: 'return',
        answerId: num(body?.get('answerId')),
        releaseParamCaps: body?.get('releaseParamCaps') !== false,
        noFinishNeeded: body ? readBit(wire, body.ref, 33) : false,
        which,
        results: which === 'results' ? payload(struct(body?.get('results'))) : null,
        exception: which === 'exception' ? exception(struct(body?.get('exception'))) : null,
        takeFromOtherQuestion: which === 'takeFromOtherQuestion' ? num(take) : null,
      };
    }
    case 'finish':
      return {
        type: 'finish',
        questionId: num(body?.get('questionId')),
        releaseResultCaps: body?.get('releaseResultCaps') !== false,
      };
    case 'resolve': {
      const rw = body?.which();
      return {
        type: 'resolve',
        promiseId: num(body?.get('promiseId')),
        cap: rw === 'cap' ? capDescriptor(struct(body?.get('cap')) ?? msg) : null,
        exception: rw === 'exception' ? exception(struct(body?.get('exception'))) : null,
      };
    }
    case 'release':
      return { type: 'release', id: num(body?.get('id')), referenceCount: num(body?.get('referenceCount')) };
    case 'disembargo': {
      const ctx = struct(body?.get('context'));
      const cw = ctx?.which() ?? 'senderLoopback';
      const id = ctx?.get(cw);
      return {
        type: 'disembargo',
        target: target(struct(body?.get('target'))),
        context: cw,
        embargoId: typeof id === 'number' ? id : null,
      };
    }
    case 'abort':
      return { type: 'abort', exception: exception(struct(msg.get('abort'))) };
    case 'unimplemented': {
      const inner = struct(msg.get('unimplemented'));
      return { type: 'unimplemented', inner: inner ? interpret(inner, wire) : null };
    }
    default:
      return { type: 'other', which: w ?? `(${msg.discriminant})` };
  }
}

/**
 * The RPC message of a framed message: the one way every consumer reads it.
 * The common messages are read directly (rpc-direct.ts); everything else, and
 * anything malformed, goes through the schema-driven decoder, whose errors
 * are the reference's.
 */
export function readRpc(rpc: SchemaSet, wire: WireMessage): RpcMessage {
  const budget = wire.remaining;
  try {
    const r = readRpcDirect(wire);
    if (r) return r;
  } catch {
    // the schema-driven decoder below says what is wrong
  }
  wire.remaining = budget;
  return interpret(decodeEnvelope(rpc, wire), wire);
}

/** Decodes the envelope of a framed message with rpc.capnp. */
export function decodeEnvelope(rpc: SchemaSet, wire: WireMessage): DStruct {
  const ctx: DecodeContext = { schemas: rpc, msg: wire, capCount: 0 };
  const info: StructInfo = rpc.struct(RPC_MESSAGE_ID);
  return decodeStructAt(ctx, wire.root(), DEFAULT_NESTING_LIMIT, info, null);
}

/**
 * Reads only the question a Call or Bootstrap asks (ids and method), straight
 * from the wire: used when the rest of the envelope is malformed.
 */
export function peekQuestion(
  wire: WireMessage,
): { bootstrap: boolean; questionId: number; interfaceId: string; methodId: number } | null {
  const root = readStruct(wire, wire.root(), DEFAULT_NESTING_LIMIT);
  if (!root) return null;
  const which = readUint(wire, root, 0, 16);
  if (which !== 2 && which !== 8) return null;
  const loc = structPointer(root, 0);
  const body = loc ? readStruct(wire, loc, root.nest) : null;
  if (!body) return null;
  const questionId = readUint(wire, body, 0, 32);
  if (which === 8) return { bootstrap: true, questionId, interfaceId: '', methodId: 0 };
  const [lo, hi] = readWord(wire, body, 1);
  const interfaceId = '0x' + ((BigInt(hi) << 32n) | BigInt(lo)).toString(16);
  return { bootstrap: false, questionId, interfaceId, methodId: readUint(wire, body, 2, 16) };
}
