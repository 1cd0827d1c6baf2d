// The one walk over a filter expression (src/filter/parse.ts): every form
// of a filter is a fold, which maps each term and combines the results by
// the operators. The forms: a predicate on call rows (match.ts), on log
// lines (match.ts), on intercepted messages (intercept/rules.ts), an SQL
// condition (store/filter-sql.ts), the normalised text (parse.ts), and
// questions about the terms (filterTerms).
//
// Which engine evaluates a filter (one choice per situation):
//  - rows stored in a session database are filtered in SQL (filterSql), inside
//    SQLite: the terminal UI's list, search and statistics, `stats --filter`;
//  - rows not stored (yet), or not as they stand at that moment, by the
//    predicate (compileFilter): live calls from the change feed until the
//    next scan, a message the interceptor holds, and `replay --filter`'s log,
//    where a call is matched as it stands at each line of the replayed stream.
// Both forms mean the same (test/filter/engines.test.ts checks it).

import type { FilterExpr, FilterTerm } from './parse.js';

export interface FilterFold<T> {
  /** The empty filter (everything). */
  all(): T;
  term(t: FilterTerm): T;
  not(x: T): T;
  and(a: T, b: T): T;
  or(a: T, b: T): T;
}

/** Folds an expression: terms first to last, left operand before the right one. */
export function foldFilter<T>(e: FilterExpr, f: FilterFold<T>): T {
  switch (e.k) {
    case 'all':
      return f.all();
    case 'not':
      return f.not(foldFilter(e.e, f));
    case 'and': {
      const a = foldFilter(e.a, f);
      return f.and(a, foldFilter(e.b, f));
    }
    case 'or': {
      const a = foldFilter(e.a, f);
      return f.or(a, foldFilter(e.b, f));
    }
    default:
      return f.term(e);
  }
}

/** The fold into a predicate on X, given each term's predicate. */
export function predicateFold<X>(term: (t: FilterTerm) => (x: X) => boolean): FilterFold<(x: X) => boolean> {
  return {
    all: () => () => true,
    term,
    not: (f) => (x) => !f(x),
    and: (a, b) => (x) => a(x) && b(x),
    or: (a, b) => (x) => a(x) || b(x),
  };
}

/** The terms of an expression, in order. */
export function filterTerms(e: FilterExpr): FilterTerm[] {
  return foldFilter<FilterTerm[]>(e, { all: () => [], term: (t) => [t], not: (x) => x, and: (a, b) => [...a, ...b], or: (a, b) => [...a, ...b] });
}
