#!/usr/bin/env node
// The demo "bitcoin-wallet" process (see wallet.ts for what it does).
//
//   bitcoin-wallet -ipcfd N                 spawned by bitcoin-node: serves Init on fd N
//                                           (Init.makeWalletLoader hands it the node's Chain)
//   bitcoin-wallet -ipcconnect=unix:PATH    connects to a node started with -ipcbind=unix:PATH,
//                                           gets a Chain from Init.makeChain and runs on its own
//                                           [-scenario=S] [-seed=N] (otherwise from the node's globalArgs)
//
// Exits when its connection closes. Prints nothing on stdout; errors go to
// stderr as one line.

import net from 'node:net';
import { bundledSchemaSet } from '../decoder/sources.js';
import { Cap, Connection, Threads, serve } from '../rpc/index.js';
import { ArgError, numberArg, parseBitcoinArgs, scenarioArg, unixPath } from '../demo/args.js';
import { errorLine, errorText, isDisconnect, stubMissing } from '../demo/util.js';
import { WalletProcess } from './wallet.js';

const EXE = 'bitcoin-wallet';
const KNOWN = ['ipcfd', 'ipcconnect', 'scenario', 'seed', 'regtest', 'debug', 'datadir', 'help'];

const USAGE = `usage: bitcoin-wallet -ipcfd N | -ipcconnect=unix:PATH [-scenario=S] [-seed=N]

The ipc-trace demo wallet process. bitcoin-node spawns it with -ipcfd; with
-ipcconnect it connects to a node started with -ipcbind.
`;

function main(argv: string[]): void {
  try {
    process.title = EXE;
  } catch {
    // not supported here
  }
  const args = parseBitcoinArgs(argv, KNOWN, ['ipcfd']);
  if (args.has('help')) {
    process.stdout.write(USAGE);
    return;
  }
  const fallback = { scenario: scenarioArg(args.get('scenario')), seed: numberArg(args, 'seed', 1) };
  const schemas = bundledSchemaSet();
  const threads = new Threads({ schemas, exe: EXE });
  const proc = new WalletProcess(schemas, threads);
  proc.configure(fallback);

  const exitWith = (conn: Connection) => {
    conn.onDisconnect(() => {
      proc.shutdown();
      process.exit(0);
    });
  };

  const fd = args.get('ipcfd');
  if (fd !== undefined) {
    if (!/^\d+$/.test(fd)) throw new ArgError(`-ipcfd needs a file descriptor number, got '${fd}'`);
    let sock: net.Socket;
    try {
      sock = new net.Socket({ fd: Number(fd), readable: true, writable: true });
    } catch (e) {
      throw new Error(`cannot use fd ${fd}: ${errorText(e)}`);
    }
    const init = serve(
      schemas,
      'Init',
      threads.initImpl(
        stubMissing(
          schemas,
          'Init',
          {
            makeWalletLoader: ({ globalArgs, chain }: { globalArgs: unknown; chain: Cap | null }) => {
              if (!chain) throw new Error('makeWalletLoader: no Chain');
              proc.configure(WalletProcess.configFromGlobalArgs(globalArgs, fallback));
              proc.setChain(chain.dup());
              return { result: proc.loaderCap };
            },
          },
          'wallet',
        ),
      ),
    );
    const conn = new Connection(sock, { schemas, bootstrap: init, name: 'bitcoin-node' });
    init.release();
    threads.attach(conn);
    exitWith(conn);
    // The parent manages our life: Ctrl-C reaches the whole process group, but
    // the wallet exits when the node closes the connection.
    process.on('SIGINT', () => undefined);
    process.on('SIGTERM', () => process.exit(0));
    return;
  }

  const connect = args.get('ipcconnect');
  if (connect === undefined) throw new ArgError('needs -ipcfd N or -ipcconnect=unix:PATH');
  const path = unixPath(connect, 'ipcconnect');
  const sock = net.createConnection(path);
  sock.once('error', (e) => {
    errorLine(EXE, `cannot connect to ${path}: ${e.message}`);
    process.exit(1);
  });
  sock.once('connect', () => {
    const conn = new Connection(sock, { schemas, name: 'bitcoin-node' });
    threads.attach(conn);
    exitWith(conn);
    const stop = () => {
      void threads.main
        .run(() => proc.loaderCap.call('stop'))
        .catch(() => undefined)
        .finally(() => conn.close());
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    void (async () => {
      const init = await threads.connect(conn);
      await threads.main.run(async () => {
        const chain = (await init.call('makeChain')).result as Cap;
        proc.setChain(chain);
        const loader = proc.loaderCap;
        await loader.call('registerRpcs');
        await loader.call('verify');
        await loader.call('load');
        await loader.call('start', { scheduler: null });
      }, 'init');
      init.release();
    })().catch((e: unknown) => {
      if (!isDisconnect(e)) errorLine(EXE, `error: ${errorText(e)}`);
      process.exit(1);
    });
  });
}

try {
  main(process.argv.slice(2));
} catch (e) {
  if (e instanceof ArgError) {
    errorLine(EXE, `${e.message} (see -help)`);
    process.exit(2);
  }
  errorLine(EXE, `error: ${errorText(e)}`);
  process.exit(1);
}
