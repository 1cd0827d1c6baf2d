#!/usr/bin/env node
// The demo "bitcoin-node": a simulated regtest node that runs its wallet in a
// separate process and talks to it over Cap'n Proto IPC, like Bitcoin Core's
// multiprocess build (PR #10102). See node.ts for its threads and calls.
//
//   node dist/node/main.js [-scenario=normal|deadlock|busy|disconnect|slow]
//        [-seed=N] [-blockinterval=SECONDS] [-duration=SECONDS] [-ipcbind=unix:PATH]
//
// The wallet is spawned as Bitcoin Core does it: dirname(argv[0]) +
// '/bitcoin-wallet' with arguments `-ipcfd 3`, fd 3 being one end of a
// socketpair (the package's bin/ when argv[0] has no directory or no
// bitcoin-wallet next to it). With -ipcbind the node listens instead, for a
// wallet started with `bitcoin-wallet -ipcconnect=unix:PATH`.
//
// Prints nothing on stdout; errors go to stderr as one line. SIGINT/SIGTERM
// (or -duration) shut down cleanly: the wallet is flushed and stopped, the
// connection closed, and the wallet process exits with it.

import net from 'node:net';
import { spawn, ChildProcess } from 'node:child_process';
import { existsSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { bundledSchemaSet, PACKAGE_ROOT } from '../decoder/sources.js';
import { Connection, Threads, serve } from '../rpc/index.js';
import { ArgError, numberArg, parseBitcoinArgs, scenarioArg, unixPath } from '../demo/args.js';
import { errorLine, errorText, isDisconnect, stubMissing } from '../demo/util.js';
import { EXE, NodeProcess } from './node.js';

const KNOWN = ['scenario', 'seed', 'blockinterval', 'duration', 'ipcbind', 'regtest', 'debug', 'datadir', 'server', 'help'];

const USAGE = `usage: bitcoin-node [-scenario=normal|deadlock|busy|disconnect|slow] [-seed=N] [-blockinterval=SECONDS]
                    [-duration=SECONDS] [-ipcbind=unix:PATH]

The ipc-trace demo node: a simulated regtest chain with its wallet in a separate
process (bitcoin-wallet -ipcfd 3), talking Cap'n Proto IPC like Bitcoin Core's
multiprocess build. Run it under 'ipc-trace exec' (or use 'ipc-trace demo').
`;

/** Where the wallet executable is: next to argv[0], as Bitcoin Core looks for it, else the package's bin/. */
export function walletExecutable(argv0 = process.argv0): string {
  if (argv0.includes('/')) {
    const p = join(dirname(argv0), 'bitcoin-wallet');
    if (existsSync(p)) return p;
  }
  return join(PACKAGE_ROOT, 'bin', 'bitcoin-wallet');
}

async function main(argv: string[]): Promise<void> {
  const args = parseBitcoinArgs(argv, KNOWN);
  if (args.has('help')) {
    process.stdout.write(USAGE);
    return;
  }
  const scenario = scenarioArg(args.get('scenario'));
  const config = {
    scenario,
    seed: numberArg(args, 'seed', 1),
    blockInterval: numberArg(args, 'blockinterval', 2),
    options: new Map([...args].filter(([k]) => k !== 'ipcbind')),
  };
  const duration = args.has('duration') ? numberArg(args, 'duration', 0) : null;
  const schemas = bundledSchemaSet();
  const threads = new Threads({ schemas, exe: EXE, loopThreadName: 'b-capnp-loop' });
  const node = new NodeProcess(schemas, threads, config);

  let stopping: Promise<void> | null = null;
  let finish: (code: number) => Promise<void> = async (code) => process.exit(code);
  const stop = (code: number, withShutdown: boolean): Promise<void> => {
    stopping ??= (async () => {
      if (withShutdown) {
        const done = node.shutdown().then(
          () => true,
          (e: unknown) => {
            if (!isDisconnect(e)) errorLine(EXE, `shutdown: ${errorText(e)}`);
            return true;
          },
        );
        // A deadlocked node hangs in shutdown like Bitcoin Core would, until killed.
        const ok = scenario === 'deadlock' ? await done : await Promise.race([done, new Promise<boolean>((r) => setTimeout(() => r(false), 10000).unref())]);
        if (!ok) errorLine(EXE, 'shutdown: the wallet did not answer within 10 s; closing the connection');
      }
      await finish(code);
    })();
    return stopping;
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => void stop(0, true));
  if (duration !== null) setTimeout(() => void stop(0, true), duration * 1000).unref();

  const bind = args.get('ipcbind');
  if (bind !== undefined) {
    const path = unixPath(bind, 'ipcbind');
    const conns = new Set<Connection>();
    const init = serve(schemas, 'Init', threads.initImpl(stubMissing(schemas, 'Init', { makeChain: () => ({ result: node.chainCap }) }, 'node')));
    if (existsSync(path)) unlinkSync(path);
    const server = net.createServer((sock) => {
      const conn = new Connection(sock, { schemas, bootstrap: init, name: 'wallet' });
      threads.attach(conn);
      conns.add(conn);
      conn.onDisconnect(() => {
        conns.delete(conn);
        node.forgetClients();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
    finish = async (code) => {
      server.close();
      for (const c of conns) c.close();
      try {
        unlinkSync(path);
      } catch {
        // already gone
      }
      process.exit(code);
    };
    node.startTraffic();
    return;
  }

  // Spawn the wallet like Bitcoin Core: dirname(argv0)/bitcoin-wallet -ipcfd 3 over a socketpair.
  const exe = walletExecutable();
  let child: ChildProcess;
  try {
    child = spawn(exe, ['-ipcfd', '3'], {
      stdio: ['ignore', 'inherit', 'inherit', 'pipe'],
      env: { ...process.env, BITCOIN_WALLET_NODE: process.env.BITCOIN_WALLET_NODE ?? process.execPath },
    });
  } catch (e) {
    throw new Error(`cannot run ${exe}: ${errorText(e)}`);
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', (e) => reject(new Error(`cannot run ${exe}: ${errorText(e)}`)));
  });
  const sock = child.stdio[3] as net.Socket;
  const conn = new Connection(sock, { schemas, name: 'bitcoin-wallet' });
  threads.attach(conn);
  finish = async (code) => {
    conn.close();
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
    process.exit(code);
  };
  conn.onDisconnect((e) => {
    if (stopping) return;
    node.dropWallet();
    errorLine(EXE, `lost the connection to bitcoin-wallet (${e.message}); shutting down`);
    void stop(scenario === 'disconnect' ? 0 : 1, false);
  });
  child.once('exit', (code, signal) => {
    if (stopping || conn.closed) return;
    errorLine(EXE, `bitcoin-wallet exited (${signal ?? `code ${code}`})`);
  });
  const init = await threads.connect(conn);
  await node.startWithWallet(init);
  init.release();
  node.startTraffic();
}

main(process.argv.slice(2)).catch((e: unknown) => {
  if (e instanceof ArgError) {
    errorLine(EXE, `${e.message} (see -help)`);
    process.exit(2);
  }
  if (isDisconnect(e)) {
    errorLine(EXE, `lost the connection to bitcoin-wallet during startup (${errorText(e)})`);
    process.exit(1);
  }
  errorLine(EXE, `error: ${errorText(e)}`);
  process.exit(1);
});
