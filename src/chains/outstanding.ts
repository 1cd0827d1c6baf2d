// Stage 1: the calls outstanding at a time, with their ages. Calls a
// disconnect interrupted before the time stay in, aged at the disconnect: a
// hang that was only ended by stopping the processes (or ipc-trace) is still
// there to read.

import type { ChainCallRow, ChainConnRow } from './types.js';

export interface OpenCall {
  row: ChainCallRow;
  /** At `at`, or when the connection closed for an interrupted call. */
  ageMs: number;
  interrupted: boolean;
}

export function outstandingCalls(calls: ChainCallRow[], connections: ChainConnRow[], at: number): OpenCall[] {
  const closed = new Map<number, number>();
  for (const c of connections) if (c.closed !== null) closed.set(c.id, c.closed);
  const out: OpenCall[] = [];
  for (const c of calls) {
    if (c.sent > at) continue;
    if (c.returned !== null && c.returned <= at) continue;
    const end = closed.get(c.conn);
    if (end !== undefined && end <= at) {
      if (c.status !== 'disconnected') continue;
      out.push({ row: c, ageMs: end - c.sent, interrupted: true });
    } else {
      out.push({ row: c, ageMs: at - c.sent, interrupted: false });
    }
  }
  return out.sort((a, b) => a.row.sent - b.row.sent || a.row.id - b.row.id);
}
