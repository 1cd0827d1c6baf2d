// A session's start and end for the exports: the first connection or call,
// and the last recorded event (outstanding calls are drawn up to it).

import type { SessionRows } from '../store/reader.js';

export function sessionStart(rows: SessionRows): number {
  let t = rows.span.start ?? Infinity;
  for (const c of rows.connections) t = Math.min(t, c.opened);
  if (rows.calls.length) t = Math.min(t, rows.calls[0]!.sent);
  return Number.isFinite(t) ? t : 0;
}

export function sessionEnd(rows: SessionRows): number {
  if (rows.span.last !== null) return rows.span.last;
  let t = sessionStart(rows);
  for (const c of rows.calls) t = Math.max(t, c.returned ?? c.sent);
  return t;
}
