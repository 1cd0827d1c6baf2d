// The RPC runtime shared by the bundled node and wallet processes: Cap'n
// Proto level-1 RPC over a stream, local servers written against the
// bundled schemas, and libmultiprocess's threads (lanes) and Init handshake.

export { Connection, ImportHook } from './connection.js';
export type { ConnectionOptions, IncomingCall, CallRunner, OutgoingHook } from './connection.js';
export { Cap, CallPromise, findInterface, findMethod, brokenCap } from './cap.js';
export { LocalServer, serve } from './server.js';
export type { CallContext, MethodImpl, ServerImpl } from './server.js';
export { RpcError } from './errors.js';
export type { ExceptionType } from './errors.js';
export { Threads, THREAD_ID, THREAD_MAP_ID } from './threads.js';
export type { ThreadsOptions } from './threads.js';
export { Lane, currentLane } from './lane.js';
export type { LaneState } from './lane.js';
export { AsyncMutex } from './mutex.js';
export { encodeStruct, EncodeError } from './encode.js';
export type { Plain } from './values.js';
