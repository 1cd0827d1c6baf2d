// The demo bitcoin-wallet process's logic: the WalletLoader (a ChainClient)
// and one Wallet per loaded wallet, each with its own cs_wallet, using the
// node's Chain capability the way Bitcoin Core's wallet does (PR #10102):
//
// - loading a wallet (AttachChain): Chain.handleNotifications, a rescan with
//   Chain.findFirstBlockWithTimeAndHeight / findBlock, then
//   Chain.requestMempoolTransactions (the node calls transactionAddedToMempool
//   back, nested on the loading thread) and Chain.updateRwSetting (the node
//   calls the SettingsUpdateCallback back, nested too);
// - wallet RPC-like methods first wait until the wallet has caught up with
//   the chain (Chain.waitForNotificationsIfTipChanged) — never holding
//   cs_wallet — then work under cs_wallet, calling estimateSmartFee,
//   relayMinFee, broadcastTransaction while holding it;
// - ChainNotifications (blockConnected, transactionAddedToMempool, …) come
//   from the node's b-scheduler thread and take cs_wallet;
// - the wallet's own b-scheduler thread waits until it has caught up with the
//   chain (Chain.waitForNotificationsIfTipChanged), then resends unconfirmed
//   transactions.
//
// Scenarios (from the node's -scenario, passed in Init.makeWalletLoader's
// globalArgs): `deadlock` makes the wallet's b-scheduler hold cs_wallet while
// it waits for the node to finish sending notifications (the bug
// AssertLockNotHeld(cs_wallet) guards against in BlockUntilSyncedToCurrentChain);
// `busy` makes backupWallet take 4 s; `disconnect` kills the process while it
// serves a call; `slow` adds 50-300 ms to every method.

import { homedir } from 'node:os';
import { writeSync } from 'node:fs';
import { SchemaSet } from '../decoder/schema.js';
import { Cap, serve, AsyncMutex, Threads, RpcError, currentLane } from '../rpc/index.js';
import type { ServerImpl } from '../rpc/index.js';
import {
  COIN, DEMO_ALICE_FUNDED_FROM, DEMO_ALICE_KEYS, DEMO_PREMINED, OutPoint, ParsedTx, TIMESTAMP_WINDOW, decodeAddress,
  decodeFeeRate, encodeAddress, formatBtc, hashHex, keyHashOf, outpointKey, parseBlock, parseTx, serializeLocator, toHex,
} from '../demo/bitcoin.js';
import { Rng } from '../demo/random.js';
import { Scenario } from '../demo/args.js';
import { SerialQueue, errorLine, errorText, isDisconnect, makeDelay, sleep, stubMissing, typed, withLatency } from '../demo/util.js';
import { Coin, WalletFile, WalletTxRecord } from './state.js';

const EXE = 'bitcoin-wallet';

export interface WalletConfig {
  scenario: Scenario;
  seed: number;
}

type Plain = Record<string, unknown>;

function bytes(v: unknown): Uint8Array | null {
  return v instanceof Uint8Array ? v : null;
}

function bilingual(s: string): { original: string; translated: string } {
  return { original: s, translated: s };
}

function outpointData(o: OutPoint): Uint8Array {
  const b = Buffer.alloc(36);
  Buffer.from(o.txid).copy(b, 0);
  b.writeUInt32LE(o.vout, 32);
  return new Uint8Array(b);
}

function outpointFromData(d: Uint8Array | null): OutPoint | null {
  if (!d || d.length !== 36) return null;
  return { txid: d.slice(0, 32), vout: Buffer.from(d.buffer, d.byteOffset + 32, 4).readUInt32LE() };
}

function txoutData(value: number, script: Uint8Array): Uint8Array {
  const b = Buffer.alloc(8 + 1 + script.length);
  b.writeBigInt64LE(BigInt(value));
  b[8] = script.length;
  Buffer.from(script).copy(b, 9);
  return new Uint8Array(b);
}

/** The key hash of a TxDestination (witnessV0KeyHash or pkHash), or null. */
function destKey(dest: unknown): Uint8Array | null {
  if (!dest || typeof dest !== 'object') return null;
  const d = dest as Plain;
  for (const f of ['witnessV0KeyHash', 'pkHash']) {
    const b = bytes(d[f]);
    if (b && b.length === 20) return b;
  }
  return null;
}

/** One loaded wallet (CWallet) and the capabilities standing for it. */
export class LoadedWallet {
  readonly csWallet = new AsyncMutex('cs_wallet', { recursive: true });
  readonly cap: Cap;
  readonly notifications: Cap;
  handler: Cap | null = null;
  unloaded = false;
  private readonly callbacks: Cap[] = [];

  constructor(
    readonly proc: WalletProcess,
    readonly file: WalletFile,
  ) {
    const s = proc.schemas;
    this.cap = serve(s, 'Wallet', proc.wrap('Wallet', this.walletImpl()));
    this.notifications = serve(s, 'ChainNotifications', proc.wrap('ChainNotifications', this.notificationsImpl()));
  }

  get name(): string {
    return this.file.name;
  }

  get tipHeight(): number {
    return this.file.lastBlock?.height ?? 0;
  }

  private get chain(): Cap {
    return this.proc.chainCap();
  }

  private check(): void {
    if (this.unloaded) throw new RpcError('failed', `Wallet "${this.name}" was unloaded`);
  }

  /**
   * BlockUntilSyncedToCurrentChain. Like Bitcoin Core it asserts that
   * cs_wallet is not held: the deadlock scenario skips the check (its bug).
   */
  async syncedToChain(assertLockNotHeld = true): Promise<void> {
    if (assertLockNotHeld && this.csWallet.holder !== null && this.csWallet.holder === currentLane()?.name) {
      throw new Error('AssertLockNotHeld(cs_wallet) failed in BlockUntilSyncedToCurrentChain');
    }
    const tip = this.file.lastBlock?.hash;
    if (!tip) return;
    await this.chain.call('waitForNotificationsIfTipChanged', { oldTip: tip });
  }

  /** TRY_LOCK(cs_wallet): runs `fn` if the lock is free (or ours), else returns null. */
  async tryLocked<T>(fn: () => T | Promise<T>): Promise<T | null> {
    const holder = this.csWallet.holder;
    if (holder !== null && holder !== currentLane()?.name) return null;
    return this.csWallet.withLock(fn);
  }

  // ---- chain notifications (called from the node's b-scheduler) ---------------

  private notificationsImpl(): ServerImpl {
    return {
      destroy: () => ({}),
      transactionAddedToMempool: async ({ tx }: { tx: Uint8Array }) => {
        const parsed = parseTx(tx);
        await this.csWallet.withLock(() => {
          if (this.file.sync(parsed, null, Math.floor(Date.now() / 1000))) this.notifyTransactionChanged(parsed);
        });
      },
      transactionRemovedFromMempool: async ({ tx }: { tx: Uint8Array }) => {
        const parsed = parseTx(tx);
        await this.csWallet.withLock(() => this.file.removeUnconfirmed(parsed));
      },
      blockConnected: async ({ block }: { block: { hash: Uint8Array; height: number; data: Uint8Array | null } }) => {
        await this.csWallet.withLock(() => this.connectBlock(block.data, block.height, block.hash));
      },
      blockDisconnected: () => ({}),
      updatedBlockTip: () => ({}),
      chainStateFlushed: async ({ locator }: { locator: Uint8Array }) => {
        await this.csWallet.withLock(() => {
          this.file.locator = locator;
        });
      },
    };
  }

  /** Processes a block (holding cs_wallet). */
  connectBlock(data: Uint8Array | null, height: number, hash?: Uint8Array | null): void {
    if (!data || data.length === 0) return;
    const b = parseBlock(data);
    for (const tx of b.txs) if (this.file.sync(tx, height, b.header.time)) this.notifyTransactionChanged(tx);
    if (!this.file.lastBlock || height >= this.file.lastBlock.height) this.file.lastBlock = { hash: hash && hash.length === 32 ? hash : b.hash, height };
  }

  private notifyTransactionChanged(tx: ParsedTx): void {
    for (const cb of this.callbacks) {
      if (cb.iface?.name !== 'TransactionChangedCallback') continue;
      cb.call('call', { txid: tx.txid, status: 1 }).then(undefined, () => undefined);
    }
  }

  // ---- operations shared by the Wallet interface and the RPC actors -------------

  /** `serving`: the Wallet method being served, where the disconnect scenario may crash. */
  async balances(serving?: string): Promise<{ balance: number; unconfirmedBalance: number; immatureBalance: number }> {
    this.check();
    await this.syncedToChain();
    const b = await this.csWallet.withLock(() => this.file.balances(this.tipHeight));
    if (serving) this.proc.maybeCrash(serving);
    return b;
  }

  async newAddress(label: string): Promise<Uint8Array> {
    this.check();
    return this.csWallet.withLock(() => this.file.newKey(label));
  }

  /** CreateTransaction: coin selection under cs_wallet, with the node's fee estimate. */
  async createTransaction(
    recipients: { keyHash: Uint8Array; amount: number }[],
    confTarget = 6,
    serving?: string,
  ): Promise<{ tx: ParsedTx; fee: number; changePos: number } | { error: string }> {
    this.check();
    return this.csWallet.withLock(async () => {
      const est = await this.chain.call('estimateSmartFee', { numBlocks: confTarget, conservative: false, wantCalc: true });
      const relay = await this.chain.call('relayMinFee');
      if (serving) this.proc.maybeCrash(serving);
      const feeRate = Math.max(decodeFeeRate(bytes(est.result)), decodeFeeRate(bytes(relay.result)));
      return this.file.createTransaction(recipients, feeRate, this.tipHeight);
    });
  }

  /** CommitTransaction: adds it to the wallet and broadcasts it (under cs_wallet). */
  async commitTransaction(raw: Uint8Array): Promise<string | null> {
    this.check();
    const tx = parseTx(raw);
    return this.csWallet.withLock(async () => {
      this.file.sync(tx, null, Math.floor(Date.now() / 1000));
      const r = await this.chain.call('broadcastTransaction', { tx: raw, maxTxFee: COIN / 10, relay: true });
      if (r.result !== true) {
        this.file.removeUnconfirmed(tx);
        return String(r.error ?? 'rejected');
      }
      return null;
    });
  }

  /** ResendWalletTransactions: unconfirmed transactions of ours the mempool lost are broadcast again. */
  async resend(): Promise<void> {
    if (this.unloaded) return;
    await this.csWallet.withLock(async () => {
      const mine = [...this.file.txs.entries()].filter(([, t]) => t.fromMe && t.height === null).slice(0, 3);
      for (const [, t] of mine) {
        const r = await this.chain.call('isInMempool', { txid: t.tx.txid });
        if (r.result !== true) await this.chain.call('broadcastTransaction', { tx: t.tx.raw, maxTxFee: COIN / 10, relay: true });
      }
    });
  }

  private walletTx(t: WalletTxRecord): Plain {
    const outsMine = t.tx.outputs.map((o) => this.file.isMine(o.script) !== null);
    return {
      tx: t.tx.raw,
      txinIsMine: t.tx.inputs.map((i) => this.file.coins.has(outpointKey(i.prevout))),
      txoutIsMine: outsMine,
      txoutIsChange: outsMine.map((m) => m && t.fromMe),
      txoutAddress: t.tx.outputs.map((o) => {
        const k = keyHashOf(o.script);
        return k ? { witnessV0KeyHash: k } : {};
      }),
      txoutAddressIsMine: outsMine,
      credit: t.credit,
      debit: t.debit,
      change: 0,
      time: t.time,
      valueMap: [],
      isCoinbase: t.tx.coinbase,
    };
  }

  private txStatus(t: WalletTxRecord): Plain {
    const depth = this.file.depth(t, this.tipHeight);
    return {
      blockHeight: t.height ?? 0x7fffffff,
      blocksToMaturity: t.tx.coinbase ? Math.max(0, 101 - depth) : 0,
      depthInMainChain: depth,
      timeReceived: t.time,
      lockTime: t.tx.locktime,
      isTrusted: depth > 0 || t.fromMe,
      isAbandoned: false,
      isCoinbase: t.tx.coinbase,
      isInMainChain: depth > 0,
    };
  }

  private coinOut(c: Coin): Plain {
    const script = new Uint8Array(22);
    script[1] = 0x14;
    script.set(c.keyHash, 2);
    return { txout: txoutData(c.value, script), time: c.time, depthInMainChain: this.file.depth(c, this.tipHeight), isSpent: c.spentBy !== null };
  }

  private handlerFor(cb: Cap): Cap {
    const kept = cb.dup();
    this.callbacks.push(kept);
    const drop = () => {
      const i = this.callbacks.indexOf(kept);
      if (i >= 0) {
        this.callbacks.splice(i, 1);
        kept.release();
      }
      return {};
    };
    return serve(this.proc.schemas, 'Handler', { destroy: drop, disconnect: drop });
  }

  // ---- the Wallet interface ------------------------------------------------------

  private walletImpl(): ServerImpl {
    const f = this.file;
    const locked = <T>(fn: () => T | Promise<T>) => {
      this.check();
      return this.csWallet.withLock(fn);
    };
    const handle = ({ callback }: { callback: Cap }) => ({ result: this.handlerFor(callback) });
    return {
      destroy: () => ({}),
      isCrypted: () => ({ result: false }),
      lock: () => ({ result: false }),
      unlock: () => ({ result: true }),
      isLocked: () => ({ result: false }),
      abortRescan: () => ({}),
      backupWallet: async () => {
        this.check();
        // Copying the wallet file; a big one (the busy scenario) takes seconds.
        await sleep(this.proc.config.scenario === 'busy' ? 4000 : 20);
        return { result: true };
      },
      getWalletName: () => ({ result: this.name }),
      getNewDestination: async ({ label }: { outputType: number; label: string }) => {
        const k = await this.newAddress(label ?? '');
        return { result: { value: { witnessV0KeyHash: k } } };
      },
      isSpendable: ({ dest }: { dest: unknown }) => {
        const k = destKey(dest);
        return { result: k !== null && f.keys.has(toHex(k)) };
      },
      setAddressBook: ({ dest, name }: { dest: unknown; name: string }) =>
        locked(() => {
          const k = destKey(dest);
          if (k) f.addressBook.set(toHex(k), name ?? '');
          return { result: k !== null };
        }),
      delAddressBook: ({ dest }: { dest: unknown }) =>
        locked(() => {
          const k = destKey(dest);
          return { result: k !== null && f.addressBook.delete(toHex(k)) };
        }),
      getAddress: ({ dest }: { dest: unknown }) =>
        locked(() => {
          const k = destKey(dest);
          const name = k ? f.addressBook.get(toHex(k)) : undefined;
          return { name: name ?? '', purpose: 1, result: name !== undefined };
        }),
      getAddresses: () =>
        locked(() => ({
          result: [...f.addressBook.entries()].map(([k, name]) => ({ dest: { witnessV0KeyHash: Buffer.from(k, 'hex') }, isMine: f.keys.has(k), name, purpose: 1 })),
        })),
      lockCoin: ({ output }: { output: Uint8Array }) =>
        locked(() => {
          const o = outpointFromData(output);
          if (o) f.lockedCoins.add(outpointKey(o));
          return { result: o !== null };
        }),
      unlockCoin: ({ output }: { output: Uint8Array }) =>
        locked(() => {
          const o = outpointFromData(output);
          return { result: o !== null && f.lockedCoins.delete(outpointKey(o)) };
        }),
      isLockedCoin: ({ output }: { output: Uint8Array }) => {
        const o = outpointFromData(output);
        return { result: o !== null && f.lockedCoins.has(outpointKey(o)) };
      },
      listLockedCoins: () =>
        locked(() => ({
          outputs: [...f.lockedCoins].map((k) => {
            const [txid, vout] = k.split(':');
            return outpointData({ txid: Buffer.from(txid!, 'hex'), vout: Number(vout) });
          }),
        })),
      createTransaction: async ({ recipients, coinControl }: { recipients: { dest: unknown; amount: number }[]; coinControl?: { hasConfirmTarget?: boolean; confirmTarget?: number } }) => {
        const rs: { keyHash: Uint8Array; amount: number }[] = [];
        for (const r of recipients ?? []) {
          const k = destKey(r.dest);
          if (!k) return { changePos: -1, fee: 0, result: { error: bilingual('Invalid recipient address') } };
          rs.push({ keyHash: k, amount: Number(r.amount) });
        }
        const target = coinControl?.hasConfirmTarget ? Number(coinControl.confirmTarget) : 6;
        const r = await this.createTransaction(rs, target, 'Wallet.createTransaction');
        if ('error' in r) return { changePos: -1, fee: 0, result: { error: bilingual(r.error) } };
        return { changePos: r.changePos, fee: r.fee, result: { value: r.tx.raw } };
      },
      commitTransaction: async ({ tx }: { tx: Uint8Array }) => {
        const err = await this.commitTransaction(tx);
        if (err) throw new RpcError('failed', `Transaction rejected by the node: ${err}`);
        return {};
      },
      transactionCanBeAbandoned: () => ({ result: false }),
      abandonTransaction: () => ({ result: false }),
      transactionCanBeBumped: () => ({ result: false }),
      getTx: ({ txid }: { txid: Uint8Array }) => locked(() => ({ result: f.txs.get(toHex(txid))?.tx.raw ?? null })),
      getWalletTx: ({ txid }: { txid: Uint8Array }) =>
        locked(() => {
          const t = f.txs.get(toHex(txid));
          return { result: t ? this.walletTx(t) : null };
        }),
      getWalletTxs: () =>
        locked(() => ({
          result: [...f.txs.values()]
            .sort((a, b) => b.time - a.time)
            .slice(0, 10)
            .map((t) => this.walletTx(t)),
        })),
      tryGetTxStatus: async ({ txid }: { txid: Uint8Array }) => {
        const r = await this.tryLocked(() => {
          const t = f.txs.get(toHex(txid));
          return t ? { txStatus: this.txStatus(t), numBlocks: this.tipHeight, blockTime: t.time, result: true } : { numBlocks: this.tipHeight, result: false };
        });
        return r ?? { result: false };
      },
      getWalletTxDetails: ({ txid }: { txid: Uint8Array }) =>
        locked(async () => {
          const t = f.txs.get(toHex(txid));
          if (!t) throw new RpcError('failed', 'Invalid or non-wallet transaction id');
          const inMempool = (await this.chain.call('isInMempool', { txid })).result === true;
          return { txStatus: this.txStatus(t), orderForm: [], inMempool, numBlocks: this.tipHeight, result: this.walletTx(t) };
        }),
      getBalances: async () => ({ result: await this.balances('Wallet.getBalances') }),
      tryGetBalances: async () => {
        this.check();
        const r = await this.tryLocked(() => ({ balances: f.balances(this.tipHeight), blockHash: f.lastBlock?.hash ?? new Uint8Array(32) }));
        return r ? { ...r, result: true } : { result: false };
      },
      getBalance: async () => ({ result: (await this.balances()).balance }),
      getAvailableBalance: () => locked(() => ({ result: f.spendable(this.tipHeight).reduce((s, c) => s + c.value, 0) })),
      txinIsMine: () => ({ result: false }),
      txoutIsMine: () => ({ result: false }),
      getDebit: () => ({ result: 0 }),
      getCredit: () => ({ result: 0 }),
      listCoins: async () => {
        this.check();
        await this.syncedToChain();
        return locked(() => {
          const groups = new Map<string, Coin[]>();
          for (const c of f.spendable(this.tipHeight)) {
            const k = toHex(c.keyHash);
            groups.set(k, [...(groups.get(k) ?? []), c]);
          }
          return {
            result: [...groups.entries()].slice(0, 8).map(([k, cs]) => ({
              key: { witnessV0KeyHash: Buffer.from(k, 'hex') },
              value: cs.slice(0, 4).map((c) => ({ key: outpointData(c.outpoint), value: this.coinOut(c) })),
            })),
          };
        });
      },
      getCoins: ({ outputs }: { outputs: Uint8Array[] }) =>
        locked(() => ({
          result: (outputs ?? []).map((o) => {
            const op = outpointFromData(o);
            const c = op ? f.coins.get(outpointKey(op)) : undefined;
            return c ? this.coinOut(c) : {};
          }),
        })),
      getRequiredFee: ({ txBytes }: { txBytes: number }) => ({ result: Number(txBytes) }),
      getMinimumFee: async ({ txBytes }: { txBytes: number }) => {
        const est = await this.chain.call('estimateSmartFee', { numBlocks: 6, conservative: false, wantCalc: true });
        const calc = est.calc as { returnedTarget?: number; reason?: number } | undefined;
        return { returnedTarget: calc?.returnedTarget ?? 6, reason: calc?.reason ?? 0, result: Math.ceil((decodeFeeRate(bytes(est.result)) * Number(txBytes)) / 1000) };
      },
      getConfirmTarget: () => ({ result: 6 }),
      hdEnabled: () => ({ result: true }),
      canGetAddresses: () => ({ result: true }),
      privateKeysDisabled: () => ({ result: false }),
      taprootEnabled: () => ({ result: true }),
      hasExternalSigner: () => ({ result: false }),
      getDefaultAddressType: () => ({ result: 2 }), // OutputType::BECH32
      getDefaultMaxTxFee: () => ({ result: COIN / 10 }),
      remove: async () => {
        this.check();
        await this.proc.unload(this);
        return {};
      },
      handleUnload: handle,
      handleShowProgress: handle,
      handleStatusChanged: handle,
      handleAddressBookChanged: handle,
      handleTransactionChanged: handle,
      handleCanGetAddressesChanged: handle,
    };
  }

  /** Drops the callbacks registered with handle*(). */
  dropCallbacks(): void {
    for (const c of this.callbacks.splice(0)) c.release();
  }
}

/** Wallet RPCs registered with the node through Chain.handleRpc (the node runs them via ActorCallback.call). */
const RPC_COMMANDS: { name: string; args: string[] }[] = [
  { name: 'getbalances', args: [] },
  { name: 'getnewaddress', args: ['label', 'address_type'] },
  { name: 'sendtoaddress', args: ['address', 'amount'] },
  { name: 'listunspent', args: ['minconf', 'maxconf'] },
  { name: 'getwalletinfo', args: [] },
  { name: 'listwallets', args: [] },
];

/** The wallet process: its loader, its wallets, its own threads. */
export class WalletProcess {
  config: WalletConfig = { scenario: 'normal', seed: 1 };
  readonly disk = new Map<string, WalletFile>();
  readonly loaded = new Map<string, LoadedWallet>();
  private readonly loading = new Set<string>();
  private chain: Cap | null = null;
  readonly loaderCap: Cap;
  private delay: () => Promise<void> = () => Promise.resolve();
  private rng = new Rng(1, 'wallet');
  private rpcHandlers: Cap[] = [];
  private readonly loadCallbacks: Cap[] = [];
  private scheduler: SerialQueue | null = null;
  private readonly timers: NodeJS.Timeout[] = [];
  private startedAt = Date.now();
  private stopped = false;

  constructor(
    readonly schemas: SchemaSet,
    readonly threads: Threads,
  ) {
    this.loaderCap = serve(schemas, 'WalletLoader', this.wrap('WalletLoader', this.loaderImpl()));
  }

  /** Reads the settings the wallet cares about (-scenario, -seed). */
  configure(config: WalletConfig): void {
    this.config = config;
    this.rng = new Rng(config.seed, 'wallet');
    this.delay = makeDelay(config.scenario === 'slow', () => this.rng.next());
  }

  /** The -scenario/-seed the node passed in Init.makeWalletLoader's globalArgs (JSON setting values). */
  static configFromGlobalArgs(globalArgs: unknown, fallback: WalletConfig): WalletConfig {
    const opts = ((globalArgs as Plain | null)?.settings as Plain | null)?.commandLineOptions;
    const get = (name: string): string | undefined => {
      if (!Array.isArray(opts)) return undefined;
      const e = (opts as { key?: string; value?: string[] }[]).find((o) => o.key === name);
      const v = e?.value?.[e.value.length - 1];
      if (v === undefined) return undefined;
      try {
        const j = JSON.parse(v) as unknown;
        return typeof j === 'string' || typeof j === 'number' ? String(j) : undefined;
      } catch {
        return v;
      }
    };
    const scenario = get('scenario');
    const seed = Number(get('seed') ?? fallback.seed);
    return {
      scenario: (['normal', 'deadlock', 'busy', 'disconnect', 'slow'] as const).find((s) => s === scenario) ?? fallback.scenario,
      seed: Number.isFinite(seed) ? seed : fallback.seed,
    };
  }

  setChain(chain: Cap): void {
    this.chain?.release();
    this.chain = typed(chain, 'Chain');
  }

  chainCap(): Cap {
    if (!this.chain) throw new RpcError('failed', 'the wallet has no Chain (Init.makeWalletLoader was not called)');
    return this.chain;
  }

  /** Server impl with the demo's stubs and (slow scenario) latency. */
  wrap(iface: string, impl: ServerImpl): ServerImpl {
    // The slow scenario's latency applies once the wallet runs (after ChainClient.start).
    return withLatency(stubMissing(this.schemas, iface, impl, 'wallet'), () => (this.scheduler ? this.delay() : Promise.resolve()));
  }

  /** The disconnect scenario: the process dies while serving a call (after 3 s of traffic). */
  maybeCrash(where: string): void {
    if (this.config.scenario !== 'disconnect' || Date.now() - this.startedAt < 3000) return;
    try {
      writeSync(2, `${EXE}: simulating a crash (SIGKILL) while serving ${where}\n`);
    } catch {
      // nothing
    }
    process.kill(process.pid, 'SIGKILL');
  }

  private walletFile(name: string, create: boolean): WalletFile | string {
    const existing = this.disk.get(name);
    if (existing) return create ? `Wallet file verification failed. Failed to create database path '${this.walletDir()}/${name}'. Database already exists.` : existing;
    if (name === 'alice') {
      // The wallet the chain was generatetoaddress-ed to before the demo started.
      const birth = Math.floor(Date.now() / 1000) - (DEMO_PREMINED - DEMO_ALICE_FUNDED_FROM) * 600 + TIMESTAMP_WINDOW - 300;
      const f = new WalletFile(name, birth, DEMO_ALICE_KEYS);
      this.disk.set(name, f);
      return create ? `Wallet file verification failed. Database already exists.` : f;
    }
    if (!create) return `Wallet file verification failed. Failed to load database path '${this.walletDir()}/${name}'. Path does not exist.`;
    const f = new WalletFile(name, Math.floor(Date.now() / 1000));
    this.disk.set(name, f);
    return f;
  }

  walletDir(): string {
    return `${homedir()}/.bitcoin/regtest/wallets`;
  }

  /** LoadWallet/CreateWallet and AttachChain. */
  async loadWallet(name: string, create: boolean): Promise<LoadedWallet | string> {
    if (this.loaded.has(name) || this.loading.has(name)) return `Wallet "${name}" is already loaded.`;
    const file = this.walletFile(name, create);
    if (typeof file === 'string') return file;
    this.loading.add(name);
    try {
      const chain = this.chainCap();
      await chain.call('initMessage', { message: 'Loading wallet…' });
      const w = new LoadedWallet(this, file);
      w.handler = (await chain.call('handleNotifications', { notifications: w.notifications })).result as Cap;
      const tip = Number((await chain.call('getHeight')).result);
      let start: Uint8Array | null = null;
      if (file.lastBlock === null && create) {
        const h = (await chain.call('getBlockHash', { height: tip })).result as Uint8Array;
        await w.csWallet.withLock(() => {
          file.lastBlock ??= { hash: h, height: tip };
        });
      } else if (file.lastBlock === null) {
        const r = await chain.call('findFirstBlockWithTimeAndHeight', {
          minTime: file.birthTime - TIMESTAMP_WINDOW,
          minHeight: 0,
          block: { wantHash: true, wantHeight: true },
        });
        if (r.result === true) start = bytes((r.block as Plain).hash);
      } else {
        const fork = await chain.call('findLocatorFork', { locator: file.locator ?? serializeLocator([file.lastBlock.hash]) });
        const forkHeight = fork.hasResult === true ? Number(fork.result) : 0;
        if (forkHeight < tip) start = bytes((await chain.call('getBlockHash', { height: forkHeight + 1 })).result);
      }
      if (start) await this.rescan(w, start);
      await chain.call('requestMempoolTransactions', { notifications: w.notifications });
      if (create) {
        const update = serve(this.schemas, 'SettingsUpdateCallback', {
          call: ({ value }: { value: string }) => {
            let list: unknown;
            try {
              list = JSON.parse(value || '[]');
            } catch {
              list = [];
            }
            const names = Array.isArray(list) ? list.filter((x): x is string => typeof x === 'string') : [];
            if (!names.includes(name)) names.push(name);
            return { value: JSON.stringify(names), result: 0, hasResult: true }; // SettingsAction::WRITE
          },
        });
        try {
          await chain.call('updateRwSetting', { name: 'wallet', update });
        } finally {
          update.release();
        }
      }
      this.loaded.set(name, w);
      for (const cb of this.loadCallbacks) await cb.call('call', { wallet: w.cap });
      return w;
    } finally {
      this.loading.delete(name);
    }
  }

  /** ScanForWalletTransactions: block by block with Chain.findBlock (data and next block hash). */
  private async rescan(w: LoadedWallet, start: Uint8Array): Promise<void> {
    const chain = this.chainCap();
    await chain.call('showProgress', { title: `${w.name} Rescanning…`, progress: 0, resumePossible: false });
    let hash: Uint8Array | null = start;
    for (let n = 0; hash && n < 500; n++) {
      const r = await chain.call('findBlock', { hash, block: { wantHeight: true, wantData: true, nextBlock: { wantHash: true } } });
      if (r.result !== true) break;
      const b = r.block as { height: number; data: Uint8Array | null; nextBlock?: { hash?: Uint8Array | null; found?: boolean } | null };
      const blockHash = hash;
      await w.csWallet.withLock(() => w.connectBlock(b.data, Number(b.height), blockHash));
      const next = b.nextBlock?.found ? bytes(b.nextBlock.hash) : null;
      hash = next && next.length === 32 ? next : null;
    }
    await chain.call('showProgress', { title: `${w.name} Rescanning…`, progress: 100, resumePossible: false });
  }

  /** UnloadWallet: stop notifications, flush. */
  async unload(w: LoadedWallet): Promise<void> {
    if (w.unloaded) return;
    w.unloaded = true;
    this.loaded.delete(w.name);
    await w.csWallet.withLock(() => {
      if (w.file.lastBlock) w.file.locator = serializeLocator([w.file.lastBlock.hash]);
    });
    const h = w.handler;
    w.handler = null;
    if (h) {
      try {
        await h.call('destroy');
      } finally {
        h.release();
      }
    }
    w.dropCallbacks();
    w.notifications.release();
    w.cap.release();
  }

  // ---- WalletLoader (and ChainClient) ---------------------------------------------

  private walletResult(r: LoadedWallet | string): Plain {
    if (typeof r === 'string') return { warning: [], result: { error: bilingual(r) } };
    return { warning: [], result: { value: r.cap } };
  }

  private loaderImpl(): ServerImpl {
    return {
      destroy: () => ({}),
      registerRpcs: async () => {
        const chain = this.chainCap();
        let id = 0;
        for (const c of RPC_COMMANDS) {
          const actor = serve(this.schemas, 'ActorCallback', this.wrap('ActorCallback', { call: (p: { request: Plain }) => this.runRpc(p.request) }));
          try {
            const r = await chain.call('handleRpc', {
              command: { category: 'wallet', name: c.name, actor, argNames: c.args.map((a) => ({ name: a, namedOnly: false })), uniqueId: ++id },
            });
            this.rpcHandlers.push(r.result as Cap);
          } finally {
            actor.release();
          }
        }
        return {};
      },
      verify: async () => {
        await this.chainCap().call('initMessage', { message: 'Verifying wallet(s)…' });
        return { result: true };
      },
      load: async () => {
        const chain = this.chainCap();
        await chain.call('initMessage', { message: 'Loading wallet…' });
        const s = await chain.call('getRwSetting', { name: 'wallet' });
        let names: unknown = [];
        try {
          names = JSON.parse(String(s.result || '[]'));
        } catch {
          names = [];
        }
        for (const n of Array.isArray(names) ? names : []) {
          if (typeof n !== 'string') continue;
          const r = await this.loadWallet(n, false);
          if (typeof r === 'string') await chain.call('initWarning', { message: bilingual(r) });
        }
        return { result: true };
      },
      start: () => {
        this.start();
        return {};
      },
      flush: async () => {
        for (const w of this.loaded.values()) await w.csWallet.withLock(() => undefined);
        return {};
      },
      stop: async () => {
        this.stopTasks();
        for (const w of [...this.loaded.values()]) await this.unload(w);
        for (const h of this.rpcHandlers.splice(0)) {
          try {
            await h.call('destroy');
          } finally {
            h.release();
          }
        }
        return {};
      },
      setMockTime: () => ({}),
      schedulerMockForward: () => ({}),
      createWallet: async ({ name }: { name: string }) => this.walletResult(await this.loadWallet(name, true)),
      loadWallet: async ({ name }: { name: string }) => this.walletResult(await this.loadWallet(name, false)),
      getWalletDir: () => ({ result: this.walletDir() }),
      isEncrypted: () => ({ result: false }),
      listWalletDir: () => ({ result: [...this.disk.keys()].map((n) => ({ key: n, value: 'sqlite' })) }),
      getWallets: () => ({ result: [...this.loaded.values()].map((w) => w.cap) }),
      handleLoadWallet: ({ callback }: { callback: Cap }) => {
        const kept = callback.dup();
        this.loadCallbacks.push(kept);
        const drop = () => {
          const i = this.loadCallbacks.indexOf(kept);
          if (i >= 0) {
            this.loadCallbacks.splice(i, 1);
            kept.release();
          }
          return {};
        };
        return { result: serve(this.schemas, 'Handler', { destroy: drop, disconnect: drop }) };
      },
    };
  }

  // ---- wallet RPCs through ActorCallback ---------------------------------------------

  private async runRpc(request: Plain): Promise<Plain> {
    const method = String(request.method ?? '');
    const uri = String(request.uri ?? '');
    let params: unknown[] = [];
    try {
      const p = JSON.parse(String(request.params || '[]')) as unknown;
      if (Array.isArray(p)) params = p;
    } catch {
      params = [];
    }
    const rpcError = (code: number, message: string) => ({ rpcError: JSON.stringify({ code, message }), response: '', result: false });
    const ok = (v: unknown) => ({ response: JSON.stringify(v), result: true });
    if (method === 'listwallets') return ok([...this.loaded.keys()]);
    const m = /^\/wallet\/(.+)$/.exec(uri);
    const w = m ? this.loaded.get(decodeURIComponent(m[1]!)) : this.loaded.size === 1 ? [...this.loaded.values()][0] : undefined;
    if (!w) return rpcError(-18, m ? 'Requested wallet does not exist or is not loaded' : 'Wallet file not specified (must request wallet RPC through /wallet/<filename> uri-path).');
    try {
      switch (method) {
        case 'getbalances': {
          const b = await w.balances();
          return ok({ mine: { trusted: formatBtc(b.balance), untrusted_pending: formatBtc(b.unconfirmedBalance), immature: formatBtc(b.immatureBalance) }, lastprocessedblock: { hash: w.file.lastBlock ? hashHex(w.file.lastBlock.hash) : null, height: w.tipHeight } });
        }
        case 'getnewaddress':
          return ok(encodeAddress(await w.newAddress(typeof params[0] === 'string' ? params[0] : '')));
        case 'sendtoaddress': {
          await w.syncedToChain();
          const k = typeof params[0] === 'string' ? decodeAddress(params[0]) : null;
          if (!k) return rpcError(-5, 'Invalid address');
          const amount = Math.round(Number(params[1]) * COIN);
          const r = await w.createTransaction([{ keyHash: k, amount }]);
          if ('error' in r) return rpcError(-6, r.error);
          const err = await w.commitTransaction(r.tx.raw);
          if (err) return rpcError(-26, err);
          return ok(hashHex(r.tx.txid));
        }
        case 'listunspent': {
          await w.syncedToChain();
          const coins = await w.csWallet.withLock(() => w.file.spendable(w.tipHeight));
          return ok(coins.slice(0, 5).map((c) => ({ txid: hashHex(c.outpoint.txid), vout: c.outpoint.vout, address: encodeAddress(c.keyHash), amount: formatBtc(c.value), confirmations: w.file.depth(c, w.tipHeight) })));
        }
        case 'getwalletinfo': {
          await w.syncedToChain();
          const info = await w.csWallet.withLock(() => {
            const b = w.file.balances(w.tipHeight);
            return { walletname: w.name, walletversion: 169900, format: 'sqlite', balance: formatBtc(b.balance), unconfirmed_balance: formatBtc(b.unconfirmedBalance), immature_balance: formatBtc(b.immatureBalance), txcount: w.file.txs.size, keypoolsize: 1000, private_keys_enabled: true, descriptors: true };
          });
          return ok(info);
        }
        default:
          return rpcError(-32601, 'Method not found');
      }
    } catch (e) {
      if (e instanceof RpcError) throw e;
      return { error: errorText(e), response: '', result: false };
    }
  }

  // ---- the wallet's own threads ---------------------------------------------------------

  /** ChainClient.start: the wallet's scheduler thread with its periodic tasks. */
  start(): void {
    if (this.scheduler) return;
    this.startedAt = Date.now();
    const lane = this.threads.lane('b-scheduler');
    const q = new SerialQueue(lane, (e, label) => {
      if (!isDisconnect(e) && !this.stopped) errorLine(EXE, `${label}: ${errorText(e)}`);
    });
    this.scheduler = q;
    const every = (ms: number, label: string, fn: () => Promise<void>) => {
      const t = setInterval(() => {
        if (q.pending === 0) q.push(label, fn);
      }, ms);
      this.timers.push(t);
    };
    every(2500 + this.rng.int(0, 1000), 'ResendWalletTransactions', async () => {
      // Caught up with the chain first (BlockUntilSyncedToCurrentChain, cs_wallet not held): a
      // blockConnected that does not get through (held by ipc-trace, or waiting for cs_wallet in
      // the deadlock scenario) leaves this thread waiting on the node, which waits on b-scheduler.
      for (const w of [...this.loaded.values()]) await w.syncedToChain();
      const ready = await this.chainCap().call('isReadyToBroadcast');
      if (ready.result !== true) return;
      for (const w of [...this.loaded.values()]) await w.resend();
    });
    if (this.config.scenario === 'deadlock') {
      const t = setTimeout(() => q.push('deadlock', () => this.deadlock()), 2000);
      this.timers.push(t);
    }
  }

  /**
   * The deadlock scenario: the wallet's scheduler thread takes cs_wallet and,
   * still holding it, waits until the wallet has processed the node's latest
   * block (BlockUntilSyncedToCurrentChain with cs_wallet held). The node's
   * b-scheduler is delivering that block in blockConnected, whose worker
   * here needs cs_wallet; the node's worker serving
   * waitForNotificationsIfTipChanged waits for b-scheduler: a cycle across
   * both processes, for real.
   */
  private async deadlock(): Promise<void> {
    const w = this.loaded.get('alice') ?? [...this.loaded.values()][0];
    if (!w) return;
    const chain = this.chainCap();
    await w.csWallet.withLock(async () => {
      // Hold cs_wallet until the node is ahead of us: its next block's
      // blockConnected cannot get in while we hold the lock.
      for (;;) {
        const h = await chain.call('getHeight');
        if (Number(h.result) > w.tipHeight) break;
        await sleep(100);
      }
      await w.syncedToChain(false); // never returns
    });
  }

  private stopTasks(): void {
    for (const t of this.timers.splice(0)) clearInterval(t);
    this.scheduler?.stop();
  }

  /** The process is going away (connection closed). */
  shutdown(): void {
    this.stopped = true;
    this.stopTasks();
  }
}
