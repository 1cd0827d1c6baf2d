// `ipc-trace chains DB`: who waits on whom, across processes, at the end of
// a session (or at --at TIME); works on a live session's database too.

import { parseArgs, UsageError } from './args.js';
import { openExisting } from '../store/store.js';
import { analyzeChains, formatChains, ChainCall, ChainThread } from '../chains/chains.js';
import { isoTime } from '../log/ipclog.js';
import { UserError } from '../decoder/sources.js';

export const CHAINS_HELP = `usage: ipc-trace chains DB [--at TIME] [--stuck SECONDS] [--json]

For the end of the recorded session (or the given time): each thread's stack of
outstanding calls across processes, the wait-for chains (waiting thread -> call
-> executing thread -> nested call ...), cycles flagged as DEADLOCK, and calls
outstanding longer than --stuck seconds (default 5) flagged as stuck, with the
leaf thread to attach a debugger to. On a session still being recorded, the
time is now.

  --at TIME        an ISO time (2026-11-22T01:07:40.5Z), or +SECONDS from the session's start
  --stuck SECONDS  age after which an outstanding call counts as stuck (default 5)
  --json           the report as JSON
`;

export function runChains(argv: string[]): number {
  const { options, positionals } = parseArgs(
    argv,
    { at: { kind: 'string' }, stuck: { kind: 'number' }, json: { kind: 'flag' }, help: { kind: 'flag', short: 'h' } },
    1,
  );
  if (options.help) {
    process.stdout.write(CHAINS_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('chains needs the session database: ipc-trace chains DB');
  const db = openExisting(positionals[0]!);
  const one = <T>(sql: string) => db.prepare(sql).pluck().get() as T;
  const start = one<number | null>('SELECT min(opened) FROM connections');
  const ended = one<string | undefined>("SELECT value FROM meta WHERE key = 'ended'");
  const last = one<number | null>(
    'SELECT max(t) FROM (SELECT max(time) AS t FROM chunks UNION ALL SELECT max(time) FROM stream_events UNION ALL SELECT max(closed) FROM connections)',
  );
  let at: number;
  const atOpt = options.at as string | undefined;
  if (atOpt !== undefined) {
    if (/^\+\d+(\.\d+)?$/.test(atOpt)) {
      if (start === null) throw new UserError('the session has no connections to count from');
      at = start + Number(atOpt.slice(1)) * 1000;
    } else {
      at = Date.parse(atOpt);
      if (Number.isNaN(at)) throw new UsageError(`--at: not a time: '${atOpt}' (ISO time or +SECONDS)`);
    }
  } else {
    at = ended ? (last ?? Date.now()) : Date.now();
  }
  const calls = db
    .prepare(
      `SELECT id, conn, question_id AS questionId, title, target, caller_thread AS caller, executor_thread AS executor, parent_call AS parent,
              request_no AS requestNo, client_process AS clientProcess, server_process AS serverProcess, sent, returned, status,
              cancel_requested AS cancelRequested FROM calls WHERE sent <= ?`,
    )
    .all(at) as ChainCall[];
  const threads = db
    .prepare('SELECT t.id, t.label, t.process, p.label AS processLabel, t.role FROM threads t JOIN processes p ON p.id = t.process')
    .all() as ChainThread[];
  const processes = db.prepare('SELECT id, label FROM processes').all() as { id: number; label: string }[];
  const closed = new Map(
    (db.prepare('SELECT id, closed FROM connections WHERE closed IS NOT NULL').all() as { id: number; closed: number }[]).map((r) => [r.id, r.closed]),
  );
  db.close();
  const report = analyzeChains({ calls, threads, processes, closed, at, stuckMs: ((options.stuck as number | undefined) ?? 5) * 1000 });
  const when = `${isoTime(at)}${atOpt === undefined ? (ended ? ' (end of session)' : ' (now; session still recording)') : ''}`;
  if (options.json) process.stdout.write(JSON.stringify({ ...report, when }, null, 2) + '\n');
  else process.stdout.write(formatChains(report, when));
  return 0;
}
