// `ipc-trace stats DB`: per method, thread or process the calls, errors,
// cancellations, calls in flight and latency percentiles.

import { parseArgs, UsageError } from './args.js';
import { ByteWriter, alignTable } from './output.js';
import { SessionReader } from '../store/reader.js';
import { RowIndex } from '../session/row-index.js';
import { callStats, StatsBy, STATS_BY, StatsGroup } from '../stats/stats.js';
import { formatDuration } from '../mp/concepts.js';
import { parseFilter } from '../filter/parse.js';
import { filterSql } from '../store/filter-sql.js';

export const STATS_HELP = `usage: ipc-trace stats DB [--by method|thread|process] [--filter EXPR] [--json]

Per group of calls: how many, how many failed (exception or disconnect),
were canceled, are still in flight, and the p50/p90/p99/max latency (Call to
Return, as seen by ipc-trace) of those that returned.

  --by method    one line per method, Iface.method (default)
  --by thread    one line per executing thread (a worker, or a process's event loop)
  --by process   one line per serving process
  --filter EXPR  only the calls matching EXPR (the terminal UI's filter language:
                 method:NAME iface:NAME thread:NAME proc:NAME conn:N status:S slow:>100ms
                 text:REGEX, combined with ! & | and parentheses)
  --json         one JSON object per group
`;

function table(groups: StatsGroup[], by: StatsBy): string[] {
  const lat = (v: number | null) => (v === null ? '-' : formatDuration(v, true));
  const head = [by, 'calls', 'errors', 'canceled', 'in-flight', 'p50', 'p90', 'p99', 'max'];
  const rows = groups.map((g) => [g.key, String(g.calls), String(g.errors), String(g.canceled), String(g.inFlight), lat(g.p50), lat(g.p90), lat(g.p99), lat(g.max)]);
  return alignTable(head, rows);
}

export function runStats(argv: string[]): number {
  const { options, positionals } = parseArgs(argv, { by: { kind: 'string' }, filter: { kind: 'string' }, json: { kind: 'flag' }, help: { kind: 'flag', short: 'h' } }, 1);
  if (options.help) {
    process.stdout.write(STATS_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('stats needs the session database: ipc-trace stats DB');
  const by = ((options.by as string | undefined) ?? 'method') as StatsBy;
  if (!STATS_BY.includes(by)) throw new UsageError(`unknown --by '${by}' (method, thread or process)`);
  const filter = parseFilter((options.filter as string | undefined) ?? '');
  if (!filter.ok) throw new UsageError(`--filter: ${filter.error} (at character ${filter.pos + 1})`);
  const reader = SessionReader.open(positionals[0]!);
  const processes = reader.processes();
  const threads = reader.threads();
  const ix = new RowIndex(processes, threads);
  // Stored rows: filtered in SQL (src/filter/fold.ts says which engine when).
  const sql = filter.expr.k === 'all' ? undefined : filterSql(filter.expr, { threads, processes, now: reader.span().last ?? Date.now() });
  const groups = callStats(reader.calls({ filter: sql }), by, ix);
  reader.close();
  const out = new ByteWriter(1);
  if (options.json) for (const g of groups) out.line(JSON.stringify({ by, ...g }));
  else for (const l of table(groups, by)) out.line(l);
  out.flush();
  return 0;
}
