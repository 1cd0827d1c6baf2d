#!/usr/bin/env node
// ipc-trace: the command-line entry point.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from './args.js';
import { UserError, PACKAGE_ROOT } from '../decoder/sources.js';
import { runDecode, DECODE_HELP } from './decode.js';
import { runSchemas, SCHEMAS_HELP } from './schemas.js';
import { runProxy, PROXY_HELP } from './proxy.js';
import { runReplay, REPLAY_HELP } from './replay.js';
import { runChains, CHAINS_HELP } from './chains.js';
import { runExec, EXEC_HELP } from './exec.js';
import { runDemo, DEMO_HELP } from './demo.js';
import { runRelease, RELEASE_HELP } from './release.js';
import { runExport, EXPORT_HELP, runQuery, QUERY_HELP } from './export.js';
import { runStats, STATS_HELP } from './stats.js';
import { runImport, IMPORT_HELP } from './import.js';
import { runDiff, DIFF_HELP } from './diff.js';
import { runMerge, MERGE_HELP } from './merge.js';
import { boundHeapGrowth } from './heap.js';

const HELP = `usage: ipc-trace --listen ADDR --connect ADDR [options]
       ipc-trace <command> [options]

Makes Bitcoin Core's multiprocess IPC (Cap'n Proto RPC over Unix sockets) visible.

  --listen A --connect B relay a socket, decode and record the traffic
                         A and B: a Unix socket path (or unix:PATH), or tcp:HOST:PORT
recording options (the proxy, exec and demo):
  --db FILE              session database (default ipc-trace-YYYYMMDD-HHMMSS.sqlite here)
  --log FILE|-           -debug=ipc-style log to FILE, or - for standard output
  --force                replace an existing --db or --log file
  --schema FILE          decode with these .capnp files, not the bundled ones (-I DIR: imports)
  --max-chars N          cut params/results in the log after N characters
  --no-tui               no terminal UI: print the log
  --redact               store wallet secrets zeroed, mask them in the log (docs/redaction.md)
  --hold/--delay/--fail/--disconnect EXPR, --rules FILE
                         breakpoints on the wire: hold, delay, fail or cut matching calls
commands:
  exec -- COMMAND ...    run a Bitcoin Core command, interposing on the IPC children it spawns
  demo                   run a simulated bitcoin-node and its bitcoin-wallet process, recording their IPC
  replay DB              print a recorded session's log again
  release DB [ID|all]    release messages held by a running session's --hold rules
  chains DB              IPC deadlocks, stuck calls and where to attach a debugger
  stats DB               calls, errors and latency percentiles per method, thread or process
  export DB              a session as Perfetto/Chrome trace JSON, OTLP spans, JSON lines or a hexlog capture
  query DB SQL           read-only SQL on a session database
  import LOG... --db F   -debug=ipc logs (node, wallet, clients) into a session database
  merge A B... --db OUT  several proxies' sessions in one (processes matched by name)
  diff A B               what differs between two sessions: methods, counts, latencies, call sequences
  decode --hexlog FILE   decode a capture (hexlog format) into messages
  schemas                list the loaded interfaces and methods

  ipc-trace <command> --help   shows a command's options (ipc-trace --listen --help: the proxy's)
  ipc-trace --version          prints the version

Installed with npm in a project, run it as 'npx ipc-trace ...'.
`;

/** `--version`/`-V` among a command's options (not after `--`, which belongs to exec's COMMAND). */
function asksVersion(argv: string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === '--version' || a === '-V');
}

const COMMANDS: Record<string, { run: (argv: string[]) => number | Promise<number>; help: string }> = {
  decode: { run: runDecode, help: DECODE_HELP },
  schemas: { run: runSchemas, help: SCHEMAS_HELP },
  proxy: { run: runProxy, help: PROXY_HELP },
  replay: { run: runReplay, help: REPLAY_HELP },
  chains: { run: runChains, help: CHAINS_HELP },
  exec: { run: runExec, help: EXEC_HELP },
  demo: { run: runDemo, help: DEMO_HELP },
  release: { run: runRelease, help: RELEASE_HELP },
  export: { run: runExport, help: EXPORT_HELP },
  query: { run: runQuery, help: QUERY_HELP },
  stats: { run: runStats, help: STATS_HELP },
  import: { run: runImport, help: IMPORT_HELP },
  diff: { run: runDiff, help: DIFF_HELP },
  merge: { run: runMerge, help: MERGE_HELP },
};

function version(): string {
  const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  boundHeapGrowth();
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    if (cmd === 'help' && rest[0] && COMMANDS[rest[0]]) process.stdout.write(COMMANDS[rest[0]]!.help);
    else process.stdout.write(HELP);
    return cmd === undefined ? 2 : 0;
  }
  if (cmd === '--version' || cmd === '-V' || ((COMMANDS[cmd] || cmd.startsWith('--')) && asksVersion(rest))) {
    process.stdout.write(`ipc-trace ${version()}\n`);
    return 0;
  }
  if (cmd.startsWith('--listen') || cmd.startsWith('--connect')) return runProxy(argv);
  const c = COMMANDS[cmd];
  if (!c) throw new UsageError(`unknown command '${cmd}' (see ipc-trace --help)`);
  return c.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof UsageError) {
      process.stderr.write(`ipc-trace: ${e.message}\n`);
      process.exitCode = 2;
    } else if (e instanceof UserError) {
      process.stderr.write(`ipc-trace: ${e.message}\n`);
      process.exitCode = 1;
    } else {
      const msg = e instanceof Error ? e.message : String(e);
      process.stderr.write(`ipc-trace: internal error: ${msg.split('\n')[0]}\n`);
      process.exitCode = 1;
    }
  },
);
