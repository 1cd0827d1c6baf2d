// Just enough Bitcoin for the demo processes: transactions and blocks in
// Bitcoin's legacy serialization (so Data fields on the wire look like the
// real thing), double-SHA256 ids, P2WPKH outputs, fee rates, and the
// deterministic demo keys both processes derive (a regtest chain that was
// `generatetoaddress`-ed to the wallet "alice" before the demo started).

import { createHash } from 'node:crypto';

export const COIN = 100_000_000;
export const COINBASE_MATURITY = 100;
/** Blocks the demo node's chain starts with (10-minute spacing, the last one mined "now"). */
export const DEMO_PREMINED = 200;
/** From this height on, the premined blocks paid the wallet "alice" (her first 5 keys). */
export const DEMO_ALICE_FUNDED_FROM = 192;
/** Keys of alice used before the demo started. */
export const DEMO_ALICE_KEYS = 5;
/** Bitcoin Core's TIMESTAMP_WINDOW: rescans start this much before a wallet's birth time. */
export const TIMESTAMP_WINDOW = 2 * 60 * 60;
/** Regtest genesis block hash (internal byte order). */
export const REGTEST_GENESIS = hexToBytes('0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206').reverse();

export interface OutPoint {
  txid: Uint8Array;
  vout: number;
}

export interface TxOut {
  value: number;
  /** scriptPubKey; P2WPKH is 0x00 0x14 <20-byte key hash>. */
  script: Uint8Array;
}

export interface Tx {
  version: number;
  inputs: { prevout: OutPoint; scriptSig: Uint8Array; sequence: number }[];
  outputs: TxOut[];
  locktime: number;
}

export interface ParsedTx extends Tx {
  raw: Uint8Array;
  txid: Uint8Array;
  coinbase: boolean;
}

export interface BlockHeader {
  version: number;
  prev: Uint8Array;
  merkleRoot: Uint8Array;
  time: number;
  bits: number;
  nonce: number;
}

export function sha256d(b: Uint8Array): Uint8Array {
  const h1 = createHash('sha256').update(b).digest();
  return new Uint8Array(createHash('sha256').update(h1).digest());
}

export function hexToBytes(h: string): Uint8Array {
  return new Uint8Array(Buffer.from(h, 'hex'));
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

/** A hash as Bitcoin displays it (reversed hex). */
export function hashHex(b: Uint8Array): string {
  return Buffer.from(b).reverse().toString('hex');
}

export function outpointKey(o: OutPoint): string {
  return `${toHex(o.txid)}:${o.vout}`;
}

export function bytesEqual(a: Uint8Array | null | undefined, b: Uint8Array | null | undefined): boolean {
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The 20-byte key hash of demo key `index` of wallet `name` (both processes derive the same). */
export function demoKeyHash(name: string, index: number): Uint8Array {
  return new Uint8Array(createHash('sha256').update(`ipc-trace demo key ${name}/${index}`).digest().subarray(0, 20));
}

export function p2wpkh(keyHash: Uint8Array): Uint8Array {
  const s = new Uint8Array(22);
  s[0] = 0x00;
  s[1] = 0x14;
  s.set(keyHash, 2);
  return s;
}

/** The key hash a P2WPKH script pays to, or null. */
export function keyHashOf(script: Uint8Array): Uint8Array | null {
  return script.length === 22 && script[0] === 0 && script[1] === 0x14 ? script.subarray(2) : null;
}

/** Regtest block subsidy (halving every 150 blocks). */
export function subsidy(height: number): number {
  const halvings = Math.floor(height / 150);
  return halvings >= 64 ? 0 : Math.floor((50 * COIN) / 2 ** halvings);
}

// ---- serialization -----------------------------------------------------------

class Writer {
  private parts: Uint8Array[] = [];
  u8(n: number): void {
    this.parts.push(Uint8Array.of(n & 0xff));
  }
  u32(n: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n >>> 0);
    this.parts.push(b);
  }
  i64(n: number): void {
    const b = Buffer.alloc(8);
    b.writeBigInt64LE(BigInt(n));
    this.parts.push(b);
  }
  varint(n: number): void {
    if (n < 0xfd) this.u8(n);
    else {
      this.u8(0xfd);
      const b = Buffer.alloc(2);
      b.writeUInt16LE(n);
      this.parts.push(b);
    }
  }
  bytes(b: Uint8Array): void {
    this.parts.push(b);
  }
  varbytes(b: Uint8Array): void {
    this.varint(b.length);
    this.bytes(b);
  }
  done(): Uint8Array {
    return new Uint8Array(Buffer.concat(this.parts));
  }
}

class Reader {
  off = 0;
  constructor(private readonly b: Uint8Array) {}
  private need(n: number): void {
    if (this.off + n > this.b.length) throw new Error('truncated transaction or block');
  }
  u8(): number {
    this.need(1);
    return this.b[this.off++]!;
  }
  u32(): number {
    this.need(4);
    const v = Buffer.from(this.b.buffer, this.b.byteOffset + this.off, 4).readUInt32LE();
    this.off += 4;
    return v;
  }
  i64(): number {
    this.need(8);
    const v = Buffer.from(this.b.buffer, this.b.byteOffset + this.off, 8).readBigInt64LE();
    this.off += 8;
    return Number(v);
  }
  varint(): number {
    const x = this.u8();
    if (x < 0xfd) return x;
    if (x !== 0xfd) throw new Error('varint too large for the demo');
    this.need(2);
    const v = Buffer.from(this.b.buffer, this.b.byteOffset + this.off, 2).readUInt16LE();
    this.off += 2;
    return v;
  }
  bytes(n: number): Uint8Array {
    this.need(n);
    const v = this.b.slice(this.off, this.off + n);
    this.off += n;
    return v;
  }
  varbytes(): Uint8Array {
    return this.bytes(this.varint());
  }
  get rest(): number {
    return this.b.length - this.off;
  }
}

export function serializeTx(tx: Tx): Uint8Array {
  const w = new Writer();
  w.u32(tx.version);
  w.varint(tx.inputs.length);
  for (const i of tx.inputs) {
    w.bytes(i.prevout.txid);
    w.u32(i.prevout.vout);
    w.varbytes(i.scriptSig);
    w.u32(i.sequence);
  }
  w.varint(tx.outputs.length);
  for (const o of tx.outputs) {
    w.i64(o.value);
    w.varbytes(o.script);
  }
  w.u32(tx.locktime);
  return w.done();
}

function readTx(r: Reader, raw: Uint8Array): ParsedTx {
  const start = r.off;
  const version = r.u32();
  const nIn = r.varint();
  const inputs: Tx['inputs'] = [];
  for (let i = 0; i < nIn; i++) {
    const txid = r.bytes(32);
    const vout = r.u32();
    const scriptSig = r.varbytes();
    const sequence = r.u32();
    inputs.push({ prevout: { txid, vout }, scriptSig, sequence });
  }
  const nOut = r.varint();
  const outputs: TxOut[] = [];
  for (let i = 0; i < nOut; i++) {
    const value = r.i64();
    outputs.push({ value, script: r.varbytes() });
  }
  const locktime = r.u32();
  const bytes = raw.slice(start, r.off);
  const coinbase = inputs.length === 1 && inputs[0]!.prevout.vout === 0xffffffff && inputs[0]!.prevout.txid.every((x) => x === 0);
  return { version, inputs, outputs, locktime, raw: bytes, txid: sha256d(bytes), coinbase };
}

export function parseTx(raw: Uint8Array): ParsedTx {
  const r = new Reader(raw);
  const tx = readTx(r, raw);
  if (r.rest !== 0) throw new Error('trailing bytes after the transaction');
  return tx;
}

export function withIds(tx: Tx): ParsedTx {
  return parseTx(serializeTx(tx));
}

export function serializeHeader(h: BlockHeader): Uint8Array {
  const w = new Writer();
  w.u32(h.version);
  w.bytes(h.prev);
  w.bytes(h.merkleRoot);
  w.u32(h.time);
  w.u32(h.bits);
  w.u32(h.nonce);
  return w.done();
}

export function serializeBlock(h: BlockHeader, txs: ParsedTx[]): Uint8Array {
  const w = new Writer();
  w.bytes(serializeHeader(h));
  w.varint(txs.length);
  for (const t of txs) w.bytes(t.raw);
  return w.done();
}

export function parseBlock(raw: Uint8Array): { header: BlockHeader; hash: Uint8Array; txs: ParsedTx[] } {
  const r = new Reader(raw);
  const hb = r.bytes(80);
  const hr = new Reader(hb);
  const header: BlockHeader = { version: hr.u32(), prev: hr.bytes(32), merkleRoot: hr.bytes(32), time: hr.u32(), bits: hr.u32(), nonce: hr.u32() };
  const n = r.varint();
  const txs: ParsedTx[] = [];
  for (let i = 0; i < n; i++) txs.push(readTx(r, raw));
  return { header, hash: sha256d(hb), txs };
}

/** A (simplified) merkle root: the double-SHA256 of the concatenated txids. */
export function merkleRoot(txs: ParsedTx[]): Uint8Array {
  return sha256d(new Uint8Array(Buffer.concat(txs.map((t) => t.txid))));
}

export function coinbaseTx(height: number, value: number, keyHash: Uint8Array): ParsedTx {
  const w = new Writer();
  // BIP34 height push
  const hb = Buffer.alloc(4);
  hb.writeUInt32LE(height);
  w.u8(3);
  w.bytes(hb.subarray(0, 3));
  w.bytes(Buffer.from('ipc-trace demo'));
  return withIds({
    version: 2,
    inputs: [{ prevout: { txid: new Uint8Array(32), vout: 0xffffffff }, scriptSig: w.done(), sequence: 0xffffffff }],
    outputs: [{ value, script: p2wpkh(keyHash) }],
    locktime: 0,
  });
}

// ---- fee rates ------------------------------------------------------------------

/** CFeeRate as it is serialized: satoshis per 1000 virtual bytes, int64 LE. */
export function encodeFeeRate(satPerKvB: number): Uint8Array {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(BigInt(Math.round(satPerKvB)));
  return new Uint8Array(b);
}

export function decodeFeeRate(d: Uint8Array | null | undefined): number {
  if (!d || d.length < 8) return 1000;
  return Number(Buffer.from(d.buffer, d.byteOffset, 8).readBigInt64LE());
}

/** Virtual size of a simple P2WPKH transaction, for fees. */
export function estimateVsize(nIn: number, nOut: number): number {
  return 11 + nIn * 68 + nOut * 31;
}

export function formatBtc(sats: number): string {
  return (sats / COIN).toFixed(8);
}

// ---- block locators ----------------------------------------------------------------

/** CBlockLocator: version, then the hashes (tip first, exponentially spaced back). */
export function serializeLocator(hashes: Uint8Array[]): Uint8Array {
  const w = new Writer();
  w.u32(270000);
  w.varint(hashes.length);
  for (const h of hashes) w.bytes(h);
  return w.done();
}

export function parseLocator(d: Uint8Array | null | undefined): Uint8Array[] {
  if (!d || d.length < 5) return [];
  const r = new Reader(d);
  r.u32();
  const n = r.varint();
  const out: Uint8Array[] = [];
  for (let i = 0; i < n && r.rest >= 32; i++) out.push(r.bytes(32));
  return out;
}

// ---- bech32 addresses (BIP173, witness v0) --------------------------------------------

const BECH32_CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';

function bech32Polymod(values: number[]): number {
  const GEN = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
  let chk = 1;
  for (const v of values) {
    const b = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((b >>> i) & 1) chk ^= GEN[i]!;
  }
  return chk >>> 0;
}

function hrpExpand(hrp: string): number[] {
  const out: number[] = [];
  for (const c of hrp) out.push(c.charCodeAt(0) >> 5);
  out.push(0);
  for (const c of hrp) out.push(c.charCodeAt(0) & 31);
  return out;
}

function convertBits(data: Uint8Array | number[], from: number, to: number, pad: boolean): number[] | null {
  let acc = 0;
  let bits = 0;
  const out: number[] = [];
  const maxv = (1 << to) - 1;
  for (const v of data) {
    acc = (acc << from) | v;
    bits += from;
    while (bits >= to) {
      bits -= to;
      out.push((acc >> bits) & maxv);
    }
  }
  if (pad) {
    if (bits > 0) out.push((acc << (to - bits)) & maxv);
  } else if (bits >= from || ((acc << (to - bits)) & maxv) !== 0) return null;
  return out;
}

/** The regtest P2WPKH address (bcrt1q…) of a key hash. */
export function encodeAddress(keyHash: Uint8Array, hrp = 'bcrt'): string {
  const data = [0, ...convertBits(keyHash, 8, 5, true)!];
  const poly = bech32Polymod([...hrpExpand(hrp), ...data, 0, 0, 0, 0, 0, 0]) ^ 1;
  const checksum = [0, 1, 2, 3, 4, 5].map((i) => (poly >>> (5 * (5 - i))) & 31);
  return `${hrp}1${[...data, ...checksum].map((d) => BECH32_CHARSET[d]).join('')}`;
}

/** The key hash of a P2WPKH bech32 address, or null. */
export function decodeAddress(addr: string): Uint8Array | null {
  const a = addr.toLowerCase();
  const sep = a.lastIndexOf('1');
  if (sep < 1) return null;
  const hrp = a.slice(0, sep);
  const data: number[] = [];
  for (const c of a.slice(sep + 1)) {
    const d = BECH32_CHARSET.indexOf(c);
    if (d < 0) return null;
    data.push(d);
  }
  if (data.length < 7 || bech32Polymod([...hrpExpand(hrp), ...data]) !== 1) return null;
  if (data[0] !== 0) return null;
  const prog = convertBits(data.slice(1, -6), 5, 8, false);
  return prog && prog.length === 20 ? new Uint8Array(prog) : null;
}
