// Splits one direction's byte stream into whole Cap'n Proto frames for the
// interceptor. Unlike the decoder's Framer (src/decoder/framer.ts) it never
// drops or rejects a frame: every byte it is given comes out again, in
// order, as part of exactly one frame (or, after a frame length no receiver
// would accept, as the rest of the stream: see `corrupt`), because the
// interceptor relays what it frames. Cheap: it reads segment tables only;
// frame bytes are views of the chunks (copied only when a frame spans chunks).

import { MAX_SEGMENTS, MAX_SKIPPABLE_TABLE_SEGMENTS, type Frame } from '../decoder/framer.js';
import { DEFAULT_TRAVERSAL_LIMIT_WORDS } from '../decoder/wire.js';

/** The most bytes a segment table can take (the decoder rejects a message with MAX_SEGMENTS segments or more). */
const MAX_TABLE = 4 + 4 * MAX_SEGMENTS + 8;

/** frameLength() of a frame announcing more words than a receiver reads (its traversal limit): the framing is lost. */
export const CORRUPT = -1;

export class FrameSplitter {
  private pending: Uint8Array[] = [];
  private pendingLen = 0;
  private offset = 0;
  private lost = false;

  /**
   * Feeds a chunk; returns the frames it completes (each a contiguous view).
   * After a frame announcing an impossible length the framing is lost:
   * `corrupt` is set, push() returns no more frames and the bytes from that
   * frame on are taken with drain().
   */
  push(chunk: Uint8Array): Uint8Array[] {
    if (this.lost) {
      this.pending.push(chunk);
      this.pendingLen += chunk.length;
      return [];
    }
    let data = chunk;
    if (this.pendingLen > 0) {
      this.pending.push(chunk);
      this.pendingLen += chunk.length;
      const need = frameLength(this.pending.length === 1 ? this.pending[0]! : concat(this.pending, Math.min(this.pendingLen, MAX_TABLE)));
      if (need !== CORRUPT && (need === null || this.pendingLen < need)) return [];
      data = concat(this.pending, this.pendingLen);
      this.pending = [];
      this.pendingLen = 0;
    }
    const out: Uint8Array[] = [];
    let pos = 0;
    for (;;) {
      const rest = data.subarray(pos);
      const n = frameLength(rest);
      if (n === CORRUPT) {
        this.lost = true;
        break;
      }
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

  /** The framing is lost (a frame announced more than a receiver reads): what follows is not framed. */
  get corrupt(): boolean {
    return this.lost;
  }

  /** Once corrupt: the bytes received from the corrupt frame on, not returned before. */
  drain(): Uint8Array {
    const all = concat(this.pending, this.pendingLen);
    this.offset += all.length;
    this.pending = [];
    this.pendingLen = 0;
    return all;
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

/**
 * The whole length of the frame starting at b[0], null when its segment
 * table is not all there, or CORRUPT when it announces more words than a
 * receiver reads (or a segment table the decoder does not skip).
 */
export function frameLength(b: Uint8Array): number | null {
  if (b.length < 4) return null;
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  const count = (dv.getUint32(0, true) + 1) >>> 0;
  const header = (4 + 4 * count + 7) & ~7;
  // Corrupt (the receiver rejects it): a table of up to MAX_SKIPPABLE_TABLE_SEGMENTS goes on as its
  // own "frame", known from its first word alone, as the decoder skips it; a longer one loses the framing.
  if (count > MAX_SKIPPABLE_TABLE_SEGMENTS) return CORRUPT;
  if (count === 0 || count >= MAX_SEGMENTS) return header;
  if (b.length < 4 + 4 * count) return null;
  let words = 0;
  for (let i = 0; i < count; i++) words += dv.getUint32(4 + 4 * i, true);
  if (words > DEFAULT_TRAVERSAL_LIMIT_WORDS) return CORRUPT;
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
  if (chunks.length === 1 && chunks[0]!.length <= max) return chunks[0]!;
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
