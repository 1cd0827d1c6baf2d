// `ipc-trace exec -- COMMAND [ARGS]…`: runs a Bitcoin Core command so that
// every IPC child it spawns (`dirname(argv0)/EXE -ipcfd N`) is interposed on
// and recorded in one session.

import { parseArgs, UsageError } from './args.js';
import { ExecSession } from '../proxy/exec.js';
import { RecordingHandle, recordingOptions, RECORDING_OPTIONS } from './recording.js';
import { INTERCEPT_HELP, rulesFromOptions, startIntercept } from '../intercept/cli.js';
import { feedChannel, openLiveUi, wantsTui, LiveUi } from '../tui/live.js';

export const EXEC_HELP = `usage: ipc-trace exec [--db FILE] [--log FILE|-] [--force] [--schema F.capnp]... [-I DIR]... [--max-chars N] [--redact] [--no-tui] -- COMMAND [ARGS]...

Runs COMMAND from a directory of shims, so that every IPC child it spawns as
'dirname(argv0)/EXE -ipcfd N' (Bitcoin Core's way, e.g. bitcoin-node spawning
bitcoin-wallet, or echoipc spawning bitcoin-node) or 'dirname(argv0)/EXE N'
(libmultiprocess's mp::SpawnProcess, e.g. mpexample spawning mpcalculator) is
relayed through ipc-trace and recorded in the same session. Other invocations
run the real program. A warning at the end says when no child was interposed on.

Example:
  ipc-trace exec --db wallet.sqlite -- ~/bitcoin/build/bin/bitcoin-node -regtest -debug=ipc

COMMAND's exit code is ipc-trace's. Ctrl-C and SIGTERM are passed on to it.
In a terminal the session is shown in the terminal UI (q or Ctrl-C stops COMMAND
like Ctrl-C; COMMAND's own output is discarded: --no-tui keeps it).
Options as for 'ipc-trace --listen' (see ipc-trace --listen --help), including
${INTERCEPT_HELP}`;

export async function runExec(argv: string[]): Promise<number> {
  const { options, rest } = parseArgs(argv, RECORDING_OPTIONS);
  if (options.help) {
    process.stdout.write(EXEC_HELP);
    return 0;
  }
  if (rest.length === 0) throw new UsageError('exec needs a command after --: ipc-trace exec -- COMMAND [ARGS]...');
  const rules = rulesFromOptions(options);
  const tui = wantsTui(options);
  const feed = tui ? feedChannel() : null;
  const recording = await RecordingHandle.start({ ...recordingOptions(options, ['ipc-trace', 'exec', ...argv].join(' ')), printLog: !tui, feedPort: feed?.recorder, timeOrder: true });
  const tap = recording.tap((c) => ({ client: c.listen, server: c.upstream }));
  let ui: LiveUi | null = null;
  const { interceptor, control } = await startIntercept(recording, rules, options.schema as string[], options.import as string[], options.intercept === true);
  const session = new ExecSession({
    interceptor,
    command: rest[0]!,
    args: rest.slice(1),
    tap,
    log: (line) => (ui ? ui.note(line) : process.stderr.write(`ipc-trace: ${line}\n`)),
    // The UI owns the terminal: COMMAND's own output would scribble over it.
    stdio: tui ? 'ignore' : 'inherit',
  });
  try {
    await session.start();
  } catch (e) {
    control?.close();
    await recording.finish();
    throw e;
  }
  const banner = `running ${rest[0]} (pid ${session.pid}), recording to ${recording.dbPath}`;
  const warnIfNothing = () => {
    if (session.interposed === 0) {
      process.stderr.write(
        `ipc-trace: warning: ${rest[0]} ran but spawned no IPC child ipc-trace could interpose on ` +
          `(it looks for 'dirname(argv0)/EXE -ipcfd N' or 'dirname(argv0)/EXE N'); ${recording.dbPath} holds no traffic\n`,
      );
    }
  };
  if (!tui) {
    process.stderr.write(`ipc-trace: ${banner}\n`);
    const code = await session.wait();
    await session.stop();
    control?.close();
    await recording.finish();
    warnIfNothing();
    return code;
  }
  let code = 0;
  try {
    ui = openLiveUi(recording, ((options.stuck as number | undefined) ?? 5) * 1000, feed!, interceptor);
    ui.note(banner + ' (q stops it)');
    const outcome = await Promise.race([session.wait().then((c) => ({ exit: c })), ui.done.then(() => ({ exit: null }))]);
    if (outcome.exit !== null) {
      ui.note(`${rest[0]} exited with code ${outcome.exit}; q quits`);
      await ui.done;
    }
    // The terminal back (and the UI's reader closed, so that closing the database removes its WAL files).
    ui.close();
    ui = null;
    if (outcome.exit === null) {
      // q / Ctrl-C: pass it on as Ctrl-C would reach COMMAND without the UI.
      if (session.pid !== undefined) {
        try {
          process.kill(session.pid, 'SIGINT');
        } catch {
          // already gone
        }
      }
      code = await session.wait();
    } else code = outcome.exit;
  } finally {
    ui?.close();
    await session.stop();
    control?.close();
    await recording.finish();
  }
  process.stderr.write(`ipc-trace: ${rest[0]} exited with code ${code}; session recorded in ${recording.dbPath}\n`);
  warnIfNothing();
  return code;
}
