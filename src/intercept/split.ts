// Splits one direction's byte stream into whole Cap'n Proto frames for the
// interceptor. Unlike the decoder's Framer (src/decoder/framer.ts) it never
// drops or rejects a frame: every byte it is given comes out again, in
// order, as part of exactly one frame, because the interceptor relays what it
// frames. Cheap: it reads segment tables only; frame bytes are views of the
// chunks (copied only when a frame spans chunks).

import { MAX_SEGMENTS, type Frame } from '../decoder/framer.js';

/** The most bytes a segment table can take (the decoder rejects a message with MAX_SEGMENTS segments or more). */
const MAX_TABLE = 4 + 4 * MAX_SEGMENTS + 8;

export class FrameSplitter {
  private pending: Uint8Array[] = [];
  private pendingLen = 0;
  private offset = 0;
  /** Passing through (pass()): bytes of the current frame still to come. */
  private skipLeft = 0;
  /** Passing through: the start of a frame whose segment table is not complete yet (already sent on). */
  private hdr: Uint8Array | null = null;

  /**
   * Counts frame boundaries in a chunk that is sent on as it is (no rule in
   * force): reads segment tables only, copies nothing but a split table.
   * Call only when nothing is buffered (buffered === 0).
   */
  pass(chunk: Uint8Array): void {
    let pos = 0;
    this.offset += chunk.length;
    while (pos < chunk.length) {
      if (this.skipLeft > 0) {
        const k = Math.min(this.skipLeft, chunk.length - pos);
        this.skipLeft -= k;
        pos += k;
        continue;
      }
      const avail = this.hdr ? concat([this.hdr, chunk.subarray(pos)], Math.min(this.hdr.length + chunk.length - pos, MAX_TABLE)) : chunk.subarray(pos);
      const n = frameLength(avail);
      if (n === null) {
        this.hdr = Uint8Array.from(avail);
        return;
      }
      this.skipLeft = n - (this.hdr?.length ?? 0);
      this.hdr = null;
    }
  }

  /** True while a frame passed through is not complete: the next bytes belong to it. */
  get midFrame(): boolean {
    return this.skipLeft > 0 || this.hdr !== null;
  }

  /**
   * Before framing again after pass(): splits off the rest of a frame whose
   * start was already sent on (to be sent on undecoded), and what follows it.
   */
  takeTail(chunk: Uint8Array): [Uint8Array, Uint8Array] {
    if (this.hdr) {
      const all = concat([this.hdr, chunk], this.hdr.length + chunk.length);
      const n = frameLength(all);
      if (n === null) {
        this.hdr = all;
        this.offset += chunk.length;
        return [chunk, chunk.subarray(chunk.length)];
      }
      this.skipLeft = n - this.hdr.length;
      this.hdr = null;
    }
    const k = Math.min(this.skipLeft, chunk.length);
    this.skipLeft -= k;
    this.offset += k;
    return [chunk.subarray(0, k), chunk.subarray(k)];
  }

  /** Feeds a chunk; returns the frames it completes (each a contiguous view). */
  push(chunk: Uint8Array): Uint8Array[] {
    let data = chunk;
    if (this.pendingLen > 0) {
      this.pending.push(chunk);
      this.pendingLen += chunk.length;
      const need = frameLength(this.pending.length === 1 ? this.pending[0]! : concat(this.pending, Math.min(this.pendingLen, MAX_TABLE)));
      if (need === null || this.pendingLen < need) return [];
      data = concat(this.pending, this.pendingLen);
      this.pending = [];
      this.pendingLen = 0;
    }
    const out: Uint8Array[] = [];
    let pos = 0;
    for (;;) {
      const rest = data.subarray(pos);
      const n = frameLength(rest);
      if (n === null || rest.length < n) break;
      out.push(rest.subarray(0, n));
      pos += n;
    }
    if (pos < data.length) {
      this.pending = [data.subarray(pos)];
      this.pendingLen = data.length - pos;
    }
    for (const f of out) this.offset += f.length;
    return out;
  }

  /** Bytes received that do not make a whole frame yet. */
  get buffered(): number {
    return this.pendingLen;
  }

  /** Stream offset of the next frame. */
  get position(): number {
    return this.offset;
  }
}

/** The whole length of the frame starting at b[0], or null when its segment table is not all there. */
export function frameLength(b: Uint8Array): number | null {
  if (b.length < 4) return null;
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  const count = (dv.getUint32(0, true) + 1) >>> 0;
  const header = (4 + 4 * count + 7) & ~7;
  // Corrupt (the receiver rejects it): the table goes on as its own "frame", known from its first
  // word alone, so the stream never waits for a table longer than push() looks ahead.
  if (count === 0 || count >= MAX_SEGMENTS) return header;
  if (b.length < 4 + 4 * count) return null;
  let words = 0;
  for (let i = 0; i < count; i++) words += dv.getUint32(4 + 4 * i, true);
  return header + words * 8;
}

/** The decoder's Frame for whole frame bytes (segments as views). */
export function toFrame(bytes: Uint8Array, offset: number): Frame {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const count = (dv.getUint32(0, true) + 1) >>> 0;
  let pos = (4 + 4 * count + 7) & ~7;
  const segments: Uint8Array[] = [];
  for (let i = 0; i < count && i < MAX_SEGMENTS; i++) {
    const len = dv.getUint32(4 + 4 * i, true) * 8;
    segments.push(bytes.subarray(pos, pos + len));
    pos += len;
  }
  return { bytes, segments, offset };
}

function concat(chunks: Uint8Array[], max: number): Uint8Array {
  const out = new Uint8Array(max);
  let off = 0;
  for (const c of chunks) {
    if (off >= max) break;
    const k = Math.min(c.length, max - off);
    out.set(c.subarray(0, k), off);
    off += k;
  }
  return out;
}
