// How long a method may stay outstanding before a call of it counts as hung.
// A deadlock is not a passing moment of normal traffic: every call of its
// cycle has been outstanding far longer than its method usually takes in
// this session. The limit is HANG_FACTOR × the p99 of the method's
// completed calls so far, at least HANG_FLOOR_MS; a method with no completed
// call yet gets UNSEEN_LIMIT_MS. No fixed timeout to tune: a 5 ms method
// hung for a second is as telling as a 300 ms one hung for 3 s.

import { percentile } from '../stats/stats.js';
import type { ChainCallRow, HangLimits } from './types.js';

export const HANG_FACTOR = 10;
export const HANG_FLOOR_MS = 500;
/** A method with no completed call yet: the floor too (a deadlock often hangs on the first call of a method, like the first block's blockConnected; a longer limit there lets a later, wrong cycle show first). */
export const UNSEEN_LIMIT_MS = HANG_FLOOR_MS;

/** The limit for a method from its completed calls' durations (ms): HANG_FACTOR × p99, at least the floor. */
function limitOf(durations: number[]): number {
  if (durations.length === 0) return UNSEEN_LIMIT_MS;
  return Math.max(HANG_FLOOR_MS, HANG_FACTOR * percentile([...durations].sort((a, b) => a - b), 99)!);
}

/** Limits from each method's completed call durations (ms), keyed by call title. */
export function limitsFromDurations(durations: Map<string, number[]>): HangLimits {
  const limits = new Map<string, number>();
  for (const [title, ds] of durations) {
    if (ds.length > 0) limits.set(title, limitOf(ds));
  }
  return { limitFor: (title) => limits.get(title) ?? UNSEEN_LIMIT_MS };
}

/** Limits from the calls completed (returned) by `at`. */
export function hangLimits(calls: Pick<ChainCallRow, 'title' | 'sent' | 'returned'>[], at: number): HangLimits {
  const durations = new Map<string, number[]>();
  for (const c of calls) {
    if (c.returned === null || c.returned > at) continue;
    const l = durations.get(c.title) ?? [];
    l.push(c.returned - c.sent);
    durations.set(c.title, l);
  }
  return limitsFromDurations(durations);
}

/**
 * Hang limits kept up to date from a change feed (the terminal UI): add each
 * call row as it changes; a completed call's duration counts once.
 */
export class MethodTimings implements HangLimits {
  private readonly durations = new Map<string, number[]>();
  private readonly counted = new Set<number>();
  private readonly cache = new Map<string, number>();

  add(c: Pick<ChainCallRow, 'id' | 'title' | 'sent' | 'returned'>): void {
    if (c.returned === null || this.counted.has(c.id)) return;
    this.counted.add(c.id);
    const l = this.durations.get(c.title);
    if (l) l.push(c.returned - c.sent);
    else this.durations.set(c.title, [c.returned - c.sent]);
    this.cache.delete(c.title);
  }

  limitFor(title: string): number {
    let v = this.cache.get(title);
    if (v === undefined) {
      v = limitOf(this.durations.get(title) ?? []);
      this.cache.set(title, v);
    }
    return v;
  }
}
