// What a demo wallet knows (its "wallet file"): keys, coins, transactions and
// the last block it processed. Pure bookkeeping, no IPC; the process code
// (wallet.ts) holds cs_wallet around every use.

import {
  COINBASE_MATURITY, OutPoint, ParsedTx, bytesEqual, demoKeyHash, estimateVsize, keyHashOf, outpointKey, p2wpkh, toHex, withIds,
} from '../demo/bitcoin.js';

export interface Coin {
  outpoint: OutPoint;
  value: number;
  keyHash: Uint8Array;
  /** Height of the block that confirmed it; null while in the mempool. */
  height: number | null;
  coinbase: boolean;
  time: number;
  /** txid (hex) of the wallet transaction spending it. */
  spentBy: string | null;
}

export interface WalletTxRecord {
  tx: ParsedTx;
  height: number | null;
  time: number;
  credit: number;
  debit: number;
  fromMe: boolean;
}

export interface Balances {
  balance: number;
  unconfirmedBalance: number;
  immatureBalance: number;
}

export class WalletFile {
  readonly keys = new Map<string, number>();
  nextIndex = 0;
  readonly coins = new Map<string, Coin>();
  readonly txs = new Map<string, WalletTxRecord>();
  readonly addressBook = new Map<string, string>();
  readonly lockedCoins = new Set<string>();
  lastBlock: { hash: Uint8Array; height: number } | null = null;
  locator: Uint8Array | null = null;

  constructor(
    readonly name: string,
    /** Unix time of the wallet's first key. */
    readonly birthTime: number,
    usedKeys = 0,
  ) {
    for (let i = 0; i < usedKeys; i++) this.newKey();
  }

  /** The next key (a new receiving address). */
  newKey(label = ''): Uint8Array {
    const k = demoKeyHash(this.name, this.nextIndex);
    this.keys.set(toHex(k), this.nextIndex++);
    if (label) this.addressBook.set(toHex(k), label);
    return k;
  }

  isMine(script: Uint8Array): Uint8Array | null {
    const k = keyHashOf(script);
    return k && this.keys.has(toHex(k)) ? k : null;
  }

  /** Adds a transaction the chain or mempool reports, if it concerns us; returns whether it did. */
  sync(tx: ParsedTx, height: number | null, time: number): boolean {
    const id = toHex(tx.txid);
    let debit = 0;
    for (const i of tx.inputs) {
      const c = this.coins.get(outpointKey(i.prevout));
      if (c) {
        debit += c.value;
        c.spentBy = id;
      }
    }
    let credit = 0;
    tx.outputs.forEach((o, vout) => {
      const k = this.isMine(o.script);
      if (!k) return;
      credit += o.value;
      const key = outpointKey({ txid: tx.txid, vout });
      const existing = this.coins.get(key);
      if (existing) existing.height = height ?? existing.height;
      else this.coins.set(key, { outpoint: { txid: tx.txid, vout }, value: o.value, keyHash: k, height, coinbase: tx.coinbase, time, spentBy: null });
    });
    if (debit === 0 && credit === 0) return false;
    const rec = this.txs.get(id);
    if (rec) rec.height = height ?? rec.height;
    else this.txs.set(id, { tx, height, time, credit, debit, fromMe: debit > 0 });
    return true;
  }

  /** A transaction left the mempool without confirming: its coins go, the coins it spent come back. */
  removeUnconfirmed(tx: ParsedTx): void {
    const id = toHex(tx.txid);
    const rec = this.txs.get(id);
    if (!rec || rec.height !== null) return;
    for (const [k, c] of this.coins) if (bytesEqual(c.outpoint.txid, tx.txid) && c.height === null) this.coins.delete(k);
    for (const c of this.coins.values()) if (c.spentBy === id) c.spentBy = null;
    this.txs.delete(id);
  }

  depth(c: { height: number | null }, tipHeight: number): number {
    return c.height === null ? 0 : tipHeight - c.height + 1;
  }

  balances(tipHeight: number): Balances {
    const b: Balances = { balance: 0, unconfirmedBalance: 0, immatureBalance: 0 };
    for (const c of this.coins.values()) {
      if (c.spentBy) continue;
      const d = this.depth(c, tipHeight);
      if (c.coinbase && d < COINBASE_MATURITY) b.immatureBalance += c.value;
      else if (d === 0 && !this.txs.get(toHex(c.outpoint.txid))?.fromMe) b.unconfirmedBalance += c.value;
      else b.balance += c.value;
    }
    return b;
  }

  spendable(tipHeight: number): Coin[] {
    return [...this.coins.values()].filter((c) => {
      if (c.spentBy || this.lockedCoins.has(outpointKey(c.outpoint))) return false;
      const d = this.depth(c, tipHeight);
      if (c.coinbase && d < COINBASE_MATURITY) return false;
      return d > 0 || this.txs.get(toHex(c.outpoint.txid))?.fromMe === true;
    });
  }

  /**
   * Coin selection (largest first) for `amount` at `feeRate` sat/kvB; the
   * change goes to a new key. Returns the unsigned transaction or an error.
   */
  createTransaction(
    recipients: { keyHash: Uint8Array; amount: number }[],
    feeRate: number,
    tipHeight: number,
  ): { tx: ParsedTx; fee: number; changePos: number } | { error: string } {
    const amount = recipients.reduce((s, r) => s + r.amount, 0);
    if (amount <= 0) return { error: 'Transaction amount too small' };
    const coins = this.spendable(tipHeight).sort((a, b) => b.value - a.value);
    const picked: Coin[] = [];
    let total = 0;
    let fee = 0;
    for (const c of coins) {
      picked.push(c);
      total += c.value;
      fee = Math.ceil((feeRate * estimateVsize(picked.length, recipients.length + 1)) / 1000);
      if (total >= amount + fee) break;
    }
    if (total < amount + fee) return { error: 'Insufficient funds' };
    const outputs = recipients.map((r) => ({ value: r.amount, script: p2wpkh(r.keyHash) }));
    const change = total - amount - fee;
    let changePos = -1;
    if (change > 546) {
      changePos = outputs.length;
      outputs.push({ value: change, script: p2wpkh(this.newKey()) });
    } else fee += change;
    const tx = withIds({
      version: 2,
      // anti-fee-sniping: locktime = current height
      inputs: picked.map((c) => ({ prevout: c.outpoint, scriptSig: new Uint8Array(0), sequence: 0xfffffffd })),
      outputs,
      locktime: tipHeight,
    });
    return { tx, fee, changePos };
  }
}
