// The per-connection tables' entries (questions, answers, exports) and small
// helpers over them.

import { SchemaSet, StructInfo, MethodInfo } from '../decoder/schema.js';
import { OpaquePointer } from '../decoder/dynamic.js';
import { Cap, Hook, PromiseHook, RawResults, brokenCap, isCap } from './cap.js';
import type { Descriptor } from './envelope.js';
import { RpcError } from './errors.js';
import { Plain, followOps } from './values.js';

/** One of our calls (or bootstraps), until its Return is in. */
export interface Question {
  id: number;
  bootstrap: boolean;
  method: MethodInfo | null;
  resultInfo: StructInfo | null;
  paramExports: number[];
  raw: Promise<RawResults>;
  resolve: (r: RawResults) => void;
  reject: (e: Error) => void;
  pipelines: { path: string[]; hook: PromiseHook }[];
  /** Set once the Return is in (for pipelines asked for afterwards). */
  outcome: RawResults | Error | null;
  /** The Return said takeFromOtherQuestion: the results of one of our answers, once ready. */
  redirect: Promise<RawResults> | null;
}

export type AnswerResult =
  | { kind: 'struct'; info: StructInfo; value: Plain }
  | { kind: 'cap'; cap: Cap | null }
  | { kind: 'error'; error: Error };

export interface Answer {
  id: number;
  state: 'running' | 'returned';
  finishReceived: boolean;
  result: AnswerResult | null;
  resultExports: number[];
  /** References to release when the answer goes. */
  owned: Cap[];
  /** Promise hooks waiting for this answer (calls the peer pipelined on it). */
  waiting: { hook: PromiseHook; ops: number[] }[];
  /** A tail call (sendResultsTo.yourself): results stay here for our question that takes them. */
  redirect: { results: Promise<RawResults>; taken: boolean } | null;
  /** A Return went out for this answer. */
  returnSent: boolean;
}

export interface Export {
  id: number;
  hook: Hook;
  /** Our reference to what we export. */
  cap: Cap;
  refcount: number;
}

/** The peer broke the protocol: the connection is aborted. */
export class ProtocolError extends Error {}

/** The lowest id not in use (C++'s ExportTable reuses ids lowest first). */
export function lowestFree(m: Map<number, unknown>): number {
  let i = 0;
  while (m.has(i)) i++;
  return i;
}

/** Export ids a cap table references (each counted once more on our side). */
export function exportedIds(descs: Descriptor[]): number[] {
  const out: number[] = [];
  for (const d of descs) if (d.kind === 'senderHosted' || d.kind === 'senderPromise') out.push(d.id);
  return out;
}


/** A new reference to the capability at `ops` in a returned answer (broken if there is none). */
export function capFromAnswer(schemas: SchemaSet, a: Answer, ops: number[]): Cap {
  const r = a.result;
  if (!r) return brokenCap(new RpcError('failed', 'answer has no result'));
  if (r.kind === 'error') return brokenCap(r.error);
  let v: unknown;
  if (r.kind === 'cap') v = ops.length === 0 ? r.cap : null;
  else v = followOps(schemas, r.info, r.value, ops);
  if (isCap(v) && !v.isReleased) return v.dup();
  if (v instanceof OpaquePointer) return brokenCap(new RpcError('failed', 'pipelined field is not a capability'));
  return brokenCap(new RpcError('failed', 'Called null capability.'));
}
