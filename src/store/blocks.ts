// Compressed blocks of the session database (layout 3): raw socket chunks
// and params/results texts are stored as blocks of many items, deflated
// together, instead of one row each (a row per chunk or text compressed
// alone would stay at half its size; a block of 32 KB comes to a sixth).
//
// Writing: each stream (a connection's direction, or the session's texts)
// collects its items in memory. Every flush (one per batch, inside its
// transaction) writes the items not yet written as a raw "tail" row, so a
// killed recorder loses nothing already committed; once a stream's tail
// holds BLOCK_BYTES (or the stream ends) its tail rows are replaced by one
// deflated block. A block's key is its first item's key (chunk seq, text
// id): keys grow within a stream, so the block holding key K is the one
// with the greatest key <= K.
//
// Block payload: u32 n, then n item lengths (u32), then (chunk blocks) n
// keys and n times (f64), then the items' bytes one after the other.

import { deflateRawScratch, inflateRaw } from './zstream.js';

/** Bytes of items a stream collects before they go into one deflated block. */
export const BLOCK_BYTES = 32 << 10;
/** All streams' tails together: past this the largest are written as blocks early. */
const TAILS_MAX = 16 << 20;

export interface BlockItems {
  n: number;
  lens: Uint32Array;
  /** Per item (chunk blocks): its key (seq) and time; text blocks leave them out (keys follow the block's). */
  keys: Float64Array | null;
  times: Float64Array | null;
  /** Start of each item in `bytes`. */
  starts: Uint32Array;
  bytes: Buffer;
}

export function encodeBlock(n: number, lens: ArrayLike<number>, keys: ArrayLike<number> | null, times: ArrayLike<number> | null, bytes: Buffer): Buffer {
  const head = 4 + 4 * n + (keys ? 16 * n : 0);
  const out = Buffer.allocUnsafe(head + bytes.length);
  out.writeUInt32LE(n, 0);
  let p = 4;
  for (let i = 0; i < n; i++, p += 4) out.writeUInt32LE(lens[i]!, p);
  if (keys && times) {
    for (let i = 0; i < n; i++, p += 8) out.writeDoubleLE(keys[i]!, p);
    for (let i = 0; i < n; i++, p += 8) out.writeDoubleLE(times[i]!, p);
  }
  bytes.copy(out, head);
  return out;
}

const LE = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** `n` little-endian numbers at `p` of `b`, into a typed array (a copy: `b` need not be aligned). */
function numbers<T extends Uint32Array | Float64Array>(make: new (n: number) => T, b: Buffer, p: number, n: number): T {
  const out = new make(n);
  const size = out.BYTES_PER_ELEMENT;
  if (LE) new Uint8Array(out.buffer).set(b.subarray(p, p + n * size));
  else for (let i = 0; i < n; i++) out[i] = size === 8 ? b.readDoubleLE(p + 8 * i) : b.readUInt32LE(p + 4 * i);
  return out;
}

/**
 * A block's items (z 1: the payload is deflated). `scratch`: its bytes may be
 * left in this thread's inflate buffer, valid until the next inflate (a scan
 * that is done with the block before it reads the next).
 */
export function decodeBlock(data: Buffer, z: number, withKeys: boolean, scratch = false): BlockItems {
  const b = z === 1 ? inflateRaw(data, scratch) : data;
  const n = b.readUInt32LE(0);
  let p = 4;
  const lens = numbers(Uint32Array, b, p, n);
  p += 4 * n;
  let keys: Float64Array | null = null;
  let times: Float64Array | null = null;
  if (withKeys) {
    keys = numbers(Float64Array, b, p, n);
    times = numbers(Float64Array, b, p + 8 * n, n);
    p += 16 * n;
  }
  const starts = new Uint32Array(n);
  let s = 0;
  for (let i = 0; i < n; i++) {
    starts[i] = s;
    s += lens[i]!;
  }
  return { n, lens, keys, times, starts, bytes: b.subarray(p) };
}

/** One stream's items not yet in a deflated block (its tail). */
export class OpenStream {
  buf = Buffer.allocUnsafe(1024);
  /** Bytes of the tail. */
  len = 0;
  /** Stream offset of the tail's first byte (chunk streams: bytes of the direction before it). */
  base = 0;
  keys: number[] = [];
  times: number[] = [];
  lens: number[] = [];
  /** Items of the tail already written (in raw tail rows). */
  written = 0;
  writtenBytes = 0;
  /** Keys of the raw tail rows. */
  rows: number[] = [];
  /** A byte already written was changed (redaction): the tail rows are written again. */
  dirty = false;
  /** The stream may not be deflated yet (redaction waits for the end of a frame). */
  hold = false;
  /** Chunk streams: their connection and direction. */
  conn = 0;
  dir = '';

  constructor(readonly id: string) {}

  private reserve(n: number): void {
    const need = this.len + n;
    if (need > this.buf.length) {
      const b = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2));
      this.buf.copy(b, 0, 0, this.len);
      this.buf = b;
    }
  }

  /** Adds an item: bytes, or a text (stored as UTF-8); returns its length in bytes. */
  add(key: number, time: number, bytes: Uint8Array | string): number {
    let n: number;
    if (typeof bytes === 'string') {
      this.reserve(bytes.length * 3);
      n = this.buf.write(bytes, this.len, 'utf8');
    } else {
      this.reserve(bytes.length);
      this.buf.set(bytes, this.len);
      n = bytes.length;
    }
    this.len += n;
    this.keys.push(key);
    this.times.push(time);
    this.lens.push(n);
    return n;
  }

  get n(): number {
    return this.keys.length;
  }
}

/** Where a block's items lie: its table row without the data. */
export interface BlockRow {
  key: number;
  conn: number;
  dir: string;
  /** Stream offset of its first byte. */
  offset: number;
  size: number;
  n: number;
  lastTime: number;
}

/** A block's payload size: the header (see encodeBlock) and the items' bytes. */
export const payloadSize = (n: number, size: number, withKeys: boolean) => 4 + 4 * n + (withKeys ? 16 * n : 0) + size;

export interface BlockTable {
  /** Keys per item are stored (chunks); else they are the block's key + index (texts). */
  withKeys: boolean;
  /** zlib level: texts deflate to half at 6 than at 1, still at 200 MB/s; chunks gain less for their cost. */
  level: number;
  /**
   * Small blocks (a short connection's direction) are deflated together, one
   * pack per flush (a deflate call costs about as much as 10 KB deflated):
   * z = 2, the payload at `packAt` in the pack's inflated data.
   */
  pack?: (data: Buffer) => number;
  /** z: 0 raw (a tail row), 1 deflated alone, 2 in a pack. */
  insert(row: BlockRow, z: number, data: Buffer | null, pack: number | null, packAt: number | null): void;
  remove(key: number): void;
}

/** Blocks smaller than this go into a pack. */
const PACK_SMALL = 8 << 10;
/** A pack is written once it holds this much. */
const PACK_BYTES = 256 << 10;

/** The streams of one block table being written. */
export class BlockWriter {
  readonly streams = new Map<string, OpenStream>();
  private tails = 0;
  private packed: { row: BlockRow; payload: Buffer }[] = [];
  private packedBytes = 0;

  constructor(private readonly table: BlockTable) {}

  stream(id: string): OpenStream {
    let s = this.streams.get(id);
    if (!s) this.streams.set(id, (s = new OpenStream(id)));
    return s;
  }

  add(s: OpenStream, key: number, time: number, bytes: Uint8Array | string): void {
    this.tails += s.add(key, time, bytes);
  }

  /** Writes what each stream collected since the last flush (inside the caller's transaction). */
  flush(): void {
    for (const s of this.streams.values()) if (s.written < s.n || s.dirty) this.write(s, s.len >= BLOCK_BYTES && !s.hold);
    if (this.tails > TAILS_MAX) {
      const big = [...this.streams.values()].filter((s) => !s.hold).sort((a, b) => b.len - a.len);
      for (const s of big) {
        if (this.tails <= TAILS_MAX / 2) break;
        if (s.n) this.write(s, true);
      }
    }
    this.writePack();
  }

  /** Writes a stream's tail as a deflated block and forgets the stream (it has ended); written by the next flush at the latest. */
  close(id: string): void {
    const s = this.streams.get(id);
    if (!s) return;
    if (s.n) this.write(s, true);
    this.streams.delete(id);
  }

  /** Every stream's tail as deflated blocks (the recording ends). */
  finish(): void {
    for (const id of [...this.streams.keys()]) this.close(id);
    this.writePack();
  }

  private writePack(): void {
    if (this.packed.length === 0) return;
    const data = deflateRawScratch(Buffer.concat(this.packed.map((p) => p.payload)), this.table.level);
    const id = this.table.pack!(data);
    let at = 0;
    for (const p of this.packed) {
      this.table.insert(p.row, 2, null, id, at);
      at += p.payload.length;
    }
    this.packed = [];
    this.packedBytes = 0;
  }

  /** Items [from, to) of a stream, bytes [start, end) of its buffer, as a block payload and its row. */
  private block(s: OpenStream, from: number, to: number, start: number, end: number): { row: BlockRow; payload: Buffer } {
    const keys = this.table.withKeys ? s.keys.slice(from, to) : null;
    const payload = encodeBlock(to - from, s.lens.slice(from, to), keys, keys ? s.times.slice(from, to) : null, s.buf.subarray(start, end));
    return { row: { key: s.keys[from]!, conn: s.conn, dir: s.dir, offset: s.base + start, size: end - start, n: to - from, lastTime: s.times[to - 1]! }, payload };
  }

  private write(s: OpenStream, final: boolean): void {
    if (final || s.dirty) {
      for (const k of s.rows) this.table.remove(k);
      s.rows = [];
      s.written = 0;
      s.writtenBytes = 0;
      s.dirty = false;
    }
    if (s.written === s.n) return;
    if (!final) {
      const { row, payload } = this.block(s, s.written, s.n, s.writtenBytes, s.len);
      this.table.insert(row, 0, payload, null, null);
      s.rows.push(row.key);
      s.written = s.n;
      s.writtenBytes = s.len;
      return;
    }
    // Deflated blocks of BLOCK_BYTES to twice that each, as the items allow (a reader inflates a whole
    // block to read one item; a smaller one compresses worse).
    const target = s.len / Math.max(1, Math.floor(s.len / BLOCK_BYTES));
    for (let i = 0, start = 0; i < s.n; ) {
      let j = i;
      let end = start;
      while (j < s.n && (j === i || end - start + s.lens[j]! <= target)) end += s.lens[j++]!;
      const { row, payload } = this.block(s, i, j, start, end);
      if (this.table.pack && payload.length < PACK_SMALL) {
        this.packed.push({ row, payload });
        this.packedBytes += payload.length;
        if (this.packedBytes >= PACK_BYTES) this.writePack();
      } else this.table.insert(row, 1, deflateRawScratch(payload, this.table.level), null, null);
      i = j;
      start = end;
    }
    this.tails -= s.len;
    s.base += s.len;
    s.len = 0;
    s.keys = [];
    s.times = [];
    s.lens = [];
    s.written = 0;
    s.writtenBytes = 0;
    if (s.buf.length > 4 * BLOCK_BYTES) s.buf = Buffer.allocUnsafe(1024);
  }
}

/** Decoded blocks a reader used last (a few, by table and key). */
export class BlockCache<T> {
  private readonly map = new Map<number, T>();
  constructor(private readonly size = 16) {}

  get(key: number, load: () => T): T {
    let b = this.map.get(key);
    if (b !== undefined) {
      this.map.delete(key);
      this.map.set(key, b);
      return b;
    }
    b = load();
    this.map.set(key, b);
    if (this.map.size > this.size) this.map.delete(this.map.keys().next().value!);
    return b;
  }
}
