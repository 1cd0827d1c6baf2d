// The shapes of the chains analysis: its input (session rows, as the reader
// and the change feed deliver them) and its report. The report carries ids
// (call, thread, process, connection) for programs (the terminal UI, --json)
// and labels for people; prose is left to the formatter (format.ts).

import type { CallRow, ConnRow, ProcessRow, ThreadRow } from '../session/rows.js';
import type { ThreadRole } from '../session/records.js';
import type { HeldEvent } from './held.js';

/** The columns of a call the analysis reads (a full CallRow fits). */
export type ChainCallRow = Pick<
  CallRow,
  | 'id'
  | 'conn'
  | 'dir'
  | 'questionId'
  | 'title'
  | 'target'
  | 'caller'
  | 'executor'
  | 'parent'
  | 'requestNo'
  | 'clientProcess'
  | 'serverProcess'
  | 'sent'
  | 'returned'
  | 'status'
  | 'cancelRequested'
>;
export type ChainThreadRow = Pick<ThreadRow, 'id' | 'process' | 'label' | 'role'>;
export type ChainProcessRow = Pick<ProcessRow, 'id' | 'label' | 'pid'>;
export type ChainConnRow = Pick<ConnRow, 'id' | 'closed'>;

/**
 * How long each method may stay outstanding before a call of it counts as
 * hung (a deadlock needs every call of its cycle hung): see limits.ts.
 */
export interface HangLimits {
  /** The limit for a method (by call title), in ms. */
  limitFor(title: string): number;
}

export interface ChainInput {
  /**
   * The calls to consider: at least every call outstanding at `at` (or cut by
   * a disconnect before it); calls completed by `at` are ignored here, except
   * for the hang limits when `limits` is not given.
   */
  calls: ChainCallRow[];
  threads: ChainThreadRow[];
  processes: ChainProcessRow[];
  /** Connections (their close times: calls on a closed connection were interrupted). */
  connections: ChainConnRow[];
  /** The time the report is for, ms since the Unix epoch. */
  at: number;
  /** Calls outstanding this long are marked stuck (the --stuck option; default 5000). */
  stuckMs?: number;
  /** Per-method hang limits; by default computed from `calls` completed by `at` (hangLimits). */
  limits?: HangLimits;
  /** The session's interventions (--hold and the like), to tell calls ipc-trace holds up (held.ts). */
  interventions?: HeldEvent[];
}

/** A call ipc-trace holds up: its Call held (the callee has not received it), its Return held, or queued behind a held message. */
export interface HeldMark {
  /** The held message's number (`hold #N`, `ipc-trace release DB N`). */
  hold: number;
  what: 'call' | 'return' | 'queued';
}

/** A thread as the report names it: ids, and labels for people. */
export interface ThreadRef {
  /** ThreadRow id; null when the call carried no Context (the thread is unknown). */
  thread: number | null;
  process: number;
  /** The thread's label (`bitcoin-node-50/b-scheduler-52`, `P (from …)`), or `P/?`. */
  label: string;
  /** client: named by its own process (its label ends in the LWP); worker: made by makeThread for a client thread; null: unknown. */
  role: ThreadRole | null;
  processLabel: string;
  /** The process's pid, when its name told it. */
  pid: number | null;
}

/** An outstanding call in a chain: who waits on it, who runs it, and the calls made while it runs. */
export interface ChainNode {
  call: number;
  conn: number;
  questionId: number;
  /** libmultiprocess's request number (`#N`), if any. */
  requestNo: number | null;
  title: string;
  target: string;
  waiter: ThreadRef;
  executor: ThreadRef;
  sent: number;
  /** Age at `at`, or, for an interrupted call, when its connection closed. */
  ageMs: number;
  /** The connection closed (before `at`) while the call was outstanding. */
  interrupted: boolean;
  /** Outstanding at least --stuck. */
  stuck: boolean;
  /** Outstanding longer than its method's hang limit (limitMs). */
  hung: boolean;
  limitMs: number;
  cancelRequested: boolean;
  /** The executing thread is busy with another call (this id): this one is queued behind it. */
  queuedBehind: number | null;
  /** Held up by ipc-trace itself, not by the processes. */
  heldBy: HeldMark | null;
  children: ChainNode[];
}

/** The call at the end of a chain, making no call: where the thread to attach a debugger to is blocked. */
export interface BlockedCall {
  call: number;
  title: string;
  /** libmultiprocess's request number (`#N` in the serving process's -debug=ipc log, which names the worker's LWP). */
  requestNo: number | null;
  /** The thread running it (or, when queued, the busy thread it waits for). */
  thread: ThreadRef;
  ageMs: number;
  /** Queued behind this call on a busy thread, rather than running. */
  queuedBehind: number | null;
  /** Held up by ipc-trace itself (a --hold), not blocked in the process. */
  heldBy: HeldMark | null;
}

/**
 * One edge of a deadlock cycle: a thread waits on a call; the chain of calls
 * under it ends in `blocked`, which makes no call and is held up in the
 * process where the next step's waiter lives (the last step by the first).
 */
export interface CycleStep {
  waiter: ThreadRef;
  call: number;
  title: string;
  ageMs: number;
  /** The calls from `call` down to `blocked.call`, both included. */
  path: number[];
  blocked: BlockedCall;
  /**
   * `blocked-inside`: held up inside the blocked thread's process (a lock or
   * condition the wire cannot show) by the next step's waiter; `queued`:
   * posted to a thread busy running the next step's call.
   */
  how: 'blocked-inside' | 'queued';
}

/** A chain that cannot finish until a deadlock is resolved. */
export interface BehindCycle {
  waiter: ThreadRef;
  /** The chain's first (root) call. */
  call: number;
  title: string;
  ageMs: number;
  blocked: BlockedCall;
  /** The call (of the cycle, or of another chain behind it) this one waits on. */
  on: number;
}

export interface Deadlock {
  /** The cycle, from its oldest call; each step's blocked call waits on the next step's waiter. */
  steps: CycleStep[];
  /** Ids of the processes, threads and calls the cycle runs through. */
  processes: number[];
  threads: number[];
  calls: number[];
  /** Other hung chains that wait on the cycle, directly or through each other. */
  behind: BehindCycle[];
}

/** A long-outstanding chain that is not part of a deadlock: where to attach a debugger. */
export interface StuckChain {
  waiter: ThreadRef;
  call: number;
  title: string;
  ageMs: number;
  /** Outstanding at least --stuck. */
  stuck: boolean;
  /** Outstanding longer than its method's hang limit. */
  hung: boolean;
  interrupted: boolean;
  blocked: BlockedCall;
}

export type StackRole = 'waiting' | 'executing' | 'queued';

/** A thread's outstanding calls, oldest first. */
export interface ThreadStack {
  thread: ThreadRef;
  stack: { call: number; title: string; as: StackRole; ageMs: number }[];
}

export interface ChainReport {
  at: number;
  stuckMs: number;
  /** Calls still outstanding at `at`. */
  outstanding: number;
  /** Calls a disconnect interrupted before `at` (they appear in the chains too). */
  interrupted: number;
  /** One tree per outstanding call nothing else waits on, oldest first. */
  chains: ChainNode[];
  /** Independent deadlock cycles, oldest first. */
  deadlocks: Deadlock[];
  /** Stuck or hung chains that are neither in a deadlock nor behind one, oldest first. */
  stuck: StuckChain[];
  threads: ThreadStack[];
}
