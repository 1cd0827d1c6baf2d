// `ipc-trace diff A.sqlite B.sqlite`: what differs between two sessions.

import { parseArgs, UsageError } from './args.js';
import { ByteWriter, alignTable } from './output.js';
import { SessionReader } from '../store/reader.js';
import { diffSessions, SessionDiff } from '../diff/diff.js';
import { formatDuration } from '../mp/concepts.js';

export const DIFF_HELP = `usage: ipc-trace diff A.sqlite B.sqlite [--json]

Compares two sessions (recorded, imported or merged): the methods called in
only one of them; per method the calls and p50/p90/p99 latency of A and B side
by side with the change; and for every thread the first call where its
sequence of calls diverges. Threads and processes are matched by name without
pids and thread ids, so two runs of the same programs compare.

  --json   the comparison as one JSON object
`;

function pct(v: number | null): string {
  if (v === null) return '-';
  const p = Math.round(v * 100);
  return `${p > 0 ? '+' : ''}${p}%`;
}

export function formatDiff(d: SessionDiff, a: string, b: string): string[] {
  const out: string[] = [`A = ${a}`, `B = ${b}`];
  if (d.identical) {
    out.push('no differences: the same methods, call counts, latencies and per-thread call sequences');
    return out;
  }
  if (d.onlyInA.length) out.push(`methods only in A (${d.onlyInA.length}): ${d.onlyInA.join(', ')}`);
  if (d.onlyInB.length) out.push(`methods only in B (${d.onlyInB.length}): ${d.onlyInB.join(', ')}`);
  const lat = (v: number | null | undefined) => (v === null || v === undefined ? '-' : formatDuration(v, true));
  const head = ['method', 'calls A', 'calls B', 'change', 'p50 A', 'p50 B', 'change', 'p90 A', 'p90 B', 'change', 'p99 A', 'p99 B', 'change'];
  const rows = d.methods.map((m) => [
    m.method,
    String(m.a?.calls ?? 0),
    String(m.b?.calls ?? 0),
    `${m.callsChange > 0 ? '+' : ''}${m.callsChange}`,
    lat(m.a?.p50),
    lat(m.b?.p50),
    pct(m.p50Change),
    lat(m.a?.p90),
    lat(m.b?.p90),
    pct(m.p90Change),
    lat(m.a?.p99),
    lat(m.b?.p99),
    pct(m.p99Change),
  ]);
  out.push('', ...alignTable(head, rows), '');
  const div = d.threads.filter((t) => t.divergesAt !== null);
  out.push(`threads whose calls diverge (${div.length} of ${d.threads.length} in both):`);
  for (const t of div) out.push(`  ${t.thread}: call ${t.divergesAt! + 1} (of ${t.callsA} in A, ${t.callsB} in B): A ${t.a ?? '(no more calls)'}, B ${t.b ?? '(no more calls)'}`);
  if (d.threadsOnlyInA.length) out.push(`threads only in A: ${d.threadsOnlyInA.join(', ')}`);
  if (d.threadsOnlyInB.length) out.push(`threads only in B: ${d.threadsOnlyInB.join(', ')}`);
  return out;
}

export function runDiff(argv: string[]): number {
  const { options, positionals } = parseArgs(argv, { json: { kind: 'flag' }, help: { kind: 'flag', short: 'h' } }, 2);
  if (options.help) {
    process.stdout.write(DIFF_HELP);
    return 0;
  }
  if (positionals.length !== 2) throw new UsageError('diff needs two session databases: ipc-trace diff A.sqlite B.sqlite');
  const load = (p: string) => {
    const r = SessionReader.open(p);
    try {
      return r.rows();
    } finally {
      r.close();
    }
  };
  const d = diffSessions(load(positionals[0]!), load(positionals[1]!));
  const out = new ByteWriter(1);
  if (options.json) out.line(JSON.stringify(d));
  else for (const l of formatDiff(d, positionals[0]!, positionals[1]!)) out.line(l);
  out.flush();
  return 0;
}
