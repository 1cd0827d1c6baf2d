// The demo bitcoin-node's logic: a simulated regtest chain served to the
// wallet as Chain, and the node's threads (lanes) using the wallet the way
// Bitcoin Core's do on the node/wallet split (PR #10102):
//
//   main            Init.makeWalletLoader, then ChainClient registerRpcs /
//                   verify / load / start; at shutdown flush / stop / destroy
//   b-scheduler     the validation interface queue: ChainNotifications
//                   blockConnected, updatedBlockTip, transactionAddedToMempool,
//                   chainStateFlushed, one at a time (SerialQueue)
//   b-httpworker.N  RPC requests as bitcoin-cli would send them: WalletLoader
//                   (createWallet, loadWallet, getWallets), Wallet (getBalances,
//                   getNewDestination, createTransaction + commitTransaction,
//                   listCoins, …) and the wallet's RPCs registered with
//                   Chain.handleRpc (ActorCallback.call)
//   b-walletpoll    stands in for a GUI's balance poll (WalletModel::
//                   pollBalanceChanged): Wallet.tryGetBalances every 500 ms,
//                   which never waits for cs_wallet (TRY_LOCK)
//
// Blocks are mined on a timer (-blockinterval) and on request (an RPC like
// generatetoaddress); transactions from "the network" arrive at random, some
// paying the wallets' addresses, so balances change.

import { SchemaSet } from '../decoder/schema.js';
import { Cap, serve, Threads, RpcError, Lane } from '../rpc/index.js';
import type { ServerImpl } from '../rpc/index.js';
import { COIN, bytesEqual, encodeAddress, encodeFeeRate, parseLocator, serializeLocator, toHex } from '../demo/bitcoin.js';
import { Rng } from '../demo/random.js';
import { Scenario } from '../demo/args.js';
import { SerialQueue, errorLine, errorText, isDisconnect, makeDelay, sleep, stubMissing, typed, withLatency } from '../demo/util.js';
import { Block, ChainState } from './chainstate.js';

/** The passphrase the demo's wallets are created with and unlocked by (redaction tests look for it). */
export const DEMO_WALLET_PASSPHRASE = 'demo-passphrase: correct horse battery staple';

export const EXE = 'bitcoin-node';

export interface NodeConfig {
  scenario: Scenario;
  seed: number;
  /** Seconds between mined blocks (0: only on request). */
  blockInterval: number;
  /** The command-line options, passed to the wallet as globalArgs. */
  options: Map<string, string>;
}

type Plain = Record<string, unknown>;

interface FoundBlockParam {
  wantHash?: boolean;
  wantHeight?: boolean;
  wantTime?: boolean;
  wantMaxTime?: boolean;
  wantMtpTime?: boolean;
  wantInActiveChain?: boolean;
  nextBlock?: FoundBlockParam | null;
  wantData?: boolean;
}

interface NodeWallet {
  name: string;
  cap: Cap;
}

const WALLET_NAMES = ['bob', 'carol', 'dave', 'erin'];

export class NodeProcess {
  readonly chain: ChainState;
  readonly validation: SerialQueue;
  readonly chainCap: Cap;
  /** Registered ChainNotifications (Chain.handleNotifications). */
  private readonly clients = new Map<number, Cap>();
  private nextClient = 0;
  /** Wallet RPCs registered with Chain.handleRpc. */
  private readonly rpcs = new Map<string, { id: number; actor: Cap }>();
  private nextRpc = 0;
  /** The node's read-write settings (settings.json), values as JSON text. */
  private readonly settings = new Map<string, string>([['wallet', '["alice"]']]);
  private loader: Cap | null = null;
  private readonly wallets = new Map<string, NodeWallet>();
  private readonly walletOps = new Set<string>();
  private readonly unloadedWallets = new Set<string>();
  /** Wallet names seen through the listwallets RPC (when the node has no WalletLoader). */
  private rpcWalletNames: string[] = [];
  private readonly rng: Rng;
  private readonly delay: () => Promise<void>;
  /** The slow scenario's latency applies once the node runs (not to the wallet's startup). */
  private latency = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly loops: Promise<void>[] = [];
  private requestId = 0;
  private nextBusy = 0;
  private busyCount = 0;
  stopping = false;

  constructor(
    readonly schemas: SchemaSet,
    readonly threads: Threads,
    readonly config: NodeConfig,
  ) {
    this.chain = new ChainState(config.seed);
    this.rng = new Rng(config.seed, 'node');
    this.delay = makeDelay(config.scenario === 'slow', () => this.rng.next());
    this.validation = new SerialQueue(threads.lane('b-scheduler'), (e, label) => this.reportError(e, label));
    this.chainCap = serve(schemas, 'Chain', withLatency(stubMissing(schemas, 'Chain', this.chainImpl(), 'node'), () => (this.latency ? this.delay() : Promise.resolve())));
  }

  private reportError(e: unknown, what: string): void {
    if (this.stopping || isDisconnect(e)) return;
    if (e instanceof RpcError && e.remote) return; // the wallet said no (insufficient funds, unloaded wallet…): an RPC error, not ours
    errorLine(EXE, `${what}: ${errorText(e)}`);
  }

  // ---- notifications on the b-scheduler thread ---------------------------------

  /** Queues a ChainNotifications call to every registered client. */
  private notify(method: string, params: Plain = {}): void {
    this.validation.push(method, async () => {
      for (const [id, c] of [...this.clients]) {
        if (!this.clients.has(id)) continue;
        try {
          await c.call(method, params);
        } catch (e) {
          if (isDisconnect(e)) this.dropClient(id);
          else if (!this.stopping) errorLine(EXE, `ChainNotifications.${method}: ${errorText(e)}`);
        }
      }
    });
  }

  private dropClient(id: number): void {
    const c = this.clients.get(id);
    if (!c) return;
    this.clients.delete(id);
    c.release();
  }

  private blockConnected(b: Block): void {
    this.notify('blockConnected', {
      role: 0,
      block: { hash: b.hash, prevHash: b.prev, height: b.height, fileNumber: 0, dataPos: 8 + b.height * 300, data: b.data, chainTimeMax: b.maxTime },
    });
    this.notify('updatedBlockTip');
    if (b.height % 5 === 0) this.notify('chainStateFlushed', { role: 0, locator: this.locator(b) });
  }

  /** Mines a block paying `payTo` (default: sometimes a wallet, else a stranger) and notifies. */
  mineBlock(payTo?: Uint8Array): Block {
    const key = payTo ?? (this.chain.knownKeys.length > 0 && this.rng.chance(0.3) ? this.rng.pick(this.chain.knownKeys) : this.rng.bytes(20));
    const b = this.chain.mine(key);
    this.blockConnected(b);
    return b;
  }

  private locator(b: Block): Uint8Array {
    const hashes: Uint8Array[] = [];
    let step = 1;
    for (let h = b.height; h >= 0; h -= step) {
      hashes.push(this.chain.at(h)!.hash);
      if (hashes.length >= 10) step *= 2;
    }
    if (!bytesEqual(hashes[hashes.length - 1], this.chain.at(0)!.hash)) hashes.push(this.chain.at(0)!.hash);
    return serializeLocator(hashes);
  }

  // ---- the Chain interface ---------------------------------------------------------

  private found(b: Block | undefined, want: FoundBlockParam | null | undefined): Plain {
    if (!b) return { found: false };
    const w = want ?? {};
    const out: Plain = { found: true };
    if (w.wantHash) out.hash = b.hash;
    if (w.wantHeight) out.height = b.height;
    if (w.wantTime) out.time = b.time;
    if (w.wantMaxTime) out.maxTime = b.maxTime;
    if (w.wantMtpTime) out.mtpTime = b.mtp;
    if (w.wantInActiveChain) out.inActiveChain = 1;
    if (w.wantData) out.data = b.data;
    if (w.nextBlock) {
      const next = this.chain.at(b.height + 1);
      if (next) out.nextBlock = this.found(next, w.nextBlock);
    }
    return out;
  }

  private handler(drop: () => void): Cap {
    const f = () => {
      drop();
      return {};
    };
    return serve(this.schemas, 'Handler', { destroy: f, disconnect: f });
  }

  private chainImpl(): ServerImpl {
    const c = this.chain;
    const feeData = (satPerKvB: number) => ({ result: encodeFeeRate(satPerKvB) });
    return {
      destroy: () => ({}),
      getHeight: () => ({ result: c.height, hasResult: true }),
      getBlockHash: ({ height }: { height: number }) => {
        const b = c.at(height);
        if (!b) throw new RpcError('failed', `getBlockHash: height ${height} out of range`);
        return { result: b.hash };
      },
      haveBlockOnDisk: ({ height }: { height: number }) => ({ result: height >= 0 && height <= c.height }),
      getTipLocator: () => ({ result: this.locator(c.tip) }),
      getActiveChainLocator: ({ blockHash }: { blockHash: Uint8Array }) => {
        const b = c.byHashOf(blockHash);
        return { result: b ? this.locator(b) : new Uint8Array(0) };
      },
      findLocatorFork: ({ locator }: { locator: Uint8Array }) => {
        for (const h of parseLocator(locator)) {
          const b = c.byHashOf(h);
          if (b) return { result: b.height, hasResult: true };
        }
        return { result: 0, hasResult: false };
      },
      hasBlockFilterIndex: () => ({ result: false }),
      findBlock: ({ hash, block }: { hash: Uint8Array; block: FoundBlockParam | null }) => {
        const b = c.byHashOf(hash);
        return { block: this.found(b, block), result: b !== undefined };
      },
      findFirstBlockWithTimeAndHeight: ({ minTime, minHeight, block }: { minTime: number; minHeight: number; block: FoundBlockParam | null }) => {
        const b = c.firstWithTimeAndHeight(Number(minTime), minHeight);
        return { block: this.found(b, block), result: b !== undefined };
      },
      findAncestorByHeight: ({ blockHash, ancestorHeight, ancestor }: { blockHash: Uint8Array; ancestorHeight: number; ancestor: FoundBlockParam | null }) => {
        const b = c.byHashOf(blockHash);
        const a = b && ancestorHeight >= 0 && ancestorHeight <= b.height ? c.at(ancestorHeight) : undefined;
        return { ancestor: this.found(a, ancestor), result: a !== undefined };
      },
      findAncestorByHash: ({ blockHash, ancestorHash, ancestor }: { blockHash: Uint8Array; ancestorHash: Uint8Array; ancestor: FoundBlockParam | null }) => {
        const b = c.byHashOf(blockHash);
        const a = c.byHashOf(ancestorHash);
        const ok = b !== undefined && a !== undefined && a.height <= b.height;
        return { ancestor: this.found(ok ? a : undefined, ancestor), result: ok };
      },
      findCommonAncestor: (p: { blockHash1: Uint8Array; blockHash2: Uint8Array; ancestor: FoundBlockParam | null; block1: FoundBlockParam | null; block2: FoundBlockParam | null }) => {
        const b1 = c.byHashOf(p.blockHash1);
        const b2 = c.byHashOf(p.blockHash2);
        const a = b1 && b2 ? c.at(Math.min(b1.height, b2.height)) : undefined;
        return { ancestor: this.found(a, p.ancestor), block1: this.found(b1, p.block1), block2: this.found(b2, p.block2), result: a !== undefined };
      },
      findCoins: ({ coins }: { coins: unknown[] }) => ({ coins }),
      guessVerificationProgress: () => ({ result: 1 }),
      hasBlocks: () => ({ result: true }),
      isRBFOptIn: () => ({ result: 1 }), // RBFTransactionState::REPLACEABLE_BIP125
      isInMempool: ({ txid }: { txid: Uint8Array }) => ({ result: c.inMempool(toHex(txid)) }),
      hasDescendantsInMempool: ({ txid }: { txid: Uint8Array }) => ({ result: c.hasDescendants(toHex(txid)) }),
      broadcastTransaction: ({ tx, maxTxFee }: { tx: Uint8Array; maxTxFee: number; relay: boolean }) => {
        const r = c.acceptToMempool(tx, Number(maxTxFee));
        if (r.error) return { error: r.error, result: false };
        this.notify('transactionAddedToMempool', { tx });
        return { error: '', result: true };
      },
      getTransactionAncestry: () => ({ ancestors: 1, descendants: 1, ancestorsize: 141, ancestorfees: 1410 }),
      getPackageLimits: () => ({ ancestors: 25, descendants: 25 }),
      checkChainLimits: () => ({ result: {} }),
      estimateSmartFee: ({ numBlocks, wantCalc }: { numBlocks: number; conservative: boolean; wantCalc: boolean }) => {
        const target = Math.max(2, Math.min(1008, numBlocks || 6));
        const rate = c.estimateFee(target);
        const bucket = (start: number) => ({ start, end: start * 1.05, withinTarget: 50 + this.rng.int(0, 40), totalConfirmed: 100, inMempool: c.mempool.size, leftMempool: 0 });
        return {
          calc: wantCalc ? { est: { pass: bucket(rate), fail: bucket(rate / 2), decay: 0.962, scale: 1 }, reason: 2, desiredTarget: numBlocks, returnedTarget: target } : undefined,
          result: encodeFeeRate(rate),
        };
      },
      estimateMaxBlocks: () => ({ result: 1008 }),
      mempoolMinFee: () => feeData(1000),
      relayMinFee: () => feeData(1000),
      relayIncrementalFee: () => feeData(1000),
      relayDustFee: () => feeData(3000),
      havePruned: () => ({ result: false }),
      isReadyToBroadcast: () => ({ result: true }),
      isInitialBlockDownload: () => ({ result: false }),
      shutdownRequested: () => ({ result: this.stopping }),
      initMessage: () => ({}),
      initWarning: () => ({}),
      initError: ({ message }: { message: { original?: string } }) => {
        errorLine(EXE, `wallet: ${message?.original ?? ''}`);
        return {};
      },
      showProgress: () => ({}),
      handleNotifications: ({ notifications }: { notifications: Cap }) => {
        const id = ++this.nextClient;
        this.clients.set(id, typed(notifications.dup(), 'ChainNotifications'));
        return { result: this.handler(() => this.dropClient(id)) };
      },
      waitForNotificationsIfTipChanged: async ({ oldTip }: { oldTip: Uint8Array }) => {
        if (oldTip && oldTip.length > 0 && bytesEqual(oldTip, c.tip.hash)) return {};
        // SyncWithValidationInterfaceQueue: wait (in this thread) for b-scheduler to send what is queued.
        await this.validation.sync();
        return {};
      },
      handleRpc: ({ command }: { command: { name: string; actor: Cap | null } }) => {
        if (!command?.actor) throw new RpcError('failed', 'handleRpc: no actor');
        const id = ++this.nextRpc;
        const name = command.name;
        this.rpcs.get(name)?.actor.release();
        this.rpcs.set(name, { id, actor: typed(command.actor.dup(), 'ActorCallback') });
        return {
          result: this.handler(() => {
            const r = this.rpcs.get(name);
            if (r?.id === id) {
              this.rpcs.delete(name);
              r.actor.release();
            }
          }),
        };
      },
      rpcEnableDeprecated: () => ({ result: false }),
      getSetting: () => ({ result: '' }),
      getSettingsList: () => ({ result: [] }),
      getRwSetting: ({ name }: { name: string }) => ({ result: this.settings.get(name) ?? '' }),
      updateRwSetting: async ({ name, update }: { name: string; update: Cap }) => {
        const r = await update.call('call', { value: this.settings.get(name) ?? '' });
        if (r.hasResult === true && typeof r.value === 'string') this.settings.set(name, r.value);
        return { result: true };
      },
      overwriteRwSetting: ({ name, value }: { name: string; value: string }) => {
        this.settings.set(name, value);
        return { result: true };
      },
      deleteRwSettings: ({ name }: { name: string }) => ({ result: this.settings.delete(name) }),
      requestMempoolTransactions: async ({ notifications }: { notifications: Cap }) => {
        // Each call back runs nested in this one, on the thread that asked.
        for (const e of [...c.mempool.values()]) await notifications.call('transactionAddedToMempool', { tx: e.tx.raw });
        return {};
      },
      hasAssumedValidChain: () => ({ result: false }),
    };
  }

  /** What the node passes to the wallet in Init.makeWalletLoader: its settings (gArgs). */
  globalArgs(): Plain {
    return {
      settings: {
        forcedSettings: [],
        commandLineOptions: [...this.config.options].map(([key, v]) => ({ key, value: [JSON.stringify(v)] })),
        rwSettings: [...this.settings].map(([key, value]) => ({ key, value })),
        roConfig: [],
      },
      configPath: '',
    };
  }

  // ---- startup (spawned wallet) ---------------------------------------------------------

  /** Bitcoin Core's init with a wallet process: makeWalletLoader, then the ChainClient steps. */
  async startWithWallet(init: Cap): Promise<void> {
    await this.threads.main.run(async () => {
      const r = await init.call('makeWalletLoader', { globalArgs: this.globalArgs(), chain: this.chainCap });
      const loader = r.result as Cap;
      this.loader = loader;
      await loader.call('registerRpcs');
      await loader.call('verify');
      await loader.call('load');
      await loader.call('start', { scheduler: null });
      const ws = (await loader.call('getWallets')).result as Cap[];
      for (const w of ws ?? []) {
        const cap = typed(w, 'Wallet');
        const name = String((await cap.call('getWalletName')).result);
        this.wallets.set(name, { name, cap });
      }
    }, 'init');
  }

  /** Starts mining, the mempool feed, the HTTP workers and the balance poll. */
  startTraffic(): void {
    this.latency = true;
    if (this.config.blockInterval > 0) {
      const t = setInterval(() => {
        if (!this.stopping) this.mineBlock();
      }, this.config.blockInterval * 1000);
      this.timers.push(t);
    }
    const feed = () => {
      if (this.stopping) return;
      const tx = this.chain.randomNetworkTx();
      if (!this.chain.acceptToMempool(tx.raw).error) this.notify('transactionAddedToMempool', { tx: tx.raw });
      this.timers.push(setTimeout(feed, this.rng.int(250, 900)));
    };
    this.timers.push(setTimeout(feed, this.rng.int(100, 500)));
    this.nextBusy = Date.now() + 1500;
    for (let i = 0; i < 4; i++) this.loops.push(this.httpWorker(i));
    this.loops.push(this.balancePoll());
  }

  // ---- the HTTP workers -------------------------------------------------------------------

  private async httpWorker(i: number): Promise<void> {
    const lane = this.threads.lane(`b-httpworker.${i}`);
    await sleep(this.rng.int(50, 300));
    let first = true;
    while (!this.stopping) {
      const op = first && i === 0 && this.loader ? 'createwallet' : this.pickRequest(i);
      first = false;
      try {
        await lane.run(() => this.request(op), op);
      } catch (e) {
        this.reportError(e, op);
      }
      await sleep(this.rng.int(80, 450));
    }
  }

  private pickRequest(i: number): string {
    if (this.config.scenario === 'busy' && i === 2 && this.loader && Date.now() >= this.nextBusy) {
      this.nextBusy = Date.now() + 6000;
      return 'busy';
    }
    if (!this.loader) return this.rng.weighted({ 'rpc getbalances': 4, 'rpc getnewaddress': 2, 'rpc sendtoaddress': 3, 'rpc listunspent': 1, 'rpc getwalletinfo': 2, 'rpc listwallets': 1 });
    const free = WALLET_NAMES.filter((n) => !this.wallets.has(n) && !this.unloadedWallets.has(n) && !this.walletOps.has(n));
    return this.rng.weighted({
      getbalances: 5,
      getnewaddress: 3,
      sendtoaddress: 3,
      listunspent: 1.5,
      listtransactions: 1.5,
      gettransaction: 1,
      getwalletinfo: 1.5,
      listwallets: 1,
      'rpc getwalletinfo': 1.5,
      'rpc getbalances': 1,
      'rpc sendtoaddress': 1,
      'rpc listunspent': 0.5,
      generatetoaddress: 0.4,
      createwallet: free.length > 0 && this.wallets.size < 4 ? 0.4 : 0,
      unloadwallet: this.wallets.size > 2 ? 0.25 : 0,
      loadwallet: this.unloadedWallets.size > 0 ? 0.4 : 0,
    });
  }

  private pickWallet(): NodeWallet | null {
    const ws = [...this.wallets.values()].filter((w) => !this.walletOps.has(w.name));
    return ws.length ? this.rng.pick(ws) : null;
  }

  /** An address to pay: a wallet's (often) or a stranger's. */
  private payee(): Uint8Array {
    return this.chain.knownKeys.length > 0 && this.rng.chance(0.7) ? this.rng.pick(this.chain.knownKeys) : this.rng.bytes(20);
  }

  private async request(op: string): Promise<void> {
    if (op.startsWith('rpc ')) return this.actorRequest(op.slice(4));
    const loader = this.loader;
    if (!loader) return;
    switch (op) {
      case 'createwallet': {
        const name = WALLET_NAMES.find((n) => !this.wallets.has(n) && !this.unloadedWallets.has(n) && !this.walletOps.has(n));
        if (name) await this.openWallet(loader, 'createWallet', name);
        return;
      }
      case 'loadwallet': {
        const name = [...this.unloadedWallets].find((n) => !this.walletOps.has(n));
        if (name) await this.openWallet(loader, 'loadWallet', name);
        return;
      }
      case 'listwallets': {
        const r = await loader.call('getWallets');
        for (const c of (r.result as Cap[] | null) ?? []) c.release();
        return;
      }
    }
    const w = op === 'busy' ? (this.wallets.get('alice') ?? this.pickWallet()) : this.pickWallet();
    if (!w) return;
    const wc = w.cap;
    switch (op) {
      case 'getbalances':
        await wc.call('getBalances');
        return;
      case 'getnewaddress': {
        const r = await wc.call('getNewDestination', { outputType: 2, label: this.rng.chance(0.3) ? `label-${this.rng.int(1, 9)}` : '' });
        const k = ((r.result as Plain | null)?.value as Plain | null)?.witnessV0KeyHash;
        if (k instanceof Uint8Array) this.chain.learnKey(k);
        return;
      }
      case 'sendtoaddress': {
        const amount = this.rng.int(1, 50) * (COIN / 100);
        const r = await wc.call('createTransaction', {
          recipients: [{ dest: { witnessV0KeyHash: this.payee() }, amount, subtractFeeFromAmount: false }],
          coinControl: { hasConfirmTarget: this.rng.chance(0.5), confirmTarget: this.rng.pick([2, 6, 12, 144]), minDepth: 0, maxDepth: 9999999 },
          sign: true,
          changePos: -1,
        });
        const tx = (r.result as Plain | null)?.value;
        if (tx instanceof Uint8Array && tx.length > 0) await wc.call('commitTransaction', { tx, valueMap: [], orderForm: [] });
        return;
      }
      case 'listunspent':
        await wc.call('listCoins');
        return;
      case 'listtransactions':
        await wc.call('getWalletTxs');
        return;
      case 'gettransaction': {
        const recent = [...this.chain.mempool.values()];
        const txid = recent.length ? this.rng.pick(recent).tx.txid : this.chain.tip.txs[0]!.txid;
        await wc.call('tryGetTxStatus', { txid });
        return;
      }
      case 'getwalletinfo':
        await wc.call('getWalletName');
        await wc.call('isCrypted');
        await wc.call('hdEnabled');
        await wc.call('getDefaultAddressType');
        return;
      case 'generatetoaddress': {
        const r = await wc.call('getNewDestination', { outputType: 2, label: '' });
        const k = ((r.result as Plain | null)?.value as Plain | null)?.witnessV0KeyHash;
        if (k instanceof Uint8Array) {
          this.chain.learnKey(k);
          this.mineBlock(k);
        }
        return;
      }
      case 'unloadwallet': {
        if (w.name === 'alice') return;
        this.walletOps.add(w.name);
        try {
          this.wallets.delete(w.name);
          await wc.call('remove');
          this.unloadedWallets.add(w.name);
          await wc.call('destroy');
        } finally {
          wc.release();
          this.walletOps.delete(w.name);
        }
        return;
      }
      case 'busy': {
        // Two calls at once from this thread, like an asynchronous client
        // (bitcoin/bitcoin#33923): both target this thread's worker in the
        // wallet, so getBalances, sent while the 4-second backupWallet runs,
        // is queued behind it.
        const n = ++this.busyCount;
        const backup = wc.call('backupWallet', { filename: `/tmp/ipc-trace-demo-backup-${n}.dat` });
        await sleep(100);
        await Promise.all([backup, wc.call('getBalances')]);
        return;
      }
    }
  }

  private async openWallet(loader: Cap, method: 'createWallet' | 'loadWallet', name: string): Promise<void> {
    this.walletOps.add(name);
    try {
      // New wallets are encrypted (createwallet with a passphrase) and then
      // unlocked (walletpassphrase): secrets on the wire for --redact to mask.
      const r = await loader.call(method, method === 'createWallet' ? { name, passphrase: DEMO_WALLET_PASSPHRASE, flags: 0 } : { name });
      const res = r.result as { value?: Cap | null; error?: { original?: string } | null } | null;
      if (res?.value) {
        const cap = typed(res.value, 'Wallet');
        this.wallets.set(name, { name, cap });
        this.unloadedWallets.delete(name);
        if (method === 'createWallet') await cap.call('unlock', { walletPassphrase: Buffer.from(DEMO_WALLET_PASSPHRASE) });
      }
    } finally {
      this.walletOps.delete(name);
    }
  }

  /** A wallet RPC through the ActorCallback the wallet registered with Chain.handleRpc. */
  private async actorRequest(method: string): Promise<void> {
    const a = this.rpcs.get(method);
    if (!a) return;
    const names = this.loader ? [...this.wallets.keys()] : this.rpcWalletNames;
    const wallet = method === 'listwallets' || names.length === 0 ? null : this.rng.pick(names);
    let params: unknown[] = [];
    if (method === 'sendtoaddress') params = [encodeAddress(this.payee()), (this.rng.int(1, 30) / 100).toFixed(2)];
    if (method === 'getnewaddress') params = [''];
    const r = await a.actor.call('call', {
      request: {
        id: String(++this.requestId),
        method,
        params: JSON.stringify(params),
        mode: 0,
        uri: wallet ? `/wallet/${encodeURIComponent(wallet)}` : '/',
        authUser: '__cookie__',
        peerAddr: `127.0.0.1:${40000 + this.rng.int(0, 20000)}`,
        version: 1,
      },
      response: '',
      lastCallback: true,
    });
    if (r.result === true && typeof r.response === 'string') {
      try {
        const v = JSON.parse(r.response) as unknown;
        if (method === 'listwallets' && Array.isArray(v)) this.rpcWalletNames = v.filter((x): x is string => typeof x === 'string');
      } catch {
        // not JSON: ignore
      }
    }
  }

  // ---- the balance poll --------------------------------------------------------------------------

  private async balancePoll(): Promise<void> {
    const lane: Lane = this.threads.lane('b-walletpoll');
    while (!this.stopping) {
      await sleep(500);
      for (const w of [...this.wallets.values()]) {
        if (this.stopping) break;
        try {
          await lane.run(() => w.cap.call('tryGetBalances'), 'pollBalanceChanged');
        } catch (e) {
          this.reportError(e, 'tryGetBalances');
        }
      }
    }
  }

  // ---- shutdown ---------------------------------------------------------------------------------

  /**
   * Bitcoin Core's Shutdown() as far as the wallet sees it: stop the RPC
   * server (wait for the HTTP workers' requests), flush and stop the chain
   * clients, stop the validation queue, destroy the wallet objects.
   */
  async shutdown(): Promise<void> {
    this.stopping = true;
    for (const t of this.timers.splice(0)) clearTimeout(t);
    await Promise.all(this.loops);
    const loader = this.loader;
    await this.threads.main.run(async () => {
      if (loader) await loader.call('flush');
      await this.validation.sync();
      this.validation.stop();
      if (loader) await loader.call('stop');
      for (const w of [...this.wallets.values()]) {
        this.wallets.delete(w.name);
        try {
          await w.cap.call('destroy');
        } finally {
          w.cap.release();
        }
      }
      if (loader) {
        this.loader = null;
        try {
          await loader.call('destroy');
        } finally {
          loader.release();
        }
      }
    }, 'Shutdown');
  }

  /** The wallet is gone: forget its capabilities. */
  dropWallet(): void {
    this.stopping = true;
    for (const t of this.timers.splice(0)) clearTimeout(t);
    this.validation.stop();
    for (const w of this.wallets.values()) w.cap.release();
    this.wallets.clear();
    for (const r of this.rpcs.values()) r.actor.release();
    this.rpcs.clear();
    for (const id of [...this.clients.keys()]) this.dropClient(id);
    this.loader?.release();
    this.loader = null;
  }

  /** Releases what a disconnected -ipcbind client had registered (its calls would fail anyway). */
  forgetClients(): void {
    for (const r of this.rpcs.values()) r.actor.release();
    this.rpcs.clear();
    for (const id of [...this.clients.keys()]) this.dropClient(id);
    this.rpcWalletNames = [];
  }
}
