// Messages the interceptor makes up: the Return that answers a failed Call.

import { Message } from 'capnp-es';
import { Message as RpcMessage } from 'capnp-es/capnp/rpc';
import { EXCEPTION_TYPES } from '../rpc/errors.js';
import type { ExceptionType } from '../rpc/errors.js';

/**
 * A Return for question `answerId` carrying an exception. releaseParamCaps
 * stays true (the default): the callee never saw the params, so the caller
 * must consider their capabilities released.
 */
export function exceptionReturn(answerId: number, reason: string, type: ExceptionType = 'failed'): Uint8Array {
  const msg = new Message();
  const ret = msg.initRoot(RpcMessage)._initReturn();
  ret.answerId = answerId;
  const e = ret._initException();
  e.reason = reason;
  e.type = EXCEPTION_TYPES.indexOf(type) as typeof e.type;
  return new Uint8Array(msg.toArrayBuffer());
}
