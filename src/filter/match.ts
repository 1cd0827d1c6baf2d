// Evaluating a filter expression on call rows. Names match as
// case-insensitive substrings: method: the call's title (Iface.method),
// iface: the interface, thread: the caller's or the executing thread's
// label, proc: the client's or the server's process label. slow: compares
// the latency, or a pending call's age at `now`. text: searches params and
// results.

import type { CallRow } from '../session/rows.js';
import type { FilterExpr, FilterTerm } from './parse.js';
import { filterTerms, foldFilter, predicateFold } from './fold.js';

export interface FilterContext {
  threadLabel(id: number): string | undefined;
  processLabel(id: number): string | undefined;
  /** The time a pending call's age is taken at. */
  now: number;
}

export type CallPredicate = (c: CallRow) => boolean;

const has = (s: string | null | undefined, v: string) => s != null && s.toLowerCase().includes(v);

/** The latency of a call, or its age at `now` while it has not returned. */
export function latencyOf(c: Pick<CallRow, 'sent' | 'returned'>, now: number): number {
  return (c.returned ?? now) - c.sent;
}

/** The filter as a predicate on call rows (see fold.ts for when it is used rather than the SQL form). */
export function compileFilter(e: FilterExpr, ctx: FilterContext): CallPredicate {
  return foldFilter(e, predicateFold((t) => termPredicate(t, ctx)));
}

function termPredicate(e: FilterTerm, ctx: FilterContext): CallPredicate {
  switch (e.k) {
    case 'word':
    case 'method': {
      const v = e.value.toLowerCase();
      return (c) => has(c.title, v);
    }
    case 'iface': {
      const v = e.value.toLowerCase();
      return (c) => has(c.iface, v);
    }
    case 'thread': {
      const v = e.value.toLowerCase();
      const t = (id: number | null) => id !== null && has(ctx.threadLabel(id), v);
      return (c) => t(c.caller) || t(c.executor);
    }
    case 'proc': {
      const v = e.value.toLowerCase();
      const p = (id: number) => has(ctx.processLabel(id), v);
      return (c) => p(c.clientProcess) || p(c.serverProcess);
    }
    case 'conn':
      return (c) => c.conn === e.value;
    case 'status': {
      const s = new Set<string>(e.value);
      return (c) => s.has(c.status);
    }
    case 'slow': {
      const { op, ms } = e;
      return (c) => {
        const l = latencyOf(c, ctx.now);
        return op === '>' ? l > ms : op === '>=' ? l >= ms : op === '<' ? l < ms : l <= ms;
      };
    }
    case 'text': {
      const re = e.re;
      return (c) => (c.params !== null && re.test(c.params)) || (c.results !== null && re.test(c.results));
    }
  }
}

/**
 * The filter on `-debug=ipc`-style log lines (the log pane): names, threads,
 * processes and text are searched in the line, conn: is the line's `cN`;
 * status: and slow: concern calls, not lines, and let every line through.
 */
export function compileLineFilter(e: FilterExpr): (line: string) => boolean {
  return foldFilter(e, predicateFold(lineTerm));
}

function lineTerm(e: FilterTerm): (line: string) => boolean {
  switch (e.k) {
    case 'status':
    case 'slow':
      return () => true;
    case 'conn': {
      const tag = ` c${e.value} `;
      return (l) => l.includes(tag);
    }
    case 'text':
      return (l) => e.re.test(l);
    default: {
      const v = e.value.toLowerCase();
      return (l) => l.toLowerCase().includes(v);
    }
  }
}

/** Whether a call's match can change as it goes on (status, latency, results): false for names, connections. */
export function dependsOnCallState(e: FilterExpr): boolean {
  return filterTerms(e).some((t) => t.k === 'status' || t.k === 'slow' || t.k === 'text');
}
