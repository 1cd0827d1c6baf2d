// Short human-readable descriptions of RPC messages, targets and cap
// descriptors, shared by every view that prints wire-level events.

import type { CapDescriptor, MessageTarget, RpcMessage } from './rpc.js';

export function describeTarget(t: MessageTarget): string {
  if (t.kind === 'importedCap') return `cap#${t.id}`;
  return `answer(q${t.questionId}${t.transform.map((i) => `.${i}`).join('')})`;
}

export function describeCap(c: CapDescriptor): string {
  switch (c.kind) {
    case 'senderHosted':
    case 'senderPromise':
    case 'receiverHosted':
      return `${c.kind} ${c.id}`;
    case 'receiverAnswer':
      return `receiverAnswer q${c.questionId}${c.transform.map((i) => `.${i}`).join('')}`;
    default:
      return c.kind;
  }
}

export function describeCaps(caps: CapDescriptor[]): string {
  return caps.length === 0 ? '' : ` caps=[${caps.map(describeCap).join(', ')}]`;
}

/** One line for an RPC message, without its params/results; `label` names a call's method. */
export function describeRpc(r: RpcMessage, label?: string): string {
  switch (r.type) {
    case 'bootstrap':
      return `bootstrap q${r.questionId}`;
    case 'call':
      return `call q${r.questionId} ${describeTarget(r.target)} ${label ?? `${r.interfaceId}@${r.methodId}`}${describeCaps(r.params.capTable)}`;
    case 'return': {
      const flags = `${r.releaseParamCaps ? '' : ' keepParamCaps'}${r.noFinishNeeded ? ' noFinishNeeded' : ''}`;
      const what =
        r.which === 'results'
          ? describeCaps(r.results?.capTable ?? [])
          : r.which === 'exception'
            ? ` exception ${r.exception?.type}: ${r.exception?.reason}`
            : r.which === 'takeFromOtherQuestion'
              ? ` takeFromOtherQuestion q${r.takeFromOtherQuestion}`
              : ` ${r.which}`;
      return `return a${r.answerId}${flags}${what}`;
    }
    case 'finish':
      return `finish q${r.questionId}${r.releaseResultCaps ? '' : ' keepResultCaps'}`;
    case 'resolve':
      return `resolve promise ${r.promiseId} ${r.cap ? describeCap(r.cap) : `exception ${r.exception?.type}: ${r.exception?.reason}`}`;
    case 'release':
      return `release cap#${r.id} x${r.referenceCount}`;
    case 'disembargo':
      return `disembargo ${describeTarget(r.target)} ${r.context}${r.embargoId !== null ? ` ${r.embargoId}` : ''}`;
    case 'abort':
      return `abort ${r.exception.type}: ${r.exception.reason}`;
    case 'unimplemented':
      return `unimplemented (${r.inner ? describeRpc(r.inner) : 'null'})`;
    default:
      return `message type ${r.which}`;
  }
}
