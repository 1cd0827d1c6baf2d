// `ipc-trace --listen ADDR --connect ADDR`: the transparent recording proxy.

import { rmSync } from 'node:fs';
import { parseArgs, UsageError } from './args.js';
import { parseAddress } from '../proxy/address.js';
import { Relay } from '../proxy/relay.js';
import { relayKind } from '../proxy/pump.js';
import { pinYoungGeneration } from './heap.js';
import { RecordingHandle, recordingOptions, stopRecorded, stopReportText, RECORDING_OPTIONS, REDACT_HELP, STOP_BUDGET_MS } from './recording.js';
import { UserError } from '../decoder/sources.js';
import { INTERCEPT_HELP, rulesFromOptions, startIntercept } from '../intercept/cli.js';
import { feedChannel, openLiveUi, wantsTui, LiveUi } from '../tui/live.js';

export const PROXY_HELP = `usage: ipc-trace --listen ADDR --connect ADDR [--db FILE] [--log FILE|-] [--force] [--schema F.capnp]... [-I DIR]... [--max-chars N] [--redact] [--no-tui]

Listens on ADDR, and for every connection accepted opens one to the --connect
ADDR and relays the bytes both ways unchanged. A copy is decoded and recorded.
ADDR is a Unix socket path (optionally unix:PATH) or tcp:HOST:PORT.

Example, between bitcoin-node -ipcbind=unix and a mining client:
  ipc-trace --listen /tmp/trace.sock --connect ~/.bitcoin/regtest/node.sock
  (then point the client at /tmp/trace.sock)

  --db FILE        session database (default ipc-trace-YYYYMMDD-HHMMSS.sqlite here)
  --log FILE|-     -debug=ipc-style log to FILE, or - for standard output
                   (without the terminal UI the log goes to standard output)
  --force          replace an existing --db or --log file (never a symbolic link;
                   files ipc-trace creates are mode 0600)
  --schema FILE    decode with these .capnp files (compiled with capnp), not the bundled ones
  -I, --import DIR import path for --schema
  --max-chars N    cut params/results in the log after N characters, like libmultiprocess
  --stuck SECONDS  UI: age after which an outstanding call is shown as stuck (default 5)
  --no-tui         no terminal UI: print the log (also when standard output is not a terminal)
${REDACT_HELP}
${INTERCEPT_HELP}
Ctrl-C (SIGINT) or SIGTERM stops accepting, flushes, closes the database and removes
the listening socket.
`;


/** Resolves on the first SIGINT or SIGTERM. */
export function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (sig: string) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(sig);
    };
    const onInt = () => on('SIGINT');
    const onTerm = () => on('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  });
}

/** A --listen/--connect address; a malformed one is bad usage (exit 2). */
function addressOption(text: string) {
  try {
    return parseAddress(text);
  } catch (e) {
    if (e instanceof UserError) throw new UsageError(e.message);
    throw e;
  }
}

export async function runProxy(argv: string[]): Promise<number> {
  const { options } = parseArgs(argv, { ...RECORDING_OPTIONS, listen: { kind: 'string' }, connect: { kind: 'string' } });
  if (options.help) {
    process.stdout.write(PROXY_HELP);
    return 0;
  }
  if (!options.listen || !options.connect) throw new UsageError('the proxy needs --listen ADDR and --connect ADDR');
  const listen = addressOption(options.listen as string);
  const connect = addressOption(options.connect as string);
  const rules = rulesFromOptions(options);
  const tui = wantsTui(options);
  const feed = tui ? feedChannel() : null;
  const recording = await RecordingHandle.start({ ...recordingOptions(options, ['ipc-trace', ...argv].join(' ')), printLog: !tui, feedPort: feed?.recorder });
  let ui: LiveUi | null = null;
  const note = (line: string) => (ui ? ui.note(line) : process.stderr.write(`ipc-trace: ${line}\n`));
  const { interceptor, control } = await startIntercept(recording, rules, options.schema as string[], options.import as string[], options.intercept === true);
  const relay = new Relay({
    interceptor,
    listen,
    connect,
    // Every connection goes to the same upstream process.
    tap: recording.tap(() => ({ server: `upstream ${options.connect as string}` })),
    log: note,
  });
  try {
    await relay.listen();
  } catch (e) {
    // Nothing was recorded: leave no empty session database behind.
    control?.close();
    await recording.finish();
    for (const suffix of ['', '-wal', '-shm']) rmSync(recording.dbPath + suffix, { force: true });
    throw e instanceof UserError ? e : new UserError(`cannot listen on ${options.listen}: ${(e as Error).message}`);
  }
  // A clean stop: within STOP_BUDGET_MS, whatever the peers do.
  const stop = async () => {
    if (process.env.IPC_TRACE_STOP_TIMES) {
      const t0 = performance.now();
      process.once('exit', () => process.stderr.write(`ipc-trace: exiting ${(performance.now() - t0).toFixed(0)} ms after the stop began\n`));
    }
    const r = await stopRecorded(async (ms) => {
      await relay.stop(ms);
      control?.close();
    }, recording);
    // Said when the bound was missed, or when asked (IPC_TRACE_STOP_TIMES=1: the soak's figures).
    if (r.total > STOP_BUDGET_MS || process.env.IPC_TRACE_STOP_TIMES) process.stderr.write(`ipc-trace: stopped in ${stopReportText(r)}\n`);
  };
  // Which relay moves the bytes (IPC_TRACE_RELAY=js forces the JavaScript one).
  const relayText = interceptor ? 'js (--intercept)' : relayKind().text;
  // This thread does not relay: its young generation need not grow (heap.ts).
  if (!interceptor && relayKind().pump) pinYoungGeneration();
  const banner = `listening on ${options.listen}, relaying to ${options.connect} (relay: ${relayText}), recording to ${recording.dbPath}`;
  let sig: string;
  if (tui) {
    try {
      ui = openLiveUi(recording, ((options.stuck as number | undefined) ?? 5) * 1000, feed!, interceptor);
      ui.note(banner);
      sig = await ui.done;
    } finally {
      // The terminal back (and the UI's reader closed, so that closing the database
      // removes its WAL files), then stop recording exactly as without the UI.
      ui?.close();
      ui = null;
      interceptor?.disarm();
      await stop();
    }
    process.stderr.write(`ipc-trace: ${banner.replace('recording to', 'recorded in')}\n`);
    return 0;
  }
  process.stderr.write(`ipc-trace: ${banner}\n`);
  sig = await untilSignal();
  process.stderr.write(`ipc-trace: ${sig}: stopping\n`);
  interceptor?.disarm();
  await stop();
  return 0;
}
