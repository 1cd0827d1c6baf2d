// Reading Cap'n Proto's wire format: segments, pointers (struct, list, far,
// double-far, capability), with the C++ reader's checks and limits
// (bounds, nesting limit 64, traversal limit 8 Mi words).

export class DecodeError extends Error {}

export const DEFAULT_NESTING_LIMIT = 64;
export const DEFAULT_TRAVERSAL_LIMIT_WORDS = 8 * 1024 * 1024;

/** One framed message: its segments as views into the frame's bytes. */
export class WireMessage {
  readonly views: DataView[];
  readonly bytes: Uint8Array[];
  /** Words that may still be read before the traversal limit is hit. */
  remaining: number;

  constructor(segments: Uint8Array[], traversalLimitWords = DEFAULT_TRAVERSAL_LIMIT_WORDS) {
    this.bytes = segments;
    this.views = segments.map((s) => new DataView(s.buffer, s.byteOffset, s.byteLength));
    this.remaining = traversalLimitWords;
  }

  /** Charges `words` against the traversal limit. */
  charge(words: number): void {
    this.remaining -= words;
    if (this.remaining < 0) {
      throw new DecodeError('Exceeded message traversal limit.  See capnp::ReaderOptions.');
    }
  }

  /** The root pointer's location: word 0 of segment 0. */
  root(): PointerLoc {
    if (this.bytes.length === 0 || this.bytes[0]!.byteLength < 8) {
      throw new DecodeError('Message ends prematurely in first segment.');
    }
    return { seg: 0, word: 0 };
  }
}

/** Where a pointer word lives. */
export interface PointerLoc {
  seg: number;
  word: number;
}

/** A struct's sections. Data size is in bits so that lists read as structs keep their element width. */
export interface StructRef {
  seg: number;
  /** Byte offset of the data section in its segment. */
  data: number;
  dataBits: number;
  /** Word offset of the pointer section in its segment. */
  ptrs: number;
  ptrCount: number;
  /** Nesting limit left for pointers read from this struct. */
  nest: number;
}

export const enum ElementSize {
  Void = 0,
  Bit = 1,
  Byte = 2,
  TwoBytes = 3,
  FourBytes = 4,
  EightBytes = 5,
  Pointer = 6,
  InlineComposite = 7,
}

export interface ListRef {
  seg: number;
  /** Bit offset of element 0 (for composite lists: of its data section). */
  startBit: number;
  count: number;
  stepBits: number;
  /** Per-element struct layout when elements are read as structs. */
  dataBits: number;
  ptrCount: number;
  elementSize: ElementSize;
  nest: number;
}

const DATA_BITS: readonly number[] = [0, 1, 8, 16, 32, 64, 0, 0];
const POINTERS: readonly number[] = [0, 0, 0, 0, 0, 0, 1, 0];

/** Word 0 and 1 of a pointer as unsigned 32-bit halves. */
function lo(m: WireMessage, seg: number, word: number): number {
  return m.views[seg]!.getUint32(word * 8, true);
}
function hi(m: WireMessage, seg: number, word: number): number {
  return m.views[seg]!.getUint32(word * 8 + 4, true);
}

function segWords(m: WireMessage, seg: number): number {
  return m.bytes[seg]!.byteLength >>> 3;
}

export function isNullPointer(m: WireMessage, loc: PointerLoc): boolean {
  return lo(m, loc.seg, loc.word) === 0 && hi(m, loc.seg, loc.word) === 0;
}

/** Bounds check of an object plus traversal-limit charge, as SegmentReader::checkObject does. */
function checkObject(m: WireMessage, seg: number, startWord: number, words: number, what: string): void {
  const size = segWords(m, seg);
  if (startWord < 0 || startWord > size || words > size - startWord) {
    throw new DecodeError(`Message contained out-of-bounds ${what} pointer.`);
  }
  m.charge(words);
}

/** A resolved pointer: the tag word's halves, and where its target starts. */
interface Resolved {
  seg: number;
  tagLo: number;
  tagHi: number;
  target: number;
}

/** Follows far and double-far pointers to the object's tag and position. */
function followFars(m: WireMessage, loc: PointerLoc): Resolved {
  const l = lo(m, loc.seg, loc.word);
  const h = hi(m, loc.seg, loc.word);
  if ((l & 3) !== 2) {
    return { seg: loc.seg, tagLo: l, tagHi: h, target: loc.word + 1 + (l >> 2) };
  }
  const doubleFar = (l & 4) !== 0;
  const padSeg = h;
  if (padSeg >= m.bytes.length) throw new DecodeError('Message contains far pointer to unknown segment.');
  const padWord = l >>> 3;
  const padSize = segWords(m, padSeg);
  const padWords = doubleFar ? 2 : 1;
  if (padWord > padSize || padWords > padSize - padWord) {
    throw new DecodeError('Message contains out-of-bounds far pointer.');
  }
  m.charge(padWords);
  const pl = lo(m, padSeg, padWord);
  const ph = hi(m, padSeg, padWord);
  if (!doubleFar) {
    if ((pl & 3) === 2) {
      // A landing pad that is itself far: C++ treats the pad as the pointer, whose kind then mismatches.
      return { seg: padSeg, tagLo: pl, tagHi: ph, target: -1 };
    }
    return { seg: padSeg, tagLo: pl, tagHi: ph, target: padWord + 1 + (pl >> 2) };
  }
  const targetSeg = ph;
  if (targetSeg >= m.bytes.length) throw new DecodeError('Message contains double-far pointer to unknown segment.');
  if ((pl & 3) !== 2) throw new DecodeError('Second word of double-far pad must be far pointer.');
  return {
    seg: targetSeg,
    tagLo: lo(m, padSeg, padWord + 1),
    tagHi: hi(m, padSeg, padWord + 1),
    target: pl >>> 3,
  };
}

function checkNesting(nest: number): void {
  if (nest <= 0) throw new DecodeError('Message is too deeply-nested or contains cycles.  See capnp::ReaderOptions.');
}

/** Reads a struct pointer; null pointers give null (the caller supplies the default). */
export function readStruct(m: WireMessage, loc: PointerLoc, nest: number): StructRef | null {
  if (isNullPointer(m, loc)) return null;
  checkNesting(nest);
  const r = followFars(m, loc);
  if ((r.tagLo & 3) !== 0) {
    throw new DecodeError('Message contains non-struct pointer where struct pointer was expected.');
  }
  const dataWords = r.tagHi & 0xffff;
  const ptrCount = r.tagHi >>> 16;
  checkObject(m, r.seg, r.target, dataWords + ptrCount, 'struct');
  return { seg: r.seg, data: r.target * 8, dataBits: dataWords * 64, ptrs: r.target + dataWords, ptrCount, nest: nest - 1 };
}

/**
 * Reads a list pointer. `expected` is the element size the schema calls for
 * (InlineComposite for struct lists); incompatible encodings are errors as in C++.
 */
export function readList(m: WireMessage, loc: PointerLoc, nest: number, expected: ElementSize): ListRef | null {
  if (isNullPointer(m, loc)) return null;
  checkNesting(nest);
  const r = followFars(m, loc);
  if ((r.tagLo & 3) !== 1) {
    throw new DecodeError('Message contains non-list pointer where list pointer was expected.');
  }
  const elementSize = (r.tagHi & 7) as ElementSize;
  const countField = r.tagHi >>> 3;
  if (elementSize === ElementSize.InlineComposite) {
    const wordCount = countField;
    checkObject(m, r.seg, r.target, wordCount + 1, 'list');
    const tl = lo(m, r.seg, r.target);
    const th = hi(m, r.seg, r.target);
    if ((tl & 3) !== 0) throw new DecodeError('INLINE_COMPOSITE lists of non-STRUCT type are not supported.');
    const count = (tl >>> 2) | 0;
    const dataWords = th & 0xffff;
    const ptrCount = th >>> 16;
    const wordsPerElement = dataWords + ptrCount;
    if (count * wordsPerElement > wordCount) {
      throw new DecodeError("INLINE_COMPOSITE list's elements overrun its word count.");
    }
    if (wordsPerElement === 0) m.charge(count);
    let start = (r.target + 1) * 64;
    switch (expected) {
      case ElementSize.Bit:
        throw new DecodeError('Found struct list where bit list was expected.');
      case ElementSize.Byte:
      case ElementSize.TwoBytes:
      case ElementSize.FourBytes:
      case ElementSize.EightBytes:
        if (dataWords === 0) throw new DecodeError('Expected a primitive list, but got a list of pointer-only structs.');
        break;
      case ElementSize.Pointer:
        start += dataWords * 64;
        if (ptrCount === 0) throw new DecodeError('Expected a pointer list, but got a list of data-only structs.');
        break;
      default:
        break;
    }
    return {
      seg: r.seg,
      startBit: start,
      count,
      stepBits: wordsPerElement * 64,
      dataBits: dataWords * 64,
      ptrCount,
      elementSize,
      nest: nest - 1,
    };
  }
  const dataBits = DATA_BITS[elementSize]!;
  const ptrCount = POINTERS[elementSize]!;
  const step = dataBits + ptrCount * 64;
  const count = countField;
  const words = Math.ceil((count * step) / 64);
  checkObject(m, r.seg, r.target, words, 'list');
  if (elementSize === ElementSize.Void) m.charge(count);
  if (elementSize === ElementSize.Bit && expected !== ElementSize.Bit && expected !== ElementSize.Void) {
    throw new DecodeError(
      'Found bit list where struct list was expected; upgrading boolean lists to structs is no longer supported.',
    );
  }
  if (DATA_BITS[expected]! > dataBits || POINTERS[expected]! > ptrCount) {
    throw new DecodeError('Message contained list with incompatible element type.');
  }
  return { seg: r.seg, startBit: r.target * 64, count, stepBits: step, dataBits, ptrCount, elementSize, nest: nest - 1 };
}

/** Reads a Text or Data pointer's bytes (Text without its NUL). Null gives null. */
export function readBlob(m: WireMessage, loc: PointerLoc, text: boolean): Uint8Array | null {
  if (isNullPointer(m, loc)) return null;
  const what = text ? 'text' : 'data';
  const r = followFars(m, loc);
  if ((r.tagLo & 3) !== 1) throw new DecodeError(`Message contains non-list pointer where ${what} was expected.`);
  if ((r.tagHi & 7) !== ElementSize.Byte) {
    throw new DecodeError(`Message contains list pointer of non-bytes where ${what} was expected.`);
  }
  const size = r.tagHi >>> 3;
  checkObject(m, r.seg, r.target, Math.ceil(size / 8), what);
  const seg = m.bytes[r.seg]!;
  const start = r.target * 8;
  if (text) {
    if (size === 0 || seg[start + size - 1] !== 0) {
      throw new DecodeError('Message contains text that is not NUL-terminated.');
    }
    return seg.subarray(start, start + size - 1);
  }
  return seg.subarray(start, start + size);
}

/** Reads a capability pointer: its index into the payload's cap table, or null. */
export function readCapIndex(m: WireMessage, loc: PointerLoc): number | null {
  const l = lo(m, loc.seg, loc.word);
  const h = hi(m, loc.seg, loc.word);
  if (l === 0 && h === 0) return null;
  if (l !== 3) throw new DecodeError('Message contains non-capability pointer where capability pointer was expected.');
  return h;
}

/** What kind of object an AnyPointer holds, without reading it. */
export function pointerKind(m: WireMessage, loc: PointerLoc): 'null' | 'struct' | 'list' | 'capability' | 'other' {
  const l = lo(m, loc.seg, loc.word);
  const h = hi(m, loc.seg, loc.word);
  if (l === 0 && h === 0) return 'null';
  if (l === 3) return 'capability';
  const r = followFars(m, loc);
  const k = r.tagLo & 3;
  return k === 0 ? 'struct' : k === 1 ? 'list' : 'other';
}

// ---- data section access (bit offsets beyond the section read as zero) ----

export function structPointer(s: StructRef, index: number): PointerLoc | null {
  return index < s.ptrCount ? { seg: s.seg, word: s.ptrs + index } : null;
}

export function readBit(m: WireMessage, s: StructRef, bitOffset: number): boolean {
  if (bitOffset >= s.dataBits) return false;
  const byte = m.bytes[s.seg]![s.data + (bitOffset >>> 3)]!;
  return ((byte >>> (bitOffset & 7)) & 1) === 1;
}

/** Reads `bits` (8, 16, 32) at element `offset` (in units of `bits`) as an unsigned number. */
export function readUint(m: WireMessage, s: StructRef, offset: number, bits: 8 | 16 | 32): number {
  if ((offset + 1) * bits > s.dataBits) return 0;
  const v = m.views[s.seg]!;
  const at = s.data + (offset * bits) / 8;
  return bits === 8 ? v.getUint8(at) : bits === 16 ? v.getUint16(at, true) : v.getUint32(at, true);
}

/** Reads a 64-bit word at element `offset` as [low, high] unsigned halves. */
export function readWord(m: WireMessage, s: StructRef, offset: number): [number, number] {
  if ((offset + 1) * 64 > s.dataBits) return [0, 0];
  const v = m.views[s.seg]!;
  const at = s.data + offset * 8;
  return [v.getUint32(at, true), v.getUint32(at + 4, true)];
}

/** A 64-bit value from its unsigned halves as lower-case hex without leading zeros (ids, as kj::hex prints them). */
export function wordHex(lo: number, hi: number): string {
  return hi === 0 ? lo.toString(16) : hi.toString(16) + lo.toString(16).padStart(8, '0');
}

/** Element `i` of a list read as a struct (works for every encoding, as C++ ListReader does). */
export function listStruct(l: ListRef, i: number): StructRef {
  checkNesting(l.nest);
  const bit = l.startBit + i * l.stepBits;
  const ptrsBit = bit + l.dataBits;
  return {
    seg: l.seg,
    data: bit >>> 3,
    dataBits: l.dataBits,
    ptrs: Math.floor(ptrsBit / 64),
    ptrCount: l.ptrCount,
    nest: l.nest - 1,
  };
}

/** Location of element `i` of a pointer list (or the first pointer of a composite element). */
export function listPointer(l: ListRef, i: number): PointerLoc {
  return { seg: l.seg, word: Math.floor((l.startBit + i * l.stepBits) / 64) };
}
