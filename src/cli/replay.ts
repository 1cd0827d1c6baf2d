// `ipc-trace replay DB`: feeds a session's recorded chunks through the same
// pipeline as live traffic and prints the same log.

import { parseArgs, UsageError } from './args.js';
import { ByteWriter } from './output.js';
import { SessionReader } from '../store/reader.js';
import { loadCodeGeneratorRequest } from '../decoder/schema.js';
import { rpcSchemaSet } from '../decoder/sources.js';
import { Pipeline, Sink } from '../session/pipeline.js';
import { IpcLog } from '../log/ipclog.js';
import { rowLogLines } from '../log/rowlog.js';
import { redactOption } from './export.js';

export const REPLAY_HELP = `usage: ipc-trace replay DB [--no-tui] [--max-chars N] [--redact] [--redact-field NAME]...

Feeds the raw traffic recorded in session database DB through the decoder and
session model again and prints the -debug=ipc-style log, identical to the one
the live session printed (times are the recorded ones). A session without
recorded traffic (imported from -debug=ipc logs, or merged) prints its calls'
lines from its rows.

  --max-chars N   cut params/results after N characters (default: as recorded)
  --redact        mask wallet secrets in params/results (docs/redaction.md)
  --redact-field NAME  mask this field too (repeatable; implies --redact)
  --no-tui        print the log (the default until the terminal UI exists)
`;

/** Replays a recorded session into the given sinks, in recorded order (the model keeps only what is live). */
export function replayInto(reader: SessionReader, sinks: Sink[]): Pipeline {
  const p = new Pipeline(loadCodeGeneratorRequest(reader.schemaSet()), rpcSchemaSet(), sinks, { retainHistory: false });
  let n = 0;
  for (const r of reader.stream()) {
    if ((++n & 255) === 0) p.model.skipDelta(); // nobody reads the feed here: let retired records go
    switch (r.k) {
      case 'open':
        p.open({ id: r.conn, time: r.time, label: r.label, client: r.client ?? undefined, server: r.server ?? undefined });
        break;
      case 'data':
        p.chunk(r.conn, r.dir, r.bytes, r.time);
        break;
      case 'end':
        p.end(r.conn, r.dir, r.time);
        break;
      case 'gap':
        p.gap(r.conn, r.dir, r.bytes, r.time);
        break;
      case 'close':
        p.close(r.conn, r.time, r.reason);
        break;
    }
  }
  return p;
}

export function runReplay(argv: string[]): number {
  const { options, positionals } = parseArgs(
    argv,
    { 'no-tui': { kind: 'flag' }, 'max-chars': { kind: 'number' }, redact: { kind: 'flag' }, 'redact-field': { kind: 'string', repeat: true }, help: { kind: 'flag', short: 'h' } },
    1,
  );
  if (options.help) {
    process.stdout.write(REPLAY_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('replay needs the session database: ipc-trace replay DB');
  const reader = SessionReader.open(positionals[0]!);
  const recorded = Number(reader.metaValue('max_chars') ?? 'Infinity');
  const maxChars = (options['max-chars'] as number | undefined) ?? recorded;
  const out = new ByteWriter(1);
  const redact = redactOption(options);
  if (reader.hasStream()) replayInto(reader, [new IpcLog((l) => out.line(l), maxChars, redact)]);
  else for (const l of rowLogLines(reader.rows(), { maxChars, redact })) out.line(l);
  out.flush();
  reader.close();
  return 0;
}
