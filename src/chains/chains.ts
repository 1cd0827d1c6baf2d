// Call chains at a point in time, and deadlocks: the public entry of
// src/chains. The stages (each a function of rows, returning ids):
//   outstanding.ts  the calls outstanding at the time, with their ages
//   stacks.ts       each thread's stack of calls; calls queued on a busy thread
//   forest.ts       the chains: calls nested under the calls they serve
//   limits.ts       per-method hang limits (10 × p99 of completed calls)
//   cycles.ts       the wait-for graph; deadlock cycles and what waits behind them
//   waits.ts        what some blocked methods are known to wait for
//   held.ts         the calls ipc-trace itself holds up (--hold)
//   analyze.ts      all of it as one ChainReport
//   format.ts       the report as text (prose lives only there)
//   read.ts         the input from a session database, through SessionReader

export * from './types.js';
export { analyzeChains, DEFAULT_STUCK_MS } from './analyze.js';
export { formatChains, verdict, attach } from './format.js';
export type { FormatOptions } from './format.js';
export { outstandingCalls } from './outstanding.js';
export type { OpenCall } from './outstanding.js';
export { threadStacks } from './stacks.js';
export type { ThreadStacks, StackEntry } from './stacks.js';
export { chainForest, rootOf } from './forest.js';
export type { ChainForest } from './forest.js';
export { hangLimits, limitsFromDurations, MethodTimings, HANG_FACTOR, HANG_FLOOR_MS, UNSEEN_LIMIT_MS } from './limits.js';
export { waitGraph, findCycles } from './cycles.js';
export type { WaitEdge, FoundCycle } from './cycles.js';
export { chainInput } from './read.js';
export { waitsFor } from './waits.js';
export { heldCalls } from './held.js';
export type { HeldEvent } from './held.js';
