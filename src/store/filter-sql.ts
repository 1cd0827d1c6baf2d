// A filter expression (src/filter) as an SQL condition on the calls table,
// with the same meaning as compileFilter's predicate, so that a large
// session is filtered inside SQLite. Thread and process names are resolved
// to ids first; text: uses the ipc_text_matches table SessionReader registers.

import type { FilterExpr, FilterTerm } from '../filter/parse.js';
import { foldFilter } from '../filter/fold.js';

export interface SqlFilter {
  where: string;
  args: (string | number)[];
  /**
   * It has a text: term, which reads the table ipc_text_matches(pattern,
   * literal, @text_lo, @text_hi): the named parameters bound with the
   * arguments are the ids of the texts to look at (0 and 0: all of them).
   */
  texts: boolean;
}

export interface FilterLabels {
  threads: { id: number; label: string }[];
  processes: { id: number; label: string }[];
  /** The time a pending call's age is taken at (slow:). */
  now: number;
}

const ids = (rows: { id: number; label: string }[], v: string) => rows.filter((r) => r.label.toLowerCase().includes(v.toLowerCase())).map((r) => r.id);
const inList = (col: string, xs: number[]) => (xs.length ? `${col} IN (${xs.join(',')})` : '0');

export function filterSql(e: FilterExpr, labels: FilterLabels): SqlFilter {
  // The fold visits terms first to last, so the arguments are in the order of their placeholders.
  const args: (string | number)[] = [];
  let texts = false;
  const where = foldFilter<string>(e, {
    all: () => '1',
    not: (x) => `NOT (${x})`,
    and: (a, b) => `(${a}) AND (${b})`,
    or: (a, b) => `(${a}) OR (${b})`,
    term: (t) => {
      texts ||= t.k === 'text';
      return termSql(t, labels, args);
    },
  });
  return { where, args, texts };
}

function termSql(e: FilterTerm, labels: FilterLabels, args: (string | number)[]): string {
  switch (e.k) {
    case 'word':
    case 'method':
      args.push(e.value.toLowerCase());
      return 'instr(lower(title), ?) > 0';
    case 'iface':
      args.push(e.value.toLowerCase());
      return 'coalesce(instr(lower(iface), ?), 0) > 0';
    case 'thread': {
      const t = ids(labels.threads, e.value);
      return `(${inList('caller_thread', t)} OR ${inList('executor_thread', t)})`;
    }
    case 'proc': {
      const p = ids(labels.processes, e.value);
      return `(${inList('client_process', p)} OR ${inList('server_process', p)})`;
    }
    case 'conn':
      args.push(e.value);
      return 'conn = ?';
    case 'status':
      return `status IN (${e.value.map((s) => `'${s}'`).join(',')})`;
    case 'slow':
      args.push(labels.now, e.ms);
      return `(coalesce(returned, ?) - sent) ${e.op} ?`;
    case 'text': {
      // Texts are in compressed blocks: the table ipc_text_matches (SessionReader) scans them once
      // per pattern. A text every match must contain lets it skip most texts before the regular expression runs.
      const lit = requiredLiteral(e.value) ?? '';
      args.push(e.value, lit, e.value, lit);
      return '(params_ref IN (SELECT id FROM ipc_text_matches(?, ?, @text_lo, @text_hi)) OR results_ref IN (SELECT id FROM ipc_text_matches(?, ?, @text_lo, @text_hi)))';
    }
  }
}

/**
 * The longest run of plain characters every match of a regular expression
 * contains (null if there is none worth using, or the expression has an
 * alternative, which would make any run optional).
 */
export function requiredLiteral(re: string): string | null {
  if (re.includes('|')) return null;
  let best = '';
  let run = '';
  // Runs inside a group are left out: the group may be optional, repeated or a lookaround.
  let depth = 0;
  const end = () => {
    if (run.length > best.length) best = run;
    run = '';
  };
  for (let i = 0; i < re.length; i++) {
    const c = re[i]!;
    if (c === '\\') {
      const n = re[i + 1];
      i++;
      if (depth === 0 && n !== undefined && /[^A-Za-z0-9]/.test(n)) run += n;
      else end();
    } else if (c === '(') {
      end();
      depth++;
    } else if (c === ')') {
      depth = Math.max(0, depth - 1);
    } else if (c === '?' || c === '*' || c === '{') {
      // The character before is optional (or repeated): not part of a required run.
      run = run.slice(0, -1);
      end();
      if (c === '{') while (i < re.length && re[i] !== '}') i++;
    } else if (c === '[') {
      end();
      while (i < re.length && re[i] !== ']') i += re[i] === '\\' ? 2 : 1;
    } else if ('.^$+'.includes(c)) {
      // `+` keeps the character before (one at least), but what follows is not adjacent to it.
      end();
    } else if (depth === 0) run += c;
  }
  end();
  return best.length >= 2 ? best : null;
}
