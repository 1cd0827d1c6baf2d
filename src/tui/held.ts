// What ipc-trace's interceptor holds, as the terminal UI shows it (a live
// session with --hold/--delay/--fail/--disconnect rules, src/intercept/): the
// held list comes from the command's thread (run.ts), the keys' requests go
// back there in the control socket's words (src/intercept/control.ts).

import chalk from 'chalk';
import { heldLine } from '../intercept/engine.js';
import type { HeldInfo } from '../intercept/engine.js';
import type { CallRow } from '../session/rows.js';
import { bytes, duration } from './format.js';
import { parseRuleLine } from '../intercept/rules.js';

/** The held message that is this call's Call (or its Return), if any. */
export function heldFor(held: readonly HeldInfo[], c: Pick<CallRow, 'conn' | 'questionId' | 'dir' | 'sent' | 'returned'>): HeldInfo | undefined {
  // Question ids are reused once a question is finished. A Call is recorded when it arrives, held or
  // not: the time tells which call it is. A Return is recorded when it goes on: the call it answers is
  // the one on that question still waiting for it.
  const near = (t: number | null, since: number) => t !== null && Math.abs(t - since) < 1;
  return held.find(
    (h) => h.conn === c.conn && h.questionId === c.questionId && (h.kind === 'call' ? h.dir === c.dir && near(c.sent, h.since) : h.dir !== c.dir && c.returned === null),
  );
}

/** The hold a call waits behind (its Call queued behind a held message of its direction), if any. */
export function heldBehind(held: readonly HeldInfo[], c: Pick<CallRow, 'conn' | 'questionId' | 'dir' | 'sent'>): HeldInfo | undefined {
  return held.find((h) => h.conn === c.conn && h.dir === c.dir && h.behindCalls.some((b) => b.questionId === c.questionId && Math.abs(b.time - c.sent) < 1));
}

/** The header's summary: how many held, the oldest, and what waits behind it. */
export function heldSummary(held: readonly HeldInfo[], now: number): string | null {
  if (held.length === 0) return null;
  const h = held[0]!;
  return chalk.bgMagenta.white.bold(' HELD ') + chalk.magenta(` ${held.length}: #${h.id} ${h.kind === 'return' ? 'return of ' : ''}${h.title} ${duration(now - h.since)}, ${h.behindMessages} msg / ${bytes(h.behindBytes)} queued behind (h release, H all, . step, ! fail)`);
}

/** Lines for the chains pane: each held message and what it holds up (the sentence of `ipc-trace release --list`). */
export function heldLines(held: readonly HeldInfo[], now: number): string[] {
  return held.map((h) => `held by ipc-trace ${heldLine(h, now)}`);
}

/** Why a rule typed in the UI is not valid (`hold method:x`), or null. */
export function ruleError(text: string): string | null {
  try {
    return parseRuleLine(text) ? null : 'a rule is ACTION EXPR: hold, delay (EXPR=200ms), fail (EXPR=TEXT) or disconnect';
  } catch (e) {
    return (e as Error).message;
  }
}

/** The request for a key (release one / all, step, fail): the selected call's held message, else the oldest. */
export function heldRequest(cmd: string, held: readonly HeldInfo[], selected: CallRow | undefined): string | null {
  const pick = (selected && heldFor(held, selected)) ?? held[0];
  switch (cmd) {
    case 'hold.release':
      return pick ? `release ${pick.id}` : null;
    case 'hold.releaseAll':
      return 'release all';
    case 'hold.step':
      return pick ? `step ${pick.id}` : null;
    case 'hold.fail': {
      const call = (selected && heldFor(held, selected)) ?? held.find((h) => h.kind === 'call');
      return call && call.kind === 'call' ? `fail ${call.id}` : null;
    }
    default:
      return null;
  }
}
