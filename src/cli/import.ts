// `ipc-trace import LOG... --db FILE`: libmultiprocess -debug=ipc logs into a
// session database that chains, stats, export, replay and the terminal UI
// open like a recording.

import { checkOutputFile } from './output.js';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs, UsageError } from './args.js';
import { Progress } from './progress.js';
import { Store, removeSession } from '../store/store.js';
import { UserError, loadSchemaBundle } from '../decoder/sources.js';
import { DebugLogImporter } from '../import/debuglog.js';
import { isoTime } from '../log/ipclog.js';

export const IMPORT_HELP = `usage: ipc-trace import LOG... --db FILE

Reads Bitcoin Core / libmultiprocess -debug=ipc logs (debug.log of the node,
the wallet, clients; Debug or Trace level, -loglevel=ipc:trace for params and
results) into a new session database. Give every process's log of one run:
their calls are merged by time, and each client's 'IPC client send' is paired
with the server's 'IPC server recv request'. Then use chains, stats, export
and replay on it as on a recording.

What a log cannot tell is marked, not invented: there are no bytes (no hexlog
export), no question ids (-1), no ThreadMap.makeThread/Thread calls (never
logged), no Finish/Release; params/results are as logged (libmultiprocess
cuts them at 200 characters, ending '...').

  --db FILE   the session database to create (an existing file is refused)
  --force    replace an existing session file (never a symbolic link)
`;

export function runImport(argv: string[]): number {
  const { options, positionals } = parseArgs(argv, { db: { kind: 'string' }, force: { kind: 'flag' }, help: { kind: 'flag', short: 'h' } }, 1000);
  if (options.help) {
    process.stdout.write(IMPORT_HELP);
    return 0;
  }
  if (positionals.length === 0) throw new UsageError('import needs at least one log: ipc-trace import LOG... --db FILE');
  if (!options.db) throw new UsageError('import needs --db FILE (the session database to create)');
  // Checked before reading anything; --force replaces an existing session file.
  checkOutputFile(options.db as string, { option: '--db', force: options.force === true });
  const texts = positionals.map((p) => {
    try {
      return { name: p, text: readFileSync(p, 'latin1') };
    } catch (e) {
      throw new UserError(`cannot read ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  });
  const total = texts.reduce((a, t) => a + t.text.split('\n').length, 0);
  const progress = new Progress('importing', total);
  const bundle = loadSchemaBundle([], []);
  const imp = new DebugLogImporter(bundle.set, () => progress.tick());
  for (const t of texts) imp.add(t);
  const r = imp.finish();
  progress.finish();
  if (r.lines === 0) throw new UserError(`no -debug=ipc lines in ${positionals.join(', ')} (run bitcoin-node with -debug=ipc, and -loglevel=ipc:trace for params)`);
  const calls = r.delta.calls;
  const last = calls.reduce((a, c) => Math.max(a, c.returned ?? c.sent), calls[0]?.sent ?? 0);
  if (options.force) removeSession(options.db as string);
  const store = Store.create(
    options.db as string,
    {
      source: 'debug-log',
      logs: positionals.map((p) => basename(p)).join(' '),
      started: calls.length ? isoTime(calls[0]!.sent) : '',
      ended: isoTime(last),
      params_max_chars: '200',
      note: 'imported from -debug=ipc logs: no bytes, no question ids, no ThreadMap calls; params/results as logged (cut at 200 characters)',
    },
    [{ source: bundle.source, cgr: bundle.cgr }],
  );
  store.addConnections(r.delta.connections);
  store.apply(r.delta);
  store.shutdown();
  process.stderr.write(
    `ipc-trace: imported ${calls.length} calls between ${r.delta.processes.length} processes from ${positionals.length} log${positionals.length > 1 ? 's' : ''} into ${options.db}` +
      (r.untimed.length ? ` (no timestamps in ${r.untimed.join(', ')}: ordered by line)` : '') +
      '\n',
  );
  return 0;
}
