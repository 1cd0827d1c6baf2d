// Putting relay events back in time order before they are decoded. Each exec
// child is relayed by its own shim process, which timestamps every event and
// mirrors it over its own control socket; events of different connections
// therefore reach the recorder in an order that can differ from the order
// they happened in (a response on c2 arriving before the call on c1 it
// answered). TimeOrder holds events for a short window and releases them by
// time, so the log, the store's sequence numbers (and with them replay) and
// the change feed follow the order of events. One connection's own events
// come from one clock and keep their order.

import type { RecordItem } from './recorder.js';

/** How long an event is held for others that happened before it (ms). */
export const REORDER_WINDOW_MS = 50;

function timeOf(it: RecordItem): number {
  return it.k === 'open' ? it.info.time : it.time;
}

function connOf(it: RecordItem): number {
  return it.k === 'open' ? it.info.id : it.id;
}

export class TimeOrder {
  private held: { item: RecordItem; time: number; n: number }[] = [];
  private n = 0;
  /** Per connection, the latest time seen: a connection's events are never put before its earlier ones (a close timed by another clock). */
  private readonly last = new Map<number, number>();

  constructor(private readonly windowMs = REORDER_WINDOW_MS) {}

  /** Events not released yet. */
  get pending(): number {
    return this.held.length;
  }

  /** The smallest ring record count (`seq`) among the events not released yet, or null. */
  get oldestSeq(): number | null {
    let m: number | null = null;
    for (const h of this.held) if (h.item.seq !== undefined && (m === null || h.item.seq < m)) m = h.item.seq;
    return m;
  }

  /**
   * Adds events; returns, in time order, every held event older than the
   * window (measured against `now`, in the events' clock: ms since the epoch).
   */
  push(items: RecordItem[], now: number): RecordItem[] {
    for (const item of items) {
      const id = connOf(item);
      const time = Math.max(timeOf(item), this.last.get(id) ?? -Infinity);
      if (item.k === 'close') this.last.delete(id);
      else this.last.set(id, time);
      this.held.push({ item, time, n: this.n++ });
    }
    return this.release(now - this.windowMs);
  }

  /** Everything held, in time order (at the end of a recording). */
  drain(): RecordItem[] {
    return this.release(Infinity);
  }

  private release(upTo: number): RecordItem[] {
    if (this.held.length === 0) return [];
    // Stable by arrival for equal times: a connection's events never swap.
    this.held.sort((a, b) => a.time - b.time || a.n - b.n);
    let k = 0;
    while (k < this.held.length && this.held[k]!.time <= upTo) k++;
    const out = this.held.slice(0, k).map((h) => h.item);
    this.held = this.held.slice(k);
    return out;
  }
}
