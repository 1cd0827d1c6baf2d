// Outgoing rpc.capnp messages, built with capnp-es's generated rpc types.
// Payload contents are written by the schema-driven encoder (encode.ts).

import { Message, Pointer, utils } from 'capnp-es';
import {
  Message as RpcMessage,
  Payload,
  CapDescriptor as CapDescriptorBuilder,
  PromisedAnswer,
  MessageTarget as MessageTargetBuilder,
  Exception as ExceptionBuilder,
} from 'capnp-es/capnp/rpc';
import { ExceptionType, EXCEPTION_TYPES } from './errors.js';

/** A capability as written into a cap table. */
export type Descriptor =
  | { kind: 'senderHosted'; id: number }
  | { kind: 'senderPromise'; id: number }
  | { kind: 'receiverHosted'; id: number }
  | { kind: 'receiverAnswer'; questionId: number; ops: number[] };

export type Target = { kind: 'importedCap'; id: number } | { kind: 'promisedAnswer'; questionId: number; ops: number[] };

/** Writes a payload's content; returns the cap table to attach. */
export type ContentWriter = (content: Pointer) => Descriptor[];

function newMessage(): { msg: Message; root: RpcMessage } {
  const msg = new Message();
  return { msg, root: msg.initRoot(RpcMessage) };
}

/** The framed bytes of a message (segment table + segments). */
export function frame(msg: Message): Uint8Array {
  return new Uint8Array(msg.toArrayBuffer());
}

function writeOps(pa: PromisedAnswer, questionId: number, ops: number[]): void {
  pa.questionId = questionId;
  if (ops.length === 0) return;
  const t = pa._initTransform(ops.length);
  ops.forEach((op, i) => {
    t.get(i).getPointerField = op;
  });
}

export function writeDescriptor(b: CapDescriptorBuilder, d: Descriptor): void {
  switch (d.kind) {
    case 'senderHosted':
      b.senderHosted = d.id;
      break;
    case 'senderPromise':
      b.senderPromise = d.id;
      break;
    case 'receiverHosted':
      b.receiverHosted = d.id;
      break;
    case 'receiverAnswer':
      writeOps(b._initReceiverAnswer(), d.questionId, d.ops);
      break;
  }
}

function writeTarget(b: MessageTargetBuilder, t: Target): void {
  if (t.kind === 'importedCap') b.importedCap = t.id;
  else writeOps(b._initPromisedAnswer(), t.questionId, t.ops);
}

function writePayload(p: Payload, content: ContentWriter): Descriptor[] {
  const descs = content(p.content);
  if (descs.length > 0) {
    const table = p._initCapTable(descs.length);
    descs.forEach((d, i) => writeDescriptor(table.get(i), d));
  }
  return descs;
}

function writeException(e: ExceptionBuilder, reason: string, type: ExceptionType): void {
  e.reason = reason;
  e.type = EXCEPTION_TYPES.indexOf(type) as ExceptionBuilder["type"];
}

export function bootstrapMessage(questionId: number): Uint8Array {
  const { msg, root } = newMessage();
  root._initBootstrap().questionId = questionId;
  return frame(msg);
}

export function callMessage(
  questionId: number,
  interfaceId: string,
  methodId: number,
  target: Target,
  content: ContentWriter,
): { bytes: Uint8Array; descriptors: Descriptor[] } {
  const { msg, root } = newMessage();
  const call = root._initCall();
  call.questionId = questionId;
  call.interfaceId = BigInt(interfaceId);
  call.methodId = methodId;
  writeTarget(call._initTarget(), target);
  const descriptors = writePayload(call._initParams(), content);
  return { bytes: frame(msg), descriptors };
}

/**
 * A Return carrying results. C++ (1.x) semantics: `releaseParamCaps` false
 * (params caps are released later with Release), `noFinishNeeded` when the
 * results hold no capabilities. Bootstrap answers keep the defaults.
 */
export function returnResultsMessage(
  answerId: number,
  content: ContentWriter,
  opts: { releaseParamCaps: boolean; noFinishNeededIfNoCaps: boolean },
): { bytes: Uint8Array; descriptors: Descriptor[]; noFinishNeeded: boolean } {
  const { msg, root } = newMessage();
  const ret = root._initReturn();
  ret.answerId = answerId;
  if (!opts.releaseParamCaps) ret.releaseParamCaps = false;
  const descriptors = writePayload(ret._initResults(), content);
  const noFinishNeeded = opts.noFinishNeededIfNoCaps && descriptors.length === 0;
  // Bit 33 of the Return (Cap'n Proto >= 1.0); older peers ignore it.
  if (noFinishNeeded) ret.noFinishNeeded = true;
  return { bytes: frame(msg), descriptors, noFinishNeeded };
}

export function returnExceptionMessage(answerId: number, reason: string, type: ExceptionType): Uint8Array {
  const { msg, root } = newMessage();
  const ret = root._initReturn();
  ret.answerId = answerId;
  ret.releaseParamCaps = false;
  writeException(ret._initException(), reason, type);
  return frame(msg);
}

export function returnCanceledMessage(answerId: number): Uint8Array {
  const { msg, root } = newMessage();
  const ret = root._initReturn();
  ret.answerId = answerId;
  ret.releaseParamCaps = false;
  ret.canceled = true;
  return frame(msg);
}

/** The Return for a call made with sendResultsTo.yourself, once the caller took the results elsewhere. */
export function returnResultsSentElsewhereMessage(answerId: number): Uint8Array {
  const { msg, root } = newMessage();
  const ret = root._initReturn();
  ret.answerId = answerId;
  ret.releaseParamCaps = false;
  ret.resultsSentElsewhere = true;
  return frame(msg);
}

/** Finish as C++ >= 1.0 sends it: result caps are released with Release, no early-cancellation workaround. */
export function finishMessage(questionId: number): Uint8Array {
  const { msg, root } = newMessage();
  const f = root._initFinish();
  f.questionId = questionId;
  f.releaseResultCaps = false;
  f.requireEarlyCancellationWorkaround = false;
  return frame(msg);
}

export function releaseMessage(id: number, referenceCount: number): Uint8Array {
  const { msg, root } = newMessage();
  const r = root._initRelease();
  r.id = id;
  r.referenceCount = referenceCount;
  return frame(msg);
}

export function resolveMessage(promiseId: number, to: Descriptor | { reason: string; type: ExceptionType } | null): Uint8Array {
  const { msg, root } = newMessage();
  const r = root._initResolve();
  r.promiseId = promiseId;
  if (to === null) r._initCap().none = true;
  else if ('kind' in to) writeDescriptor(r._initCap(), to);
  else writeException(r._initException(), to.reason, to.type);
  return frame(msg);
}

export function disembargoReceiverLoopback(target: Target, embargoId: number): Uint8Array {
  const { msg, root } = newMessage();
  const d = root._initDisembargo();
  writeTarget(d._initTarget(), target);
  d._initContext().receiverLoopback = embargoId;
  return frame(msg);
}

export function abortMessage(reason: string, type: ExceptionType): Uint8Array {
  const { msg, root } = newMessage();
  writeException(root._initAbort(), reason, type);
  return frame(msg);
}

/** Echoes a message we do not handle back as `unimplemented` (a copy of the framed bytes). */
export function unimplementedMessage(framed: Uint8Array): Uint8Array {
  const src = new Message(framed, false).getRoot(RpcMessage);
  const { msg, root } = newMessage();
  root.unimplemented = src;
  return frame(msg);
}

/** Writes a capability pointer (index into the cap table) at `p`. */
export function writeCapPointer(p: Pointer, index: number): void {
  utils.setInterfacePointer(index, p);
}
