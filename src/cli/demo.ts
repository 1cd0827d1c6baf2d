// `ipc-trace demo`: runs the bundled demo bitcoin-node (dist/node/main.js),
// which spawns its bitcoin-wallet process the way Bitcoin Core does
// (dirname(argv0)/bitcoin-wallet -ipcfd 3), under the exec machinery, so the
// node ↔ wallet connection is interposed on and recorded like any
// `ipc-trace exec -- bitcoin-node` session.

import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SessionReader } from '../store/reader.js';
import { analyzeChains, chainInput } from '../chains/chains.js';
import { parseArgs, UsageError } from './args.js';
import { ExecSession } from '../proxy/exec.js';
import type { Tap } from '../proxy/splice.js';
import { RecordingHandle, recordingOptions } from './recording.js';
import { untilSignal } from './proxy.js';
import { UserError, PACKAGE_ROOT } from '../decoder/sources.js';
import { SCENARIOS } from '../demo/args.js';
import { INTERCEPT_OPTIONS, INTERCEPT_HELP, rulesFromOptions, startIntercept } from '../intercept/cli.js';
import { feedChannel, openLiveUi, wantsTui, LiveUi } from '../tui/live.js';

export const DEMO_HELP = `usage: ipc-trace demo [--scenario S] [--duration SEC] [--seed N] [--db FILE] [--log FILE|-] [--force] [--max-chars N] [--stuck SEC] [--no-tui]

Runs a simulated Bitcoin Core node/wallet pair and records their IPC. The demo
bitcoin-node (a regtest chain with blocks every 2 s, mempool traffic, RPC
worker threads, a scheduler thread sending chain notifications) spawns its
bitcoin-wallet process over a socketpair (-ipcfd 3) exactly as Bitcoin Core's
multiprocess build does, and ipc-trace interposes on it as 'ipc-trace exec'
would: every call in both directions is decoded, logged and recorded.

Scenarios:
  normal      steady traffic both ways, callbacks nested inside calls (default)
  deadlock    a wallet thread holds cs_wallet while waiting for the node's
              notification queue, whose blockConnected needs cs_wallet: both
              processes hang for real (the recording stops at --duration, once
              the hang has lasted a moment, or at Ctrl-C, with the calls
              outstanding; then the processes are killed)
  busy        a second call queued on a wallet thread behind a 4-second one
  disconnect  the wallet process dies (SIGKILL) while serving a call
  slow        50-300 ms of latency in every method on both sides

  --scenario S     one of normal, deadlock, busy, disconnect, slow
  --duration SEC   stop after SEC seconds (default: run until Ctrl-C)
  --seed N         seed of the simulation (default 1)
  --db FILE        session database (default ipc-trace-YYYYMMDD-HHMMSS.sqlite here)
  --log FILE|-     -debug=ipc-style log to FILE, or - for standard output
                   (without the terminal UI the log goes to standard output)
  --force          replace an existing --db or --log file (never a symbolic link;
                   files ipc-trace creates are mode 0600)
  --max-chars N    cut params/results in the log after N characters, like libmultiprocess
  --stuck SEC      UI: age after which an outstanding call is shown as stuck, and a
                   deadlock named (default 5, as 'ipc-trace chains')
  --no-tui         no terminal UI: print the log (also when standard output is not a terminal)
  --redact         store the wallets' passphrases zeroed (see ipc-trace proxy --help)

${INTERCEPT_HELP}
Then look at the session with 'npx ipc-trace chains DB' or 'npx ipc-trace replay DB'.
Needs the compiled package (npm run build).
`;

const DEMO_OPTIONS = {
  scenario: { kind: 'string' },
  duration: { kind: 'number' },
  seed: { kind: 'number' },
  db: { kind: 'string' },
  log: { kind: 'string' },
  'max-chars': { kind: 'number' },
  'no-tui': { kind: 'flag' },
  force: { kind: 'flag' },
  redact: { kind: 'flag' },
  'redact-field': { kind: 'string', repeat: true },
  stuck: { kind: 'number' },
  ...INTERCEPT_OPTIONS,
  help: { kind: 'flag', short: 'h' },
} as const;

/** A tap that can be cut off: the deadlock scenario stops recording before the hung processes are killed. */
function gatedTap(inner: Tap): { tap: Tap; close: () => void } {
  let open = true;
  return {
    tap: {
      open: (c) => open && inner.open(c),
      data: (id, dir, bytes, time) => open && inner.data(id, dir, bytes, time),
      end: (id, dir, time) => open && inner.end(id, dir, time),
      close: (id, time, reason) => open && inner.close(id, time, reason),
      gap: (id, dir, bytes, time) => open && inner.gap?.(id, dir, bytes, time),
    },
    close: () => {
      open = false;
    },
  };
}

/** Until `chains` reports a deadlock in the live session whose calls are all 1.5 s old (at most 15 s, or until `stop`). */
async function untilDeadlockShows(dbPath: string, stop: Promise<unknown>): Promise<void> {
  let stopped = false;
  void stop.then(() => (stopped = true));
  const end = Date.now() + 15000;
  while (!stopped && Date.now() < end) {
    const reader = SessionReader.open(dbPath);
    try {
      if (analyzeChains(chainInput(reader, Date.now())).deadlocks.some((d) => d.steps.every((s) => s.ageMs >= 1500))) return;
    } finally {
      reader.close();
    }
    const t = timer(250);
    await t.done;
  }
}

function timer(ms: number): { done: Promise<void>; cancel: () => void } {
  let t: NodeJS.Timeout | undefined;
  const done = new Promise<void>((r) => (t = setTimeout(r, ms)));
  return { done, cancel: () => clearTimeout(t) };
}

/** A moment when a call waited behind another on the same thread (busy scenario), as seconds from the session's start. */
function queuedMoment(dbPath: string): number | null {
  const r = SessionReader.open(dbPath);
  try {
    const sent = r.firstQueuedCall();
    const start = r.span().start;
    return sent !== null && start !== null ? (sent - start) / 1000 : null;
  } finally {
    r.close();
  }
}

export async function runDemo(argv: string[]): Promise<number> {
  const { options } = parseArgs(argv, DEMO_OPTIONS);
  if (options.help) {
    process.stdout.write(DEMO_HELP);
    return 0;
  }
  const scenario = (options.scenario as string | undefined) ?? 'normal';
  if (!(SCENARIOS as readonly string[]).includes(scenario)) throw new UsageError(`unknown scenario '${scenario}' (one of ${SCENARIOS.join(', ')})`);
  const duration = options.duration as number | undefined;
  if (duration !== undefined && duration <= 0) throw new UsageError('--duration needs a positive number of seconds');
  const seed = (options.seed as number | undefined) ?? 1;
  const rules = rulesFromOptions(options);
  const nodeMain = join(PACKAGE_ROOT, 'dist', 'node', 'main.js');
  const walletScript = join(PACKAGE_ROOT, 'bin', 'bitcoin-wallet');
  if (!existsSync(nodeMain) || !existsSync(join(PACKAGE_ROOT, 'dist', 'wallet', 'main.js'))) {
    throw new UserError(`the demo processes are not built (${nodeMain} is missing): run 'npm run build'`);
  }
  if (!existsSync(walletScript)) throw new UserError(`the demo wallet script ${walletScript} is missing`);

  // bitcoin-node is the node binary itself (so argv[0] reaches it: a #! script
  // would lose it), bitcoin-wallet the package's script next to it.
  const dir = mkdtempSync(join(tmpdir(), 'ipc-trace-demo-'));
  const cleanupDir = () => rmSync(dir, { recursive: true, force: true });
  symlinkSync(process.execPath, join(dir, 'bitcoin-node'));
  symlinkSync(walletScript, join(dir, 'bitcoin-wallet'));

  const tui = wantsTui(options);
  const feed = tui ? feedChannel() : null;
  let ui: LiveUi | null = null;
  const note = (line: string) => (ui ? ui.note(line) : process.stderr.write(`ipc-trace: ${line}\n`));
  let recording: RecordingHandle;
  try {
    // The demo processes speak the bundled schemas: no --schema here.
    recording = await RecordingHandle.start({
      ...recordingOptions(options, ['ipc-trace', 'demo', ...argv].join(' ')),
      schemaFiles: [],
      importDirs: [],
      printLog: !tui,
      feedPort: feed?.recorder,
      // Each child is relayed by its own shim, with its own clock.
      timeOrder: true,
    });
  } catch (e) {
    cleanupDir();
    throw e;
  }
  const gate = gatedTap(recording.tap((c) => ({ client: c.listen, server: c.upstream })));
  let started: Awaited<ReturnType<typeof startIntercept>>;
  try {
    started = await startIntercept(recording, rules, [], [], options.intercept === true);
  } catch (e) {
    cleanupDir();
    throw e;
  }
  const { interceptor, control } = started;
  const session = new ExecSession({
    interceptor,
    command: join(dir, 'bitcoin-node'),
    args: [nodeMain, `-scenario=${scenario}`, `-seed=${seed}`],
    tap: gate.tap,
    log: note,
    stdio: tui ? 'ignore' : 'inherit',
  });
  try {
    await session.start();
  } catch (e) {
    control?.close();
    await recording.finish();
    cleanupDir();
    throw e;
  }
  const banner =
    `demo '${scenario}': bitcoin-node pid ${session.pid}, recording to ${recording.dbPath}` +
    `${duration !== undefined ? ` for ${duration} s` : ''} (${tui ? 'q' : 'Ctrl-C'} stops)`;
  if (tui) {
    try {
      ui = openLiveUi(recording, ((options.stuck as number | undefined) ?? 5) * 1000, feed!, interceptor);
    } catch (e) {
      await session.stop();
      control?.close();
      await recording.finish();
      cleanupDir();
      throw e;
    }
  }
  note(banner);

  const stopTimer = duration !== undefined ? timer(duration * 1000) : null;
  // With the UI, Ctrl-C is a key (and SIGINT/SIGTERM end the UI): both end it like --duration.
  const signal = ui ? ui.done.then(() => 'quit') : untilSignal();
  const outcome = await Promise.race([
    session.wait().then((code) => ({ kind: 'exit' as const, code })),
    ...(stopTimer ? [stopTimer.done.then(() => ({ kind: 'duration' as const, code: 0 }))] : []),
    signal.then((sig) => (ui ? { kind: 'duration' as const, code: 0 } : { kind: 'signal' as const, code: 0, sig })),
  ]);
  stopTimer?.cancel();
  // Held messages go on when the session stops (the processes can shut down).
  const wasHeld = interceptor?.disarm() ?? 0;
  if (wasHeld > 0) note(`stopping: rules off, ${wasHeld} held message(s) released`);
  // The terminal back first (and the UI's reader closed, so that closing the
  // database removes its WAL files); what follows is printed as without the UI.
  ui?.close();
  ui = null;

  let code = 0;
  if (outcome.kind === 'exit') {
    if (outcome.code !== 0) {
      process.stderr.write(`ipc-trace: bitcoin-node exited with code ${outcome.code}\n`);
      code = 1;
    }
  } else if (scenario === 'deadlock') {
    // The hang begins with the first block after the wallet's scheduler takes
    // cs_wallet, late in a short run on a busy machine: record until it shows.
    if (outcome.kind === 'duration') await untilDeadlockShows(recording.dbPath, signal);
    // The processes are hung: end the recording as they are, then kill them.
    gate.close();
    note('deadlock: recording stopped with both processes hung; killing them');
    try {
      if (session.pid !== undefined) process.kill(session.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    // The wallet sees its connection close and exits; let the shim finish too.
    await session.wait();
  } else {
    // The node shuts down cleanly on SIGTERM (Ctrl-C already reached it).
    if (outcome.kind === 'duration' && session.pid !== undefined) {
      try {
        process.kill(session.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    const t = timer(15000);
    const exited = await Promise.race([session.wait().then(() => true), t.done.then(() => false)]);
    t.cancel();
    if (!exited) note('bitcoin-node did not stop within 15 s; killing it');
  }
  await session.stop();
  control?.close();
  await recording.finish();
  cleanupDir();

  let hint = `npx ipc-trace chains ${recording.dbPath}`;
  if (scenario === 'busy') {
    const at = queuedMoment(recording.dbPath);
    if (at !== null) hint = `npx ipc-trace chains ${recording.dbPath} --at +${(at + 0.05).toFixed(3)} --threads   (a call queued behind another)`;
  } else if (scenario === 'deadlock') {
    hint += '   (the deadlock: who waits on whom)';
  }
  process.stderr.write(`ipc-trace: session recorded in ${recording.dbPath}; inspect it with: ${hint}\n`);
  return code;
}
