// Errors that cross the wire: a Cap'n Proto Exception has a reason and a type.

export type ExceptionType = 'failed' | 'overloaded' | 'disconnected' | 'unimplemented';

export const EXCEPTION_TYPES: readonly ExceptionType[] = ['failed', 'overloaded', 'disconnected', 'unimplemented'];

/** An RPC failure: thrown by server methods to pick the type, and what callers' promises reject with. */
export class RpcError extends Error {
  constructor(
    readonly type: ExceptionType,
    message: string,
    /** True when the error came from the peer (a Return.exception or an Abort). */
    readonly remote = false,
  ) {
    super(message);
    this.name = 'RpcError';
  }
}

/** The exception a JS error thrown by a server method travels as. */
export function toException(e: unknown): { reason: string; type: ExceptionType } {
  if (e instanceof RpcError) return { reason: e.message, type: e.type };
  if (e instanceof Error) return { reason: e.message, type: 'failed' };
  return { reason: String(e), type: 'failed' };
}

/** A received exception, as C++ shows it (`remote exception: ` prefix added once). */
export function fromException(reason: string, type: string): RpcError {
  const t = (EXCEPTION_TYPES as readonly string[]).includes(type) ? (type as ExceptionType) : 'failed';
  const r = reason.startsWith('remote exception: ') ? reason : `remote exception: ${reason}`;
  return new RpcError(t, r, true);
}

export function disconnected(message: string): RpcError {
  return new RpcError('disconnected', message);
}
