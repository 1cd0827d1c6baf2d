// libmultiprocess threading over the RPC runtime: Init.construct, makeThread
// pipelined with the first call of each lane, Context routing to worker
// lanes, callbacks nested on the waiting lanes in both directions, queueing
// on a busy lane, and the lock-cycle deadlock the demo needs.

import { describe, it, expect, afterEach } from 'vitest';
import { serve } from '../../src/rpc/server.js';
import { Cap } from '../../src/rpc/cap.js';
import { currentLane, Lane } from '../../src/rpc/lane.js';
import { AsyncMutex } from '../../src/rpc/mutex.js';
import { MessageDecoder, StreamDecoder } from '../../src/decoder/messages.js';
import { rpcSchemaSet } from '../../src/decoder/sources.js';
import { describeRpc } from '../../src/decoder/describe.js';
import { nodeAndWallet, decodeChunks, summarize, settle, bitcoinSchemas, Peers, Chunk } from './helpers.js';

const s = bitcoinSchemas();
let peers: Peers[] = [];

afterEach(async () => {
  await settle();
  for (const p of peers) {
    for (const m of decodeChunks(p.chunks)) {
      expect(m.error, `message ${m.n}: ${m.error}`).toBeUndefined();
      if (m.rpc?.type === 'call') expect(m.name, `message ${m.n}`).toMatch(/^\w+\.\w+\$Params$/);
      if (m.rpc?.type === 'return' && m.rpc.which === 'results' && !m.bootstrap) expect(m.name, `message ${m.n}`).toMatch(/\$Results$/);
    }
    p.node.conn.close();
  }
  peers = [];
});

function track(p: Peers): Peers {
  peers.push(p);
  return p;
}

const laneName = (): string => currentLane()?.name ?? '(event loop)';

/** Messages per written chunk: which messages went out in the same write. */
function messagesByChunk(chunks: Chunk[]): string[][] {
  const d = new StreamDecoder(new MessageDecoder(s, rpcSchemaSet()));
  return chunks.map((c) => d.push(c.dir, c.bytes).map((m) => `${m.dir} ${m.rpc ? describeRpc(m.rpc) : m.error}${m.name ? ' ' + m.name : ''}`));
}

function echoInit(log: string[] = []) {
  return (t: import('../../src/rpc/threads.js').Threads) =>
    serve(
      s,
      'Init',
      t.initImpl({
        makeEcho: () => {
          log.push(`makeEcho on ${laneName()}`);
          return {
            result: serve(s, 'Echo', {
              echo: async ({ echo }: { echo: string }) => {
                log.push(`echo ${echo} on ${laneName()}`);
                if (echo.startsWith('slow')) await new Promise((r) => setTimeout(r, 30));
                log.push(`echo ${echo} done`);
                return { result: echo };
              },
            }),
          };
        },
        makeMiningOld2: () => {
          log.push(`makeMiningOld2 on ${laneName()}`);
        },
      }),
    );
}

describe('threads', () => {
  it('does the libmultiprocess handshake and pipelines makeThread with the first call of a thread', async () => {
    const log: string[] = [];
    const p = track(nodeAndWallet(echoInit(log)));
    const init = await p.node.threads.connect(p.node.conn);
    const echo = (await init.call('makeEcho')).result as Cap;
    expect((await echo.call('echo', { echo: 'hallo' })).result).toBe('hallo');
    await echo.call('destroy');
    echo.release();
    await settle();
    // The same sequence as a real bitcoin-node ↔ libmultiprocess capture (echo-01), plus capnp 1.x's noFinishNeeded.
    expect(summarize(decodeChunks(p.chunks))).toEqual([
      '> bootstrap q0',
      '> call q1 answer(q0) 0x8838c700ba5cba65@0 caps=[senderHosted 0] Init.construct$Params',
      '< return a0 caps=[senderHosted 0]',
      '< return a1 keepParamCaps caps=[senderHosted 1] Init.construct$Results',
      '> finish q0 keepResultCaps',
      '> finish q1 keepResultCaps',
      '> call q0 cap#1 0xee5e37179ad9dc9d@0 ThreadMap.makeThread$Params',
      '> call q1 cap#0 0x8838c700ba5cba65@1 caps=[receiverAnswer q0.0, senderHosted 1] Init.makeEcho$Params',
      '< return a0 keepParamCaps caps=[senderHosted 2] ThreadMap.makeThread$Results',
      '< return a1 keepParamCaps caps=[senderHosted 3] Init.makeEcho$Results',
      '< release cap#1 x1',
      '> finish q0 keepResultCaps',
      '> finish q1 keepResultCaps',
      '> call q0 cap#3 0xd36b89640dc94399@1 caps=[receiverHosted 2, senderHosted 1] Echo.echo$Params',
      '< return a0 keepParamCaps noFinishNeeded Echo.echo$Results',
      '< release cap#1 x1',
      '> call q0 cap#3 0xd36b89640dc94399@0 caps=[receiverHosted 2, senderHosted 1] Echo.destroy$Params',
      '< return a0 keepParamCaps noFinishNeeded Echo.destroy$Results',
      '< release cap#1 x1',
      '> release cap#3 x1',
    ]);
    // makeThread and the call that uses its answer went out in one write.
    const burst = messagesByChunk(p.chunks).find((c) => c.some((m) => m.includes('makeThread$Params')))!;
    expect(burst.filter((m) => m.startsWith('> call')).map((m) => m.split(' ').slice(0, 4).join(' '))).toEqual(['> call q0 cap#1', '> call q1 cap#0']);
    // The thread name travels in makeThread; the worker is named after it.
    const mt = decodeChunks(p.chunks).find((m) => m.name === 'ThreadMap.makeThread$Params')!;
    expect(mt.content?.get('name')).toBe('bitcoin-node-100/bitcoin-node-100');
    expect(log).toEqual([
      'makeEcho on bitcoin-wallet-200/bitcoin-wallet-201 (from bitcoin-node-100/bitcoin-node-100)',
      'echo hallo on bitcoin-wallet-200/bitcoin-wallet-201 (from bitcoin-node-100/bitcoin-node-100)',
      'echo hallo done',
    ]);
  });

  it('runs methods without Context on the event loop, and names threads like Bitcoin Core', async () => {
    const log: string[] = [];
    const p = track(nodeAndWallet(echoInit(log)));
    const init = await p.node.threads.connect(p.node.conn);
    await init.call('makeMiningOld2');
    expect(log).toEqual(['makeMiningOld2 on (event loop)']);
    const tm = p.node.threads.peerThreadMap(p.node.conn)!;
    const t = (await tm.call('makeThread', { name: 'bitcoin-mine-test-1/worker-2' })).result as Cap;
    expect((await t.call('getName')).result).toBe('bitcoin-wallet-200/bitcoin-wallet-201 (from bitcoin-mine-test-1/worker-2)');
    t.release();
    const lane = p.node.threads.lane('b-httpworker.0');
    expect(lane.name).toBe('bitcoin-node-100/b-httpworker.0-101');
    // Linux truncates pthread names to 15 characters.
    expect(p.node.threads.lane('a-very-long-thread-name').name).toBe('bitcoin-node-100/a-very-long-thr-102');
  });

  it('gives each client thread its own worker; later calls reuse it (receiverHosted)', async () => {
    const log: string[] = [];
    const p = track(nodeAndWallet(echoInit(log)));
    const init = await p.node.threads.connect(p.node.conn);
    const echo = (await init.call('makeEcho')).result as Cap;
    const a = p.node.threads.lane('a');
    const b = p.node.threads.lane('b');
    await a.run(() => echo.call('echo', { echo: 'a1' }));
    await b.run(() => echo.call('echo', { echo: 'b1' }));
    await a.run(() => echo.call('echo', { echo: 'a2' }));
    expect(log.filter((l) => l.startsWith('echo') && !l.endsWith('done'))).toEqual([
      'echo a1 on bitcoin-wallet-200/bitcoin-wallet-202 (from bitcoin-node-100/a-101)',
      'echo b1 on bitcoin-wallet-200/bitcoin-wallet-203 (from bitcoin-node-100/b-102)',
      'echo a2 on bitcoin-wallet-200/bitcoin-wallet-202 (from bitcoin-node-100/a-101)',
    ]);
    await settle();
    const calls = summarize(decodeChunks(p.chunks)).filter((l) => l.startsWith('> call'));
    expect(calls.filter((l) => l.includes('makeThread'))).toHaveLength(3); // main, a, b
    const echoes = calls.filter((l) => l.includes('Echo.echo'));
    expect(echoes[0]).toMatch(/caps=\[receiverAnswer q\d\.0, senderHosted \d\]/);
    expect(echoes[2]).toMatch(/caps=\[receiverHosted \d, senderHosted \d\]/);
    echo.release();
  });

  it('queues a second call for a busy thread until the first is done', async () => {
    const log: string[] = [];
    const p = track(nodeAndWallet(echoInit(log)));
    const init = await p.node.threads.connect(p.node.conn);
    const echo = (await init.call('makeEcho')).result as Cap;
    const lane = p.node.threads.lane('rust-like');
    // Two calls at once from one client thread, like the Rust clients of bitcoin/bitcoin#33923.
    await lane.run(() => Promise.all([echo.call('echo', { echo: 'slow' }), echo.call('echo', { echo: 'fast' })]));
    expect(log.slice(-4).map((l) => l.replace(/ on .*/, ''))).toEqual(['echo slow', 'echo slow done', 'echo fast', 'echo fast done']);
    echo.release();
  });

  /** Node serves Chain; the wallet serves Init → WalletLoader and calls the node's Chain back. */
  function nodeWalletChain(log: string[], mutex?: AsyncMutex, scheduler?: () => Lane) {
    let walletChain: Cap | null = null;
    const p = track(
      nodeAndWallet((t) =>
        serve(
          s,
          'Init',
          t.initImpl({
            makeWalletLoader: ({ chain }: { chain: Cap }) => {
              walletChain = chain.dup();
              return {
                result: serve(s, 'WalletLoader', {
                  verify: async () => {
                    log.push(`wallet verify on ${laneName()}`);
                    await walletChain!.call('initMessage', { message: 'verifying' });
                    return { result: true };
                  },
                  getWalletDir: async () => {
                    log.push(`wallet getWalletDir on ${laneName()}`);
                    const h = await walletChain!.call('getHeight');
                    return { result: `/wallets@${String(h.result)}` };
                  },
                }),
              };
            },
          }),
        ),
      ),
    );
    let loader: Cap | null = null;
    let notifications: Cap | null = null;
    const chain = serve(s, 'Chain', {
      initMessage: async ({ message }: { message: string }) => {
        log.push(`node initMessage ${message} on ${laneName()}`);
        const d = await loader!.call('getWalletDir');
        log.push(`node got ${String(d.result)}`);
      },
      getHeight: () => {
        log.push(`node getHeight on ${laneName()}`);
        return { result: 42, hasResult: true };
      },
      handleNotifications: async ({ notifications: n }: { notifications: Cap }) => {
        log.push(`node handleNotifications on ${laneName()}`);
        notifications = n.dup();
        await n.call('updatedBlockTip');
        return { result: serve(s, 'Handler', {}) };
      },
      waitForNotificationsIfTipChanged: async () => {
        log.push(`node waitForNotifications on ${laneName()}`);
        if (scheduler) {
          // Notifications are sent from the node's scheduler thread, not the one serving this call.
          await scheduler().run(() => notifications!.call('updatedBlockTip'), 'scheduler');
        } else {
          await notifications!.call('updatedBlockTip');
        }
      },
    });
    const notificationsServer = serve(s, 'ChainNotifications', {
      updatedBlockTip: async () => {
        log.push(`wallet updatedBlockTip on ${laneName()}`);
        if (mutex) {
          await mutex.withLock(() => log.push(`wallet updatedBlockTip got ${mutex.name}`));
        } else {
          const h = await walletChain!.call('getHeight');
          log.push(`wallet saw height ${String(h.result)}`);
        }
      },
    });
    return {
      p,
      chain,
      notificationsServer,
      async start(): Promise<{ init: Cap; loader: Cap; walletChain: () => Cap }> {
        const init = await p.node.threads.connect(p.node.conn);
        loader = (await init.call('makeWalletLoader', { chain, globalArgs: { configPath: '/tmp/x' } })).result as Cap;
        return { init, loader, walletChain: () => walletChain! };
      },
    };
  }

  it('runs callbacks on the waiting threads, nested four deep, node → wallet → node → wallet → node', async () => {
    const log: string[] = [];
    const x = nodeWalletChain(log);
    const { loader } = await x.start();
    // verify from one of the node's HTTP worker threads.
    const http = x.p.node.threads.lane('b-httpworker.3');
    await http.run(async () => {
      const r = await loader.call('verify');
      expect(r.result).toBe(true);
    });
    const w = 'bitcoin-wallet-200/bitcoin-wallet-202 (from bitcoin-node-100/b-httpworker.3-101)';
    expect(log).toEqual([
      `wallet verify on ${w}`,
      'node initMessage verifying on bitcoin-node-100/b-httpworker.3-101',
      `wallet getWalletDir on ${w}`,
      'node getHeight on bitcoin-node-100/b-httpworker.3-101',
      'node got /wallets@42',
    ]);
    await settle();
    const l = summarize(decodeChunks(x.p.chunks));
    // Callbacks target the caller's callbackThread (receiverHosted) — no makeThread from the wallet.
    // makeThread twice from the node (its main thread, the HTTP worker), never from the wallet.
    expect(l.filter((m) => m.includes('makeThread$Params')).map((m) => m.slice(0, 7))).toEqual(['> call ', '> call ']);
    expect(l.find((m) => m.includes('Chain.initMessage$Params'))).toMatch(/^< call q\d cap#\d .* caps=\[receiverHosted \d, senderHosted \d\]/);
  });

  it('runs callbacks on the waiting threads when the wallet starts the chain (wallet → node → wallet → node)', async () => {
    const log: string[] = [];
    const x = nodeWalletChain(log);
    const { walletChain } = await x.start();
    const sched = x.p.wallet.threads.lane('scheduler');
    const handler = await sched.run(async () => (await walletChain().call('handleNotifications', { notifications: x.notificationsServer })).result as Cap);
    const nodeWorker = 'bitcoin-node-100/b-capnp-loop-101 (from bitcoin-wallet-200/scheduler-202)';
    expect(log).toEqual([
      `node handleNotifications on ${nodeWorker}`,
      'wallet updatedBlockTip on bitcoin-wallet-200/scheduler-202',
      `node getHeight on ${nodeWorker}`,
      'wallet saw height 42',
    ]);
    // The wallet's first call from its scheduler thread pipelined makeThread on the node's ThreadMap.
    await settle();
    const l = summarize(decodeChunks(x.p.chunks));
    expect(l.filter((m) => m.startsWith('< call') && m.includes('makeThread'))).toHaveLength(1);
    handler.release();
  });

  it('deadlocks when the callback comes on another thread that needs the lock (and not when it comes on the waiting thread)', async () => {
    const log: string[] = [];
    const csWallet = new AsyncMutex('cs_wallet', { recursive: true });
    let scheduler: Lane | null = null;
    const x = nodeWalletChain(log, csWallet, () => (scheduler ??= x.p.node.threads.lane('scheduler')));
    const { walletChain } = await x.start();
    const wa = x.p.wallet.threads.lane('wallet-rpc');
    await wa.run(() => walletChain().call('handleNotifications', { notifications: x.notificationsServer }));
    log.length = 0;
    let finished = false;
    const stuck = wa.run(() => csWallet.withLock(() => walletChain().call('waitForNotificationsIfTipChanged', { oldTip: new Uint8Array(32) }))).then(() => {
      finished = true;
    });
    stuck.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 100));
    expect(finished).toBe(false);
    expect(log).toEqual([
      'node waitForNotifications on bitcoin-node-100/b-capnp-loop-101 (from bitcoin-wallet-200/wallet-rpc-202)',
      'wallet updatedBlockTip on bitcoin-wallet-200/bitcoin-wallet-203 (from bitcoin-node-100/scheduler-102)',
    ]);
    expect(csWallet.holder).toBe('bitcoin-wallet-200/wallet-rpc-202');
    expect(csWallet.waiters).toEqual(['bitcoin-wallet-200/bitcoin-wallet-203 (from bitcoin-node-100/scheduler-102)']);
    expect(wa.state().stack.map((f) => f.state)).toEqual(['blocked in IPC']);
    const wb = x.p.wallet.threads.lanes.find((l) => l.name.includes('(from bitcoin-node-100/scheduler-102)'))!;
    expect(wb.state().stack.map((f) => f.state)).toEqual(['waiting for cs_wallet']);
    expect(scheduler!.state().stack.map((f) => f.state)).toEqual(['blocked in IPC']);
    // Disconnecting breaks the cycle: the wallet's outstanding call fails.
    x.p.wallet.conn.close();
    await stuck.catch((e: unknown) => log.push(`wallet call failed: ${(e as Error).message}`));
    expect(log.slice(-1)).toEqual(['wallet call failed: Connection closed.']);
  });

  it('lets the callback in when it comes on the waiting thread (recursive lock)', async () => {
    const log: string[] = [];
    const csWallet = new AsyncMutex('cs_wallet', { recursive: true });
    const x = nodeWalletChain(log, csWallet);
    const { walletChain } = await x.start();
    const wa = x.p.wallet.threads.lane('wallet-rpc');
    await wa.run(() => walletChain().call('handleNotifications', { notifications: x.notificationsServer }));
    await wa.run(() => csWallet.withLock(() => walletChain().call('waitForNotificationsIfTipChanged', { oldTip: new Uint8Array(32) })));
    expect(log.slice(-2)).toEqual(['wallet updatedBlockTip on bitcoin-wallet-200/wallet-rpc-202', 'wallet updatedBlockTip got cs_wallet']);
  });

  it('rejects a thread’s outstanding call on disconnect and frees the thread', async () => {
    const p = track(
      nodeAndWallet((t) =>
        serve(s, 'Init', t.initImpl({ makeEcho: () => ({ result: serve(s, 'Echo', { echo: () => new Promise(() => undefined) }) }) })),
      ),
    );
    const init = await p.node.threads.connect(p.node.conn);
    const echo = (await init.call('makeEcho')).result as Cap;
    const lane = p.node.threads.lane('caller');
    const r = lane.run(() => echo.call('echo', { echo: 'never' }));
    await settle();
    expect(lane.state().stack.map((f) => f.state)).toEqual(['blocked in IPC']);
    p.wallet.conn.close();
    await expect(r).rejects.toMatchObject({ type: 'disconnected' });
    expect(lane.idle).toBe(true);
  });
});

