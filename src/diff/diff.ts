// Comparing two sessions (mitmproxy users' long-standing ask): methods seen
// in only one, call counts and latency percentiles side by side with the
// change, and for each thread the first call where its sequence of calls
// diverges. Runs of the same programs differ in pids and thread ids, so
// threads and processes are matched by name with the numbers taken out
// (`bitcoin-node-7465/b-httpworker.0-7467` → `bitcoin-node/b-httpworker.0`).
// A function of two sessions' rows.

import type { SessionRows } from '../store/reader.js';
import { RowIndex } from '../session/row-index.js';
import { callStats, StatsGroup } from '../stats/stats.js';

export interface MethodDiff {
  method: string;
  a: StatsGroup | null;
  b: StatsGroup | null;
  /** b − a calls. */
  callsChange: number;
  /** (b − a) / a of each percentile, null when either side has none. */
  p50Change: number | null;
  p90Change: number | null;
  p99Change: number | null;
}

export interface ThreadDiff {
  thread: string;
  /** Calls the thread made in each session. */
  callsA: number;
  callsB: number;
  /** 0-based index of the first call that differs (null: the sequences are equal). */
  divergesAt: number | null;
  a: string | null;
  b: string | null;
}

export interface SessionDiff {
  identical: boolean;
  onlyInA: string[];
  onlyInB: string[];
  methods: MethodDiff[];
  threads: ThreadDiff[];
  threadsOnlyInA: string[];
  threadsOnlyInB: string[];
}

/** A thread or process name without pids and thread ids. */
export function stableName(label: string): string {
  return label.replace(/-\d+(?=\/|$|\)| )/g, '').replace(/\/\d+(?=$|\)| )/g, '/');
}

function change(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a === null || a === undefined || b === null || b === undefined) return null;
  if (a === 0) return b === 0 ? 0 : null;
  return (b - a) / a;
}

function sequences(rows: SessionRows): Map<string, string[]> {
  const ix = new RowIndex(rows.processes, rows.threads);
  const out = new Map<string, string[]>();
  for (const c of rows.calls) {
    const k = stableName(ix.callerLabel(c));
    let l = out.get(k);
    if (!l) out.set(k, (l = []));
    l.push(c.title);
  }
  return out;
}

export function diffSessions(a: SessionRows, b: SessionRows): SessionDiff {
  const sa = new Map(callStats(a.calls, 'method', new RowIndex(a.processes, a.threads)).map((g) => [g.key, g]));
  const sb = new Map(callStats(b.calls, 'method', new RowIndex(b.processes, b.threads)).map((g) => [g.key, g]));
  const names = [...new Set([...sa.keys(), ...sb.keys()])].sort();
  const methods: MethodDiff[] = names.map((m) => {
    const x = sa.get(m) ?? null;
    const y = sb.get(m) ?? null;
    return {
      method: m,
      a: x,
      b: y,
      callsChange: (y?.calls ?? 0) - (x?.calls ?? 0),
      p50Change: change(x?.p50, y?.p50),
      p90Change: change(x?.p90, y?.p90),
      p99Change: change(x?.p99, y?.p99),
    };
  });
  const qa = sequences(a);
  const qb = sequences(b);
  const threads: ThreadDiff[] = [];
  for (const [t, x] of qa) {
    const y = qb.get(t);
    if (!y) continue;
    let i = 0;
    while (i < x.length && i < y.length && x[i] === y[i]) i++;
    const same = i === x.length && i === y.length;
    threads.push({ thread: t, callsA: x.length, callsB: y.length, divergesAt: same ? null : i, a: same ? null : (x[i] ?? null), b: same ? null : (y[i] ?? null) });
  }
  threads.sort((p, q) => (p.thread < q.thread ? -1 : p.thread > q.thread ? 1 : 0));
  const onlyInA = names.filter((m) => !sb.has(m));
  const onlyInB = names.filter((m) => !sa.has(m));
  const threadsOnlyInA = [...qa.keys()].filter((t) => !qb.has(t)).sort();
  const threadsOnlyInB = [...qb.keys()].filter((t) => !qa.has(t)).sort();
  const identical =
    !onlyInA.length &&
    !onlyInB.length &&
    !threadsOnlyInA.length &&
    !threadsOnlyInB.length &&
    methods.every((m) => m.callsChange === 0 && m.a!.p50 === m.b!.p50 && m.a!.p90 === m.b!.p90 && m.a!.p99 === m.b!.p99 && m.a!.max === m.b!.max) &&
    threads.every((t) => t.divergesAt === null);
  return { identical, onlyInA, onlyInB, methods, threads, threadsOnlyInA, threadsOnlyInB };
}
