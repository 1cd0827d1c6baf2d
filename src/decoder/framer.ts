// Splits one direction's byte stream into Cap'n Proto messages (standard
// stream framing: segment count - 1, segment sizes in words, padding,
// segments). Chunks may split messages anywhere. Frames that break the
// live C++ reader's limits become error events; the framer then skips the
// frame's declared length without buffering it and goes on.

import { DEFAULT_TRAVERSAL_LIMIT_WORDS } from './wire.js';

export const MAX_SEGMENTS = 512; // a message must have fewer
/** Segment tables larger than this cannot be skipped reliably: the stream is given up. */
export const MAX_SKIPPABLE_TABLE_SEGMENTS = 1 << 16;

export interface Frame {
  /** The whole frame, segment table included. */
  bytes: Uint8Array;
  segments: Uint8Array[];
  /** Offset of the frame's first byte in the direction's stream. */
  offset: number;
}

export type FramerEvent =
  | { kind: 'frame'; frame: Frame }
  | {
      kind: 'error';
      offset: number;
      reason: string;
      bytes: Uint8Array;
      /** True when the error stands for a whole frame that arrived (and was rejected), not for lost bytes. */
      wholeFrame: boolean;
    };

export class Framer {
  /** Bytes received but not yet framed (kept as chunks until a whole frame is there). */
  private chunks: Uint8Array[] = [];
  private pendingLen = 0;
  /** Bytes needed (from the start of pending) before parsing can progress. */
  private need = 4;
  /** Stream offset of the first pending byte. */
  private offset = 0;
  /** Bytes of a rejected frame still to be dropped. */
  private skip = 0;
  /** The error for the frame being dropped, reported once its last byte has arrived. */
  private skipError: Extract<FramerEvent, { kind: 'error' }> | null = null;
  /** Set when framing cannot be recovered: the rest of the stream is not decoded. */
  private lost = false;
  private lostBytes = 0;

  constructor(private readonly limitWords = DEFAULT_TRAVERSAL_LIMIT_WORDS) {}

  /** Feeds a chunk; returns the frames and errors it completes. */
  push(chunk: Uint8Array): FramerEvent[] {
    // Frames and segments are views of a plain Uint8Array: cheaper to cut than a Buffer, whose methods nothing needs.
    if (Buffer.isBuffer(chunk)) chunk = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const out: FramerEvent[] = [];
    let data = this.drop(chunk, out);
    if (data.length === 0) return out;
    if (this.pendingLen > 0) {
      this.chunks.push(data);
      this.pendingLen += data.length;
      if (this.pendingLen < this.need) return out;
      data = concat(this.chunks, this.pendingLen);
      this.chunks = [];
      this.pendingLen = 0;
    }
    let pos = 0;
    while (pos < data.length) {
      const r = this.parse(data, pos, out);
      if (r < 0) break;
      pos = r;
      if (this.lost || this.skip > 0) {
        const rest = this.drop(data.subarray(pos), out);
        pos = data.length - rest.length;
      }
    }
    if (pos < data.length) {
      this.chunks = [data.subarray(pos)];
      this.pendingLen = data.length - pos;
    } else {
      this.need = 4;
    }
    return out;
  }

  /** Consumes the bytes of a skipped frame or of a lost stream; returns what is left to frame. */
  private drop(data: Uint8Array, out: FramerEvent[]): Uint8Array {
    if (this.lost) {
      this.lostBytes += data.length;
      this.offset += data.length;
      return data.subarray(data.length);
    }
    if (this.skip > 0) {
      const n = Math.min(this.skip, data.length);
      this.skip -= n;
      this.offset += n;
      if (this.skip === 0 && this.skipError) {
        out.push(this.skipError);
        this.skipError = null;
      }
      return data.subarray(n);
    }
    return data;
  }

  /** Ends the stream: an incomplete frame left over is an error. */
  end(): FramerEvent[] {
    const out: FramerEvent[] = [];
    if (this.pendingLen > 0) {
      const p = concat(this.chunks, this.pendingLen);
      const need = this.declaredSize(p);
      out.push({
        kind: 'error',
        offset: this.offset,
        reason:
          need === null
            ? `stream ended inside a segment table (${p.length} bytes left over)`
            : `stream ended inside a message (${p.length} of ${need} bytes)`,
        bytes: p.subarray(0, 64),
        wholeFrame: false,
      });
      this.offset += p.length;
      this.chunks = [];
      this.pendingLen = 0;
    }
    if (this.skip > 0) {
      const e = this.skipError!;
      out.push({ ...e, reason: `stream ended inside a rejected message (${this.skip} bytes missing): ${e.reason}`, wholeFrame: false });
      this.skip = 0;
      this.skipError = null;
    }
    return out;
  }

  /** Bytes went missing from the stream (not recorded): nothing after this point can be framed. */
  abandon(): void {
    this.lost = true;
    this.lostBytes += this.pendingLen;
    this.chunks = [];
    this.pendingLen = 0;
    this.skip = 0;
    this.skipError = null;
  }

  /** Bytes not decoded because framing was lost. */
  get undecodedBytes(): number {
    return this.lostBytes;
  }

  private declaredSize(p: Uint8Array): number | null {
    if (p.length < 4) return null;
    const dv = new DataView(p.buffer, p.byteOffset, p.byteLength);
    const count = (dv.getUint32(0, true) + 1) >>> 0;
    const header = (4 + 4 * count + 7) & ~7;
    if (p.length < header) return null;
    let total = header;
    for (let i = 0; i < count; i++) total += dv.getUint32(4 + 4 * i, true) * 8;
    return total;
  }

  /** Parses one frame at `pos`; returns the position after it, or -1 when more bytes are needed. */
  private parse(data: Uint8Array, pos: number, out: FramerEvent[]): number {
    const avail = data.length - pos;
    if (avail < 4) {
      this.need = 4;
      return -1;
    }
    const dv = new DataView(data.buffer, data.byteOffset + pos, avail);
    // uint32 arithmetic, as the C++ readers do: 0xffffffff + 1 wraps to 0 segments.
    const count = (dv.getUint32(0, true) + 1) >>> 0;
    const tooMany = count >= MAX_SEGMENTS;
    if (tooMany && count > MAX_SKIPPABLE_TABLE_SEGMENTS) {
      out.push({
        kind: 'error',
        offset: this.offset,
        reason: `Message has too many segments (${count}); framing lost, the rest of this direction is not decoded`,
        bytes: data.subarray(pos, pos + Math.min(avail, 64)),
        wholeFrame: false,
      });
      this.lost = true;
      return pos;
    }
    const header = (4 + 4 * count + 7) & ~7;
    if (avail < header) {
      this.need = header;
      return -1;
    }
    let words = 0;
    for (let i = 0; i < count; i++) words += dv.getUint32(4 + 4 * i, true);
    const total = header + words * 8;
    if (tooMany || words > this.limitWords) {
      this.skipError = {
        kind: 'error',
        offset: this.offset,
        reason: tooMany
          ? `Message has too many segments (${count}, the limit is ${MAX_SEGMENTS - 1})`
          : `Message is too large (${words} words, the limit is ${this.limitWords})`,
        bytes: data.subarray(pos, pos + Math.min(avail, 64)),
        wholeFrame: true,
      };
      this.offset += header;
      this.skip = total - header;
      if (this.skip === 0) {
        out.push(this.skipError);
        this.skipError = null;
      }
      return pos + header;
    }
    if (avail < total) {
      this.need = total;
      return -1;
    }
    const bytes = data.subarray(pos, pos + total);
    const segments: Uint8Array[] = new Array(count);
    let at = header;
    for (let i = 0; i < count; i++) {
      const len = dv.getUint32(4 + 4 * i, true) * 8;
      segments[i] = bytes.subarray(at, at + len);
      at += len;
    }
    out.push({ kind: 'frame', frame: { bytes, segments, offset: this.offset } });
    this.offset += total;
    return pos + total;
  }
}

function concat(chunks: Uint8Array[], length: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(length);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
