// `ipc-trace merge A.sqlite B.sqlite… --db OUT`: several proxies' sessions
// in one.

import { checkOutputFile } from './output.js';
import { basename } from 'node:path';
import { parseArgs, UsageError } from './args.js';
import { SessionReader } from '../store/reader.js';
import { Store, removeSession } from '../store/store.js';
import { mergeSessions, MergeInput } from '../merge/merge.js';
import { isoTime } from '../log/ipclog.js';

export const MERGE_HELP = `usage: ipc-trace merge A.sqlite B.sqlite... --db OUT

Puts the sessions of several proxies (e.g. one between bitcoin-node and a
local client, one in front of a wallet on another host reached over tcp:) in
one session: processes matched by name (bitcoin-node-123 is the same process
in every session that saw it), threads by process and name, calls ordered by
the time they were sent. Proxies in series (client -> A -> B -> server)
record the same connection twice: its calls are kept once, as the first
session given has them. chains, stats, export, diff and replay read the
result; it holds the sessions' rows, not their raw bytes (replay prints it
from its rows). Times are each proxy's clock: merge sessions from hosts whose
clocks agree (NTP).

  --db OUT   the session database to create (an existing file is refused)
  --force    replace an existing session file (never a symbolic link)
`;

export function runMerge(argv: string[]): number {
  const { options, positionals } = parseArgs(argv, { db: { kind: 'string' }, force: { kind: 'flag' }, help: { kind: 'flag', short: 'h' } }, 1000);
  if (options.help) {
    process.stdout.write(MERGE_HELP);
    return 0;
  }
  if (positionals.length < 2) throw new UsageError('merge needs two or more session databases: ipc-trace merge A.sqlite B.sqlite --db OUT');
  if (!options.db) throw new UsageError('merge needs --db OUT (the session database to create)');
  // Checked before reading anything; --force replaces an existing session file.
  checkOutputFile(options.db as string, { option: '--db', force: options.force === true });
  const inputs: MergeInput[] = [];
  let schema: Buffer | null = null;
  for (const p of positionals) {
    const r = SessionReader.open(p);
    try {
      inputs.push({ name: basename(p).replace(/\.sqlite$/, ''), rows: r.rows() });
      schema ??= r.schemaSet();
    } finally {
      r.close();
    }
  }
  const delta = mergeSessions(inputs);
  const starts = inputs.map((i) => i.rows.span.start).filter((t): t is number => t !== null);
  const ends = inputs.map((i) => i.rows.span.last).filter((t): t is number => t !== null);
  if (options.force) removeSession(options.db as string);
  const store = Store.create(
    options.db as string,
    {
      source: 'merge',
      merged_from: positionals.map((p) => basename(p)).join(' '),
      started: starts.length ? isoTime(Math.min(...starts)) : '',
      ended: ends.length ? isoTime(Math.max(...ends)) : isoTime(Date.now()),
    },
    schema ? [{ source: 'merged', cgr: schema }] : [],
  );
  store.addConnections(delta.connections);
  store.apply(delta);
  store.shutdown();
  process.stderr.write(`ipc-trace: merged ${delta.calls.length} calls of ${positionals.length} sessions (${delta.processes.length} processes) into ${options.db}\n`);
  return 0;
}
