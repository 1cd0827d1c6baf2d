// `ipc-trace exec -- COMMAND [ARGS]…`: runs a Bitcoin Core command so that
// every IPC child it spawns (`dirname(argv0)/EXE -ipcfd N`) is interposed on
// and recorded in one session.

import { parseArgs, UsageError } from './args.js';
import { ExecSession } from '../proxy/exec.js';
import { RecordingHandle, recordingOptions, RECORDING_OPTIONS } from './recording.js';

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
Options as for 'ipc-trace --listen' (see ipc-trace --listen --help).
`;

export async function runExec(argv: string[]): Promise<number> {
  const { options, rest } = parseArgs(argv, RECORDING_OPTIONS);
  if (options.help) {
    process.stdout.write(EXEC_HELP);
    return 0;
  }
  if (rest.length === 0) throw new UsageError('exec needs a command after --: ipc-trace exec -- COMMAND [ARGS]...');
  const recording = await RecordingHandle.start(recordingOptions(options, ['ipc-trace', 'exec', ...argv].join(' ')));
  const tap = recording.tap((c) => ({ client: c.listen, server: c.upstream }));
  const session = new ExecSession({
    command: rest[0]!,
    args: rest.slice(1),
    tap,
    log: (line) => process.stderr.write(`ipc-trace: ${line}\n`),
  });
  try {
    await session.start();
  } catch (e) {
    await recording.finish();
    throw e;
  }
  process.stderr.write(`ipc-trace: running ${rest[0]} (pid ${session.pid}), recording to ${recording.dbPath}\n`);
  const code = await session.wait();
  await session.stop();
  await recording.finish();
  if (session.interposed === 0) {
    process.stderr.write(
      `ipc-trace: warning: ${rest[0]} ran but spawned no IPC child ipc-trace could interpose on ` +
        `(it looks for 'dirname(argv0)/EXE -ipcfd N' or 'dirname(argv0)/EXE N'); ${recording.dbPath} holds no traffic\n`,
    );
  }
  return code;
}
