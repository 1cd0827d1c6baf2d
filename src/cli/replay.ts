// `ipc-trace replay DB`: feeds a session's recorded chunks through the same
// pipeline as live traffic and prints the same log.

import { parseArgs, UsageError } from './args.js';
import { ByteWriter } from './output.js';
import { openExisting } from '../store/store.js';
import { loadCodeGeneratorRequest } from '../decoder/schema.js';
import { rpcSchemaSet } from '../decoder/sources.js';
import { Pipeline, Sink } from '../session/pipeline.js';
import { IpcLog } from '../log/ipclog.js';
import type { Dir } from '../decoder/messages.js';
import type Database from 'better-sqlite3';

export const REPLAY_HELP = `usage: ipc-trace replay DB [--no-tui] [--max-chars N]

Feeds the raw traffic recorded in session database DB through the decoder and
session model again and prints the -debug=ipc-style log, identical to the one
the live session printed (times are the recorded ones).

  --max-chars N   cut params/results after N characters (default: as recorded)
  --no-tui        print the log (the default until the terminal UI exists)
`;

interface Row {
  seq: number;
  k: string;
  conn: number;
  dir: Dir | null;
  time: number;
  bytes: Buffer | null;
  label: string | null;
  client: string | null;
  server: string | null;
  n: number | null;
}

/** Replays a session database into the given sinks, in recorded order. */
export function replayInto(db: Database.Database, sinks: Sink[]): Pipeline {
  const cgr = db.prepare('SELECT cgr FROM schema_sets ORDER BY id LIMIT 1').pluck().get() as Buffer | undefined;
  if (!cgr) throw new UsageError('the session database has no schemas');
  const p = new Pipeline(loadCodeGeneratorRequest(cgr), rpcSchemaSet(), sinks);
  const rows = db.prepare(`
    SELECT seq_open AS seq, 'open' AS k, id AS conn, NULL AS dir, opened AS time, NULL AS bytes, label, client_name AS client, server_name AS server, NULL AS n FROM connections
    UNION ALL SELECT seq, 'data', conn, dir, time, bytes, NULL, NULL, NULL, NULL FROM chunks
    UNION ALL SELECT seq, kind, conn, dir, time, NULL, NULL, NULL, NULL, bytes FROM stream_events
    UNION ALL SELECT seq_close, 'close', id, NULL, closed, NULL, close_reason, NULL, NULL, NULL FROM connections WHERE seq_close IS NOT NULL
    ORDER BY seq`);
  for (const r of rows.iterate() as IterableIterator<Row>) {
    switch (r.k) {
      case 'open':
        p.open({ id: r.conn, time: r.time, label: r.label ?? '', client: r.client ?? undefined, server: r.server ?? undefined });
        break;
      case 'data':
        p.chunk(r.conn, r.dir!, r.bytes!, r.time);
        break;
      case 'end':
        p.end(r.conn, r.dir!, r.time);
        break;
      case 'gap':
        p.gap(r.conn, r.dir!, r.n ?? 0, r.time);
        break;
      case 'close':
        p.close(r.conn, r.time, r.label);
        break;
    }
  }
  return p;
}

export function runReplay(argv: string[]): number {
  const { options, positionals } = parseArgs(argv, { 'no-tui': { kind: 'flag' }, 'max-chars': { kind: 'number' }, help: { kind: 'flag', short: 'h' } }, 1);
  if (options.help) {
    process.stdout.write(REPLAY_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('replay needs the session database: ipc-trace replay DB');
  const db = openExisting(positionals[0]!);
  const recorded = Number(db.prepare("SELECT value FROM meta WHERE key = 'max_chars'").pluck().get() ?? 'Infinity');
  const maxChars = (options['max-chars'] as number | undefined) ?? recorded;
  const out = new ByteWriter(1);
  replayInto(db, [new IpcLog((l) => out.line(l), maxChars)]);
  out.flush();
  db.close();
  return 0;
}
