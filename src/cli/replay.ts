// `ipc-trace replay DB`: feeds a session's recorded chunks through the same
// pipeline as live traffic and prints the same log.

import { parseArgs, UsageError } from './args.js';
import { ByteWriter } from './output.js';
import { SessionReader } from '../store/reader.js';
import { streamOnThread } from '../store/stream-thread.js';
import { loadCodeGeneratorRequest } from '../decoder/schema.js';
import { rpcSchemaSet } from '../decoder/sources.js';
import { Pipeline, Sink } from '../session/pipeline.js';
import { rowLogLines } from '../log/rowlog.js';
import { redactOption } from './export.js';
import { parseFilter } from '../filter/parse.js';
import { filteredLogSinks } from '../filter/log.js';
import { compileLineFilter } from '../filter/match.js';
import { startTui, tuiPossible } from '../tui/run.js';

export const REPLAY_HELP = `usage: ipc-trace replay DB [--no-tui] [--filter EXPR] [--max-chars N] [--stuck SECONDS] [--redact] [--redact-field NAME]...

In a terminal, opens the recorded session in the terminal UI at its end: calls,
detail, threads, chains, stats and log panes, with a time cursor to step or play
through it (? lists the keys). With --no-tui, or when standard output is not a
terminal, feeds the raw traffic recorded in session database DB through the
decoder and session model again and prints the -debug=ipc-style log, identical
to the one the live session printed (times are the recorded ones). A session
without recorded traffic (imported from -debug=ipc logs, or merged) prints its
calls' lines from its rows.

  --filter EXPR     only the log lines of calls matching EXPR (the UI's filter language:
                    method:NAME iface:NAME thread:NAME proc:NAME conn:N status:S slow:>100ms
                    text:REGEX, combined with ! & | and parentheses)
  --max-chars N     cut params/results after N characters (default: as recorded)
  --stuck SECONDS   UI: age after which an outstanding call counts as stuck (default 5)
  --redact          mask wallet secrets in params/results (docs/redaction.md)
  --redact-field NAME  mask this field too (repeatable; implies --redact)
  --no-tui          print the log
`;

/** The recording in the terminal UI, at its end, until the user quits. */
async function replayTui(reader: SessionReader, filter: string, stuckMs: number, redact: string[] | null): Promise<number> {
  const tui = startTui({ mode: 'replay', dbPath: reader.path, stuckMs, filter, redact });
  try {
    await tui.done;
  } finally {
    tui.close();
  }
  return 0;
}

/**
 * Replays a recorded session into the given sinks, in recorded order (the
 * model keeps only what is live). The stream is read on another thread
 * (streamOnThread) while this one decodes, models and logs.
 */
export function replayInto(reader: SessionReader, sinks: Sink[]): Pipeline {
  const items = streamOnThread(reader.path);
  try {
    const p = new Pipeline(loadCodeGeneratorRequest(reader.schemaSet()), rpcSchemaSet(), sinks, { retainHistory: false });
    let n = 0;
    for (const r of items) {
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
        case 'intervention':
          p.intervention(r.ev);
          break;
      }
    }
    return p;
  } finally {
    items.return?.();
  }
}

export async function runReplay(argv: string[]): Promise<number> {
  const { options, positionals } = parseArgs(
    argv,
    {
      'no-tui': { kind: 'flag' },
      'max-chars': { kind: 'number' },
      filter: { kind: 'string' },
      stuck: { kind: 'number' },
      redact: { kind: 'flag' },
      'redact-field': { kind: 'string', repeat: true },
      help: { kind: 'flag', short: 'h' },
    },
    1,
  );
  if (options.help) {
    process.stdout.write(REPLAY_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('replay needs the session database: ipc-trace replay DB');
  const filter = parseFilter((options.filter as string | undefined) ?? '');
  if (!filter.ok) throw new UsageError(`--filter: ${filter.error} (at character ${filter.pos + 1})`);
  const reader = SessionReader.open(positionals[0]!);
  if (!options['no-tui'] && tuiPossible()) {
    try {
      const redact = options.redact || (options['redact-field'] as string[]).length ? (options['redact-field'] as string[]) : null;
      return await replayTui(reader, (options.filter as string | undefined) ?? '', ((options.stuck as number | undefined) ?? 5) * 1000, redact);
    } finally {
      reader.close();
    }
  }
  const recorded = Number(reader.metaValue('max_chars') ?? 'Infinity');
  const maxChars = (options['max-chars'] as number | undefined) ?? recorded;
  const out = new ByteWriter(1);
  const redact = redactOption(options);
  if (reader.hasStream()) replayInto(reader, filteredLogSinks(filter.expr, (l) => out.line(l), maxChars, redact));
  else {
    const keep = compileLineFilter(filter.expr);
    for (const l of rowLogLines(reader.rows(), { maxChars, redact })) if (keep(l)) out.line(l);
  }
  out.flush();
  reader.close();
  return 0;
}
