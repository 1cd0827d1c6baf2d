// Calls ipc-trace itself is holding up at a time (--hold, --delay, rules
// typed live): from the session's interventions, for each outstanding call
// whether its Call is held (the callee has not received it), its Return is
// held (the callee has answered; the caller has not received it), or it
// waits in the same direction behind a held message. The wire cannot tell
// these from a blocked thread; the interventions can.

import type { Dir } from '../decoder/messages.js';
import type { ChainCallRow, HeldMark } from './types.js';

/** The columns of an intervention this stage reads. */
export interface HeldEvent {
  time: number;
  conn: number;
  dir: Dir;
  kind: string;
  held: number | null;
  questionId: number | null;
}

/** Held messages still held at `at`, and the outstanding calls they hold up. */
export function heldCalls(events: HeldEvent[], calls: ChainCallRow[], at: number): Map<number, HeldMark> {
  const open = new Map<number, HeldEvent>();
  for (const e of events) {
    if (e.time > at || e.held === null) continue;
    if (e.kind === 'hold' || e.kind === 'delay') open.set(e.held, e);
    else open.delete(e.held);
  }
  const out = new Map<number, HeldMark>();
  if (!open.size) return out;
  for (const c of calls) {
    if (c.returned !== null && c.returned <= at) continue;
    for (const h of open.values()) {
      if (h.conn !== c.conn) continue;
      if (h.questionId === c.questionId && c.sent <= h.time) {
        out.set(c.id, { hold: h.held!, what: h.dir === c.dir ? 'call' : 'return' });
        break;
      }
      // Sent after a Call held in its direction: queued behind it on the wire.
      if (h.dir === c.dir && c.sent > h.time && !out.has(c.id)) out.set(c.id, { hold: h.held!, what: 'queued' });
    }
  }
  return out;
}
