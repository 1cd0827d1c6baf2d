// Evaluating a filter expression on call rows. Names match as
// case-insensitive substrings: method: the call's title (Iface.method),
// iface: the interface, thread: the caller's or the executing thread's
// label, proc: the client's or the server's process label. slow: compares
// the latency, or a pending call's age at `now`. text: searches params and
// results.

import type { CallRow } from '../session/rows.js';
import type { FilterExpr } from './parse.js';

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

export function compileFilter(e: FilterExpr, ctx: FilterContext): CallPredicate {
  switch (e.k) {
    case 'all':
      return () => true;
    case 'not': {
      const f = compileFilter(e.e, ctx);
      return (c) => !f(c);
    }
    case 'and': {
      const a = compileFilter(e.a, ctx);
      const b = compileFilter(e.b, ctx);
      return (c) => a(c) && b(c);
    }
    case 'or': {
      const a = compileFilter(e.a, ctx);
      const b = compileFilter(e.b, ctx);
      return (c) => a(c) || b(c);
    }
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
  switch (e.k) {
    case 'all':
    case 'status':
    case 'slow':
      return () => true;
    case 'not': {
      const f = compileLineFilter(e.e);
      return (l) => !f(l);
    }
    case 'and': {
      const a = compileLineFilter(e.a);
      const b = compileLineFilter(e.b);
      return (l) => a(l) && b(l);
    }
    case 'or': {
      const a = compileLineFilter(e.a);
      const b = compileLineFilter(e.b);
      return (l) => a(l) || b(l);
    }
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
