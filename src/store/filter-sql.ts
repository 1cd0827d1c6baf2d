// A filter expression (src/filter) as an SQL condition on the calls table,
// with the same meaning as compileFilter's predicate, so that a large
// session is filtered inside SQLite. Thread and process names are resolved
// to ids first; text: uses the ipc_regexp function SessionReader registers.

import type { FilterExpr } from '../filter/parse.js';

export interface SqlFilter {
  where: string;
  args: (string | number)[];
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
  const args: (string | number)[] = [];
  const go = (e: FilterExpr): string => {
    switch (e.k) {
      case 'all':
        return '1';
      case 'not':
        return `NOT (${go(e.e)})`;
      case 'and':
        return `(${go(e.a)}) AND (${go(e.b)})`;
      case 'or':
        return `(${go(e.a)}) OR (${go(e.b)})`;
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
      case 'text':
        args.push(e.value, e.value);
        return '(coalesce(ipc_regexp(?, params), 0) OR coalesce(ipc_regexp(?, results), 0))';
    }
  };
  const where = go(e);
  return { where, args };
}
