// The demo node's regtest chain: blocks, the mempool and the fee estimator,
// all in memory. The chain starts with 200 blocks at 10-minute spacing that
// paid the wallet "alice" (coinbases and payments to her first demo keys), so
// the wallet has coins, immature ones and a rescan to do when it loads.

import {
  COIN, DEMO_ALICE_FUNDED_FROM, DEMO_ALICE_KEYS, DEMO_PREMINED, ParsedTx, REGTEST_GENESIS, coinbaseTx, demoKeyHash, encodeFeeRate, hashHex, keyHashOf, merkleRoot, outpointKey,
  p2wpkh, parseTx, serializeBlock, serializeHeader, sha256d, subsidy, toHex, withIds,
} from '../demo/bitcoin.js';
import { Rng } from '../demo/random.js';

export interface Block {
  hash: Uint8Array;
  prev: Uint8Array;
  height: number;
  time: number;
  /** Median time past. */
  mtp: number;
  /** Largest block time up to this block. */
  maxTime: number;
  txs: ParsedTx[];
  data: Uint8Array;
}

export interface MempoolEntry {
  tx: ParsedTx;
  time: number;
  fee: number;
}


export class ChainState {
  readonly blocks: Block[] = [];
  private readonly byHash = new Map<string, Block>();
  readonly mempool = new Map<string, MempoolEntry>();
  /** Outpoints spent by the chain or the mempool → spending txid. */
  private readonly spent = new Map<string, string>();
  /** Outputs created by the chain or the mempool (what wallet transactions may spend). */
  private readonly outputs = new Map<string, number>();
  /** Wallet addresses the node has seen (key hashes), paid by "network" transactions. */
  readonly knownKeys: Uint8Array[] = [];
  private feeRate = 2000;
  private readonly rng: Rng;

  constructor(seed: number) {
    this.rng = new Rng(seed, 'chain');
    const now = Math.floor(Date.now() / 1000);
    const genesis: Block = {
      hash: REGTEST_GENESIS,
      prev: new Uint8Array(32),
      height: 0,
      time: 1296688602,
      mtp: 1296688602,
      maxTime: 1296688602,
      txs: [],
      data: new Uint8Array(0),
    };
    this.add(genesis);
    for (let i = 0; i < DEMO_ALICE_KEYS; i++) this.knownKeys.push(demoKeyHash('alice', i));
    const start = now - DEMO_PREMINED * 600;
    for (let h = 1; h <= DEMO_PREMINED; h++) {
      const txs: ParsedTx[] = [];
      // Before the demo, someone paid alice a few times in the last blocks.
      if (h >= DEMO_ALICE_FUNDED_FROM) txs.push(this.networkTx(demoKeyHash('alice', h % DEMO_ALICE_KEYS), this.rng.int(10, 300) * COIN / 100));
      this.mine(h >= DEMO_ALICE_FUNDED_FROM ? demoKeyHash('alice', 0) : this.rng.bytes(20), start + h * 600, txs);
    }
    // The mempool the node starts with (mempool.dat): one pays alice.
    this.acceptToMempool(this.networkTx(demoKeyHash('alice', 1), COIN / 4).raw);
    for (let i = 0; i < 2; i++) this.acceptToMempool(this.networkTx(this.rng.bytes(20), this.rng.int(1, 100) * COIN / 100).raw);
  }

  get tip(): Block {
    return this.blocks[this.blocks.length - 1]!;
  }

  get height(): number {
    return this.tip.height;
  }

  byHashOf(hash: Uint8Array | null | undefined): Block | undefined {
    return hash ? this.byHash.get(toHex(hash)) : undefined;
  }

  at(height: number): Block | undefined {
    return this.blocks[height];
  }

  /** First block with time >= minTime and height >= minHeight. */
  firstWithTimeAndHeight(minTime: number, minHeight: number): Block | undefined {
    for (let h = Math.max(0, minHeight); h < this.blocks.length; h++) {
      const b = this.blocks[h]!;
      if (b.maxTime >= minTime) return b;
    }
    return undefined;
  }

  private add(b: Block): void {
    this.blocks.push(b);
    this.byHash.set(toHex(b.hash), b);
  }

  /** Mines a block with `txs` (default: the whole mempool) paying the coinbase to `payTo`. */
  mine(payTo: Uint8Array, time = Math.max(Math.floor(Date.now() / 1000), this.tip.time + 1), txs?: ParsedTx[]): Block {
    const height = this.tip.height + 1;
    const included = txs ?? [...this.mempool.values()].slice(0, 100).map((e) => e.tx);
    let fees = 0;
    for (const t of included) fees += this.mempool.get(toHex(t.txid))?.fee ?? 0;
    const all = [coinbaseTx(height, subsidy(height) + fees, payTo), ...included];
    const header = { version: 0x20000000, prev: this.tip.hash, merkleRoot: merkleRoot(all), time, bits: 0x207fffff, nonce: this.rng.int(0, 0xffffffff) };
    const hash = sha256d(serializeHeader(header));
    const times = this.blocks.slice(-11).map((b) => b.time);
    times.push(time);
    times.sort((a, b) => a - b);
    const b: Block = {
      hash,
      prev: this.tip.hash,
      height,
      time,
      mtp: times[Math.floor(times.length / 2)]!,
      maxTime: Math.max(time, this.tip.maxTime),
      txs: all,
      data: serializeBlock(header, all),
    };
    for (const t of all) {
      this.mempool.delete(toHex(t.txid));
      this.record(t);
    }
    this.add(b);
    // fee estimates drift block by block
    this.feeRate = Math.max(1000, Math.min(50_000, Math.round(this.feeRate * (0.8 + this.rng.next() * 0.45))));
    return b;
  }

  private record(t: ParsedTx): void {
    const id = toHex(t.txid);
    if (!t.coinbase) for (const i of t.inputs) this.spent.set(outpointKey(i.prevout), id);
    t.outputs.forEach((o, vout) => this.outputs.set(`${id}:${vout}`, o.value));
  }

  /** A transaction from "the network": spends coins the node does not track, pays `keyHash`. */
  networkTx(keyHash: Uint8Array, value: number): ParsedTx {
    const outputs = [{ value, script: p2wpkh(keyHash) }];
    if (this.rng.chance(0.7)) outputs.push({ value: this.rng.int(1, 5000) * 100_000, script: p2wpkh(this.rng.bytes(20)) });
    return withIds({
      version: 2,
      inputs: [{ prevout: { txid: this.rng.bytes(32), vout: this.rng.int(0, 3) }, scriptSig: new Uint8Array(0), sequence: 0xfffffffd }],
      outputs,
      locktime: 0,
    });
  }

  /** A random transaction arriving from a peer: pays a known wallet key (often) or a stranger. */
  randomNetworkTx(): ParsedTx {
    const known = this.knownKeys.length > 0 && this.rng.chance(0.6);
    const key = known ? this.rng.pick(this.knownKeys) : this.rng.bytes(20);
    return this.networkTx(key, this.rng.int(1, 200) * COIN / 100);
  }

  learnKey(keyHash: Uint8Array): void {
    if (!this.knownKeys.some((k) => toHex(k) === toHex(keyHash))) this.knownKeys.push(keyHash);
  }

  /** Accepts a transaction into the mempool; returns an error string if rejected. */
  acceptToMempool(raw: Uint8Array, maxTxFee = 0): { tx?: ParsedTx; error?: string } {
    let tx: ParsedTx;
    try {
      tx = parseTx(raw);
    } catch (e) {
      return { error: `TX decode failed: ${(e as Error).message}` };
    }
    const id = toHex(tx.txid);
    if (this.mempool.has(id)) return { tx };
    if (tx.coinbase) return { error: 'coinbase' };
    let inValue = 0;
    let known = true;
    for (const i of tx.inputs) {
      const k = outpointKey(i.prevout);
      if (this.spent.has(k)) return { error: this.inMempool(this.spent.get(k)!) ? 'txn-mempool-conflict' : 'bad-txns-inputs-missingorspent' };
      const v = this.outputs.get(k);
      if (v === undefined) known = false;
      else inValue += v;
    }
    const outValue = tx.outputs.reduce((s, o) => s + o.value, 0);
    const fee = known ? inValue - outValue : Math.round((this.feeRate * raw.length) / 1000);
    if (known && fee < 0) return { error: 'bad-txns-in-belowout' };
    if (maxTxFee > 0 && fee > maxTxFee) return { error: 'max-fee-exceeded' };
    this.mempool.set(id, { tx, time: Date.now(), fee });
    this.record(tx);
    return { tx };
  }

  inMempool(txidHex: string): boolean {
    return this.mempool.has(txidHex);
  }

  hasDescendants(txidHex: string): boolean {
    for (const e of this.mempool.values()) if (e.tx.inputs.some((i) => toHex(i.prevout.txid) === txidHex)) return true;
    return false;
  }

  /** Fee rate estimate (sat/kvB) for confirmation within `blocks`. */
  estimateFee(blocks: number): number {
    return Math.round(this.feeRate * (1 + 2 / Math.max(1, blocks)));
  }

  feeRateData(blocks: number): Uint8Array {
    return encodeFeeRate(this.estimateFee(blocks));
  }

  describeTip(): string {
    return `${this.height} ${hashHex(this.tip.hash).slice(0, 16)}…`;
  }

  /** Whether a P2WPKH script pays one of the keys the node knows. */
  paysKnownKey(script: Uint8Array): boolean {
    const k = keyHashOf(script);
    return k !== null && this.knownKeys.some((x) => toHex(x) === toHex(k));
  }
}
