// Threads that give way to the relay: on a machine with few cores, a frame
// being drawn or a batch being recorded must not delay the relay's thread
// forwarding bytes. Linux schedules threads as tasks, each with its own nice
// value, so the recording worker and the UI's worker threads lower their own
// priority (threads they start inherit it).

import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { statCpuMs, statFields } from './proc-stat.js';

/** This thread's id (Linux), or null. */
export function threadId(): number | null {
  try {
    // /proc/thread-self -> "PID/task/TID"
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : null;
  } catch {
    return null;
  }
}

/** A thread's nice value as the kernel reports it (field 19 of /proc/self/task/TID/stat), or null. */
export function threadNice(tid: number): number | null {
  const nice = Number(statFields(`/proc/self/task/${tid}/stat`)?.[16]);
  return Number.isFinite(nice) ? nice : null;
}

/** Lowers this thread's priority to `nice` (Linux only; elsewhere, or if refused, nothing changes). Returns the nice value in effect, or null. */
export function lowerThreadPriority(nice = 10): number | null {
  const tid = threadId();
  if (tid === null) return null;
  try {
    setPriority(tid, nice);
  } catch {
    // not permitted: stay as we are
  }
  return threadNice(tid);
}

/** CPU time another thread of this process (by id) has used (ms, user + system; Linux, 10 ms steps), or null. */
export function threadCpuMsOf(tid: number): number | null {
  return statCpuMs(`/proc/self/task/${tid}/stat`);
}

/** CPU time this thread has used (ms, user + system; Linux, 10 ms steps), or null. */
export function threadCpuMs(): number | null {
  return statCpuMs('/proc/thread-self/stat');
}
