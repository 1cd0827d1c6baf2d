// The call filter language (terminal UI filter bar, `replay --filter`):
//
//   method:waitNext  iface:Chain  thread:b-http  proc:wallet  conn:2
//   status:pending|exception  slow:>100ms  text:REGEX  a bare word (title contains it)
//
// combined with `!` (not), `&` (and; juxtaposition means and too), `|` (or)
// and parentheses. Values with spaces or operators are quoted: text:"a b|c".
// parseFilter never throws: invalid input comes back as an error with the
// position it was found at, so a filter bar can show it as the user types.

import { foldFilter } from './fold.js';

export const STATUSES = ['pending', 'returned', 'exception', 'canceled', 'disconnected'] as const;
export type FilterStatus = (typeof STATUSES)[number];

export type FilterTerm =
  | { k: 'method'; value: string }
  | { k: 'iface'; value: string }
  | { k: 'thread'; value: string }
  | { k: 'proc'; value: string }
  | { k: 'conn'; value: number }
  | { k: 'status'; value: FilterStatus[] }
  | { k: 'slow'; op: '>' | '>=' | '<' | '<='; ms: number }
  | { k: 'text'; value: string; re: RegExp }
  | { k: 'word'; value: string };

export type FilterExpr =
  | FilterTerm
  | { k: 'not'; e: FilterExpr }
  | { k: 'and'; a: FilterExpr; b: FilterExpr }
  | { k: 'or'; a: FilterExpr; b: FilterExpr }
  | { k: 'all' };

export type FilterResult = { ok: true; expr: FilterExpr } | { ok: false; error: string; pos: number };

export const FILTER_KEYS = ['method', 'iface', 'thread', 'proc', 'conn', 'status', 'slow', 'text'] as const;

class FilterError extends Error {
  constructor(
    message: string,
    readonly pos: number,
  ) {
    super(message);
  }
}

type Tok = { t: 'op'; v: '!' | '&' | '|' | '(' | ')'; pos: number } | { t: 'term'; key: string | null; value: string; pos: number; vpos: number };

function tokenize(src: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  const readValue = (regex = false): string => {
    if (src[i] === '"') {
      const start = i;
      i++;
      let v = '';
      while (i < src.length && src[i] !== '"') {
        if (src[i] === '\\' && i + 1 < src.length && (src[i + 1] === '"' || src[i + 1] === '\\')) i++;
        v += src[i++];
      }
      if (src[i] !== '"') throw new FilterError('unterminated quote', start);
      i++;
      return v;
    }
    let v = '';
    if (regex) {
      // A regular expression keeps its own groups and alternatives: it ends at
      // white space, or at a `)`, `&` or `|` outside its parentheses.
      let depth = 0;
      while (i < src.length && !/\s/.test(src[i]!)) {
        const c = src[i]!;
        if (c === '\\' && i + 1 < src.length) {
          v += c + src[i + 1];
          i += 2;
          continue;
        }
        if (c === '(') depth++;
        else if (c === ')') {
          if (depth === 0) break;
          depth--;
        } else if ((c === '&' || c === '|') && depth === 0) break;
        v += c;
        i++;
      }
      return v;
    }
    while (i < src.length && !/[\s()&|!]/.test(src[i]!)) v += src[i++];
    return v;
  };
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if ('!&|()'.includes(c)) {
      toks.push({ t: 'op', v: c as '!', pos: i });
      i++;
      continue;
    }
    const pos = i;
    const m = /^([a-z]+):/.exec(src.slice(i));
    if (m) {
      i += m[0].length;
      const vpos = i;
      let value = readValue(m[1] === 'text');
      if (m[1] === 'status') {
        // status:pending|exception: keep consuming `|status` alternatives.
        while (src[i] === '|') {
          const next = /^\|([a-z]+)/.exec(src.slice(i));
          if (!next || !(STATUSES as readonly string[]).includes(next[1]!)) break;
          value += '|' + next[1];
          i += next[0].length;
        }
      }
      toks.push({ t: 'term', key: m[1]!, value, pos, vpos });
    } else {
      const value = readValue();
      toks.push({ t: 'term', key: null, value, pos, vpos: pos });
    }
  }
  return toks;
}

const UNITS: Record<string, number> = { us: 0.001, ms: 1, s: 1000 };

function term(tok: Extract<Tok, { t: 'term' }>): FilterTerm {
  const { key, value, vpos } = tok;
  if (key === null) {
    if (!value) throw new FilterError('expected a term', tok.pos);
    return { k: 'word', value };
  }
  if (!(FILTER_KEYS as readonly string[]).includes(key)) throw new FilterError(`unknown key '${key}:' (one of ${FILTER_KEYS.join(', ')})`, tok.pos);
  if (!value) throw new FilterError(`${key}: needs a value`, vpos);
  switch (key) {
    case 'method':
    case 'iface':
    case 'thread':
    case 'proc':
      return { k: key, value };
    case 'conn': {
      if (!/^c?\d+$/.test(value)) throw new FilterError(`conn: needs a connection number, got '${value}'`, vpos);
      return { k: 'conn', value: Number(value.replace(/^c/, '')) };
    }
    case 'status': {
      const parts = value.split('|');
      for (const p of parts) {
        if (!(STATUSES as readonly string[]).includes(p)) throw new FilterError(`status: one of ${STATUSES.join(', ')}; got '${p}'`, vpos);
      }
      return { k: 'status', value: parts as FilterStatus[] };
    }
    case 'slow': {
      const m = /^(>=|<=|>|<)?(\d+(?:\.\d+)?)(us|ms|s)?$/.exec(value);
      if (!m) throw new FilterError(`slow: needs a latency like >100ms, <5ms, 2s; got '${value}'`, vpos);
      return { k: 'slow', op: (m[1] as '>' | undefined) ?? '>=', ms: Number(m[2]) * UNITS[m[3] ?? 'ms']! };
    }
    case 'text': {
      try {
        return { k: 'text', value, re: new RegExp(value) };
      } catch (e) {
        throw new FilterError(`text: invalid regular expression: ${(e as Error).message.replace(/^Invalid regular expression: /, '')}`, vpos);
      }
    }
  }
  throw new FilterError(`unknown key '${key}:'`, tok.pos);
}

export function parseFilter(src: string): FilterResult {
  try {
    const toks = tokenize(src);
    let p = 0;
    const peek = () => toks[p];
    const atEnd = () => p >= toks.length;
    const orExpr = (): FilterExpr => {
      let a = andExpr();
      while (!atEnd() && peek()!.t === 'op' && (peek() as { v: string }).v === '|') {
        p++;
        a = { k: 'or', a, b: andExpr() };
      }
      return a;
    };
    const andExpr = (): FilterExpr => {
      let a = unary();
      for (;;) {
        const t = peek();
        if (!t) break;
        if (t.t === 'op' && t.v === '&') {
          p++;
          a = { k: 'and', a, b: unary() };
        } else if (t.t === 'term' || t.v === '!' || t.v === '(') {
          a = { k: 'and', a, b: unary() };
        } else break;
      }
      return a;
    };
    const unary = (): FilterExpr => {
      const t = peek();
      if (!t) throw new FilterError('expression ends early', src.length);
      if (t.t === 'term') {
        p++;
        return term(t);
      }
      if (t.v === '!') {
        p++;
        return { k: 'not', e: unary() };
      }
      if (t.v === '(') {
        p++;
        const e = orExpr();
        const close = peek();
        if (!close || close.t !== 'op' || close.v !== ')') throw new FilterError("missing ')'", close?.pos ?? src.length);
        p++;
        return e;
      }
      throw new FilterError(`unexpected '${t.v}'`, t.pos);
    };
    if (toks.length === 0) return { ok: true, expr: { k: 'all' } };
    const expr = orExpr();
    if (!atEnd()) {
      const t = peek()!;
      throw new FilterError(`unexpected '${t.t === 'op' ? t.v : t.value}'`, t.pos);
    }
    return { ok: true, expr };
  } catch (e) {
    if (e instanceof FilterError) return { ok: false, error: e.message, pos: e.pos };
    throw e;
  }
}

/** The expression as text (normalised), for display and tests. */
export function filterText(e: FilterExpr): string {
  return foldFilter<string>(e, {
    all: () => '',
    not: (x) => `!${x}`,
    and: (a, b) => `(${a} & ${b})`,
    or: (a, b) => `(${a} | ${b})`,
    term: (t) => {
      switch (t.k) {
        case 'status':
          return `status:${t.value.join('|')}`;
        case 'slow':
          return `slow:${t.op}${t.ms}ms`;
        case 'conn':
          return `conn:${t.value}`;
        case 'word':
          return JSON.stringify(t.value);
        default:
          return `${t.k}:${JSON.stringify(t.value)}`;
      }
    },
  });
}
