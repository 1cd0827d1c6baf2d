// `ipc-trace chains DB`: deadlocks and stuck calls across processes at the
// end of a session (or at --at TIME); on a session still being recorded, now.

import { parseArgs, UsageError } from './args.js';
import { SessionReader } from '../store/reader.js';
import { analyzeChains, chainInput, formatChains, verdict, DEFAULT_STUCK_MS, HANG_FACTOR, HANG_FLOOR_MS, UNSEEN_LIMIT_MS } from '../chains/chains.js';
import { isoTime } from '../log/ipclog.js';
import { UserError } from '../decoder/sources.js';
import { formatDuration } from '../mp/concepts.js';

export const CHAINS_HELP = `usage: ipc-trace chains DB [--at TIME] [--stuck SECONDS] [--threads] [--json] [--check]

At the end of the recorded session (or the given time; on a session still being
recorded, now): IPC deadlocks, each as the cycle of threads waiting on each other
(one line per edge: process, thread, method, call id, age), the threads blocked
behind it, then the other stuck calls with the thread to attach a debugger to.

A cycle is a deadlock when every call on it has been outstanding far longer than
its method takes in this session: ${HANG_FACTOR} x the p99 of its completed calls, at
least ${formatDuration(HANG_FLOOR_MS)} (${formatDuration(UNSEEN_LIMIT_MS)} for a method with no completed call yet).

  --at TIME        an ISO time (2026-11-22T01:07:40.5Z), or +SECONDS from the session's start
  --stuck SECONDS  mark calls outstanding this long as stuck (default ${DEFAULT_STUCK_MS / 1000})
  --threads        also every chain (waiting thread -> call -> executing thread -> nested
                   call ...) and each thread's stack of outstanding calls
  --json           the report as JSON, with ids (call, thread, process, connection) and labels
  --check          exit 1 when there is a deadlock or a call stuck past --stuck, else 0
`;

export function runChains(argv: string[]): number {
  const { options, positionals } = parseArgs(
    argv,
    {
      at: { kind: 'string' },
      stuck: { kind: 'number' },
      threads: { kind: 'flag' },
      json: { kind: 'flag' },
      check: { kind: 'flag' },
      help: { kind: 'flag', short: 'h' },
    },
    1,
  );
  if (options.help) {
    process.stdout.write(CHAINS_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('chains needs the session database: ipc-trace chains DB');
  const reader = SessionReader.open(positionals[0]!);
  let report;
  let when: string;
  try {
    const span = reader.span();
    const atOpt = options.at as string | undefined;
    let at: number;
    if (atOpt !== undefined) {
      if (/^\+\d+(\.\d+)?$/.test(atOpt)) {
        if (span.start === null) throw new UserError('the session has no connections to count from');
        at = span.start + Number(atOpt.slice(1)) * 1000;
      } else {
        at = Date.parse(atOpt);
        if (Number.isNaN(at)) throw new UsageError(`--at: not a time: '${atOpt}' (ISO time or +SECONDS)`);
      }
    } else {
      at = span.ended ? (span.last ?? Date.now()) : Date.now();
    }
    const stuck = options.stuck as number | undefined;
    report = analyzeChains(chainInput(reader, at, stuck !== undefined ? stuck * 1000 : undefined));
    when = `${isoTime(at)}${atOpt === undefined ? (span.ended ? ' (end of session)' : ' (now; session still recording)') : ''}`;
  } finally {
    reader.close();
  }
  if (options.json) process.stdout.write(JSON.stringify({ when, verdict: verdict(report), ...report }, null, 2) + '\n');
  else process.stdout.write(formatChains(report, { when, threads: options.threads === true }));
  if (options.check && (report.deadlocks.length > 0 || report.chains.some((n) => n.stuck))) return 1;
  return 0;
}
