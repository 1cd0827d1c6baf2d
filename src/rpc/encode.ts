// Schema-driven encoder: plain JS values ({field: value}) → struct content in
// a capnp-es message, laid out from the SchemaSet tables the decoder loads.
// Primitives are stored XOR their schema default, absent fields keep their
// default, unions get their discriminant, groups share their parent's
// sections, and capabilities become indexes into the payload's cap table.
//
// Value shapes: Bool boolean; integers number or bigint; floats number; enums
// enumerant name or number; Text string (UTF-8, or a Uint8Array of raw
// bytes); Data Uint8Array; List array;
// struct/group object; interface a capability (see EncodeContext.capIndex) or
// null. In a union, the member whose key is present (value not undefined) is
// the active one; a Void member may be given as `{member: null}`.

import { Pointer, ObjectSize, ListElementSize, utils } from 'capnp-es';
import { SchemaSet, StructInfo, FieldInfo, TypeRef, Brand, DefaultBits, NO_DISCRIMINANT } from '../decoder/schema.js';
import { resolveType } from '../decoder/dynamic.js';

type Segment = Pointer['segment'];

export interface EncodeContext {
  schemas: SchemaSet;
  /**
   * Adds a capability to the payload's cap table and returns its index;
   * null writes a null pointer. Throws for values that are not capabilities.
   */
  capIndex(value: unknown): number | null;
}

export class EncodeError extends Error {}

/** Where a struct's sections were placed. */
interface StructPos {
  seg: Segment;
  /** Byte offset of the data section. */
  data: number;
  /** Byte offset of the pointer section. */
  ptrs: number;
}

type Plain = Record<string, unknown>;

function isPlainObject(v: unknown): v is Plain {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** Allocates `bytes` for the object `p` will point to; returns the content and the pointer to fill in. */
function allocate(p: Pointer, bytes: number): { seg: Segment; off: number; ptr: Pointer; offsetWords: number } {
  const c = p.segment.allocate(bytes);
  const r = utils.initPointer(c.segment, c.byteOffset, p);
  return { seg: c.segment, off: c.byteOffset, ptr: r.pointer, offsetWords: r.offsetWords };
}

function pointerAt(seg: Segment, byteOffset: number): Pointer {
  return new Pointer(seg, byteOffset);
}

/** Writes a struct pointer at `p` to a new, zeroed struct of the given size. */
export function initStruct(p: Pointer, dataWords: number, ptrCount: number): StructPos {
  if (dataWords === 0 && ptrCount === 0) {
    // An empty struct: offset -1 (pointing at itself), as C++ writes it; all-zero would read as null.
    p.segment.setUint32(p.byteOffset, 0xfffffffc);
    p.segment.setUint32(p.byteOffset + 4, 0);
    return { seg: p.segment, data: p.byteOffset, ptrs: p.byteOffset };
  }
  const a = allocate(p, (dataWords + ptrCount) * 8);
  utils.setStructPointer(a.offsetWords, new ObjectSize(dataWords * 8, ptrCount), a.ptr);
  return { seg: a.seg, data: a.off, ptrs: a.off + dataWords * 8 };
}

const f32 = new DataView(new ArrayBuffer(8));

const INT_RANGES: Record<string, [bigint, bigint]> = {
  int8: [-(2n ** 7n), 2n ** 7n - 1n],
  int16: [-(2n ** 15n), 2n ** 15n - 1n],
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint8: [0n, 2n ** 8n - 1n],
  uint16: [0n, 2n ** 16n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
};

/** Raw bits of a primitive value as [lo, hi] unsigned 32-bit halves. */
function primitiveBits(t: TypeRef, v: unknown, ctx: EncodeContext, where: string): [number, number] {
  switch (t.kind) {
    case 'bool':
      if (typeof v !== 'boolean') throw new EncodeError(`${where}: expected a boolean`);
      return [v ? 1 : 0, 0];
    case 'float32':
      if (typeof v !== 'number') throw new EncodeError(`${where}: expected a number`);
      f32.setFloat32(0, v, true);
      return [f32.getUint32(0, true), 0];
    case 'float64':
      if (typeof v !== 'number') throw new EncodeError(`${where}: expected a number`);
      f32.setFloat64(0, v, true);
      return [f32.getUint32(0, true), f32.getUint32(4, true)];
    case 'enum': {
      if (typeof v === 'number') return [v & 0xffff, 0];
      const e = ctx.schemas.enums.get(t.id);
      const i = typeof v === 'string' && e ? e.enumerants.indexOf(v) : -1;
      if (i < 0) throw new EncodeError(`${where}: unknown enumerant ${String(v)}`);
      return [i, 0];
    }
    default: {
      if (typeof v !== 'number' && typeof v !== 'bigint') throw new EncodeError(`${where}: expected an integer`);
      if (typeof v === 'number' && !Number.isInteger(v)) throw new EncodeError(`${where}: ${v} is not an integer`);
      const b = BigInt(v);
      const range = INT_RANGES[t.kind];
      if (range && (b < range[0] || b > range[1])) throw new EncodeError(`${where}: ${b} is out of range for ${t.kind}`);
      const u = BigInt.asUintN(64, b);
      return [Number(u & 0xffffffffn), Number(u >> 32n)];
    }
  }
}

function defaultBits(d: DefaultBits): [number, number] {
  return d.kind === 'bits' ? [d.lo, d.hi] : [0, 0];
}

/** Bit width of a primitive slot (0 for void). */
function primitiveWidth(t: TypeRef): number {
  switch (t.kind) {
    case 'void':
      return 0;
    case 'bool':
      return 1;
    case 'int8':
    case 'uint8':
      return 8;
    case 'int16':
    case 'uint16':
    case 'enum':
      return 16;
    case 'int32':
    case 'uint32':
    case 'float32':
      return 32;
    case 'int64':
    case 'uint64':
    case 'float64':
      return 64;
    default:
      return -1;
  }
}

/** Writes raw bits of `width` at element `offset` (in units of width) from `base`. */
function writeBits(seg: Segment, base: number, width: number, offset: number, lo: number, hi: number): void {
  switch (width) {
    case 1: {
      const at = base + (offset >>> 3);
      const mask = 1 << (offset & 7);
      const b = seg.getUint8(at);
      seg.setUint8(at, lo & 1 ? b | mask : b & ~mask);
      return;
    }
    case 8:
      seg.setUint8(base + offset, lo & 0xff);
      return;
    case 16:
      seg.setUint16(base + offset * 2, lo & 0xffff);
      return;
    case 32:
      seg.setUint32(base + offset * 4, lo >>> 0);
      return;
    case 64:
      seg.setUint32(base + offset * 8, lo >>> 0);
      seg.setUint32(base + offset * 8 + 4, hi >>> 0);
      return;
    default:
      return;
  }
}

/** Writes `text` (UTF-8, NUL-terminated) or `data` bytes as a byte list at `p`. */
function writeBlob(p: Pointer, bytes: Uint8Array, nul: boolean): void {
  const n = bytes.length + (nul ? 1 : 0);
  const a = allocate(p, n);
  utils.setListPointer(a.offsetWords, ListElementSize.BYTE, n, a.ptr);
  new Uint8Array(a.seg.buffer, a.off, bytes.length).set(bytes);
}

const LIST_SIZE: Record<number, ListElementSize> = {
  0: ListElementSize.VOID,
  1: ListElementSize.BIT,
  8: ListElementSize.BYTE,
  16: ListElementSize.BYTE_2,
  32: ListElementSize.BYTE_4,
  64: ListElementSize.BYTE_8,
};

function writeList(ctx: EncodeContext, p: Pointer, el: TypeRef, items: unknown[], where: string): void {
  const width = primitiveWidth(el);
  if (width >= 0) {
    const size = LIST_SIZE[width]!;
    if (width === 0) {
      const a = allocate(p, 0);
      utils.setListPointer(a.offsetWords, size, items.length, a.ptr);
      return;
    }
    const a = allocate(p, Math.ceil((items.length * width) / 8));
    utils.setListPointer(a.offsetWords, size, items.length, a.ptr);
    items.forEach((v, i) => {
      const [lo, hi] = primitiveBits(el, v, ctx, `${where}[${i}]`);
      writeBits(a.seg, a.off, width, i, lo, hi);
    });
    return;
  }
  if (el.kind === 'struct') {
    const info = ctx.schemas.struct(el.id);
    const words = info.dataWords + info.ptrCount;
    const a = allocate(p, 8 + items.length * words * 8);
    utils.setListPointer(a.offsetWords, ListElementSize.COMPOSITE, items.length, a.ptr, new ObjectSize(info.dataWords * 8, info.ptrCount));
    // Tag word: a struct pointer whose offset field holds the element count.
    a.seg.setUint32(a.off, (items.length << 2) >>> 0);
    a.seg.setUint16(a.off + 4, info.dataWords);
    a.seg.setUint16(a.off + 6, info.ptrCount);
    items.forEach((v, i) => {
      const base = a.off + 8 + i * words * 8;
      if (!isPlainObject(v)) throw new EncodeError(`${where}[${i}]: expected an object`);
      writeStructFields(ctx, { seg: a.seg, data: base, ptrs: base + info.dataWords * 8 }, info, el.brand, v, `${where}[${i}]`);
    });
    return;
  }
  const a = allocate(p, items.length * 8);
  utils.setListPointer(a.offsetWords, ListElementSize.POINTER, items.length, a.ptr);
  items.forEach((v, i) => writePointer(ctx, pointerAt(a.seg, a.off + i * 8), el, v, `${where}[${i}]`));
}

/** Writes a pointer-typed value at `p`; null/undefined leave it null. */
function writePointer(ctx: EncodeContext, p: Pointer, t: TypeRef, v: unknown, where: string): void {
  if (v === undefined) return;
  if (v === null && t.kind !== 'interface' && t.kind !== 'anyPointer') return;
  switch (t.kind) {
    case 'text':
      if (v instanceof Uint8Array) {
        writeBlob(p, v, true); // raw bytes, for Text that is not UTF-8
        return;
      }
      if (typeof v !== 'string') throw new EncodeError(`${where}: expected a string`);
      writeBlob(p, Buffer.from(v, 'utf8'), true);
      return;
    case 'data':
      if (!(v instanceof Uint8Array)) throw new EncodeError(`${where}: expected a Uint8Array`);
      writeBlob(p, v, false);
      return;
    case 'list':
      if (!Array.isArray(v)) throw new EncodeError(`${where}: expected an array`);
      writeList(ctx, p, t.element, v, where);
      return;
    case 'struct': {
      if (!isPlainObject(v)) throw new EncodeError(`${where}: expected an object`);
      const info = ctx.schemas.struct(t.id);
      const pos = initStruct(p, info.dataWords, info.ptrCount);
      writeStructFields(ctx, pos, info, t.brand, v, where);
      return;
    }
    case 'interface':
    case 'anyPointer': {
      const i = ctx.capIndex(v);
      if (i !== null) utils.setInterfacePointer(i, p);
      return;
    }
    default:
      throw new EncodeError(`${where}: cannot encode a value of type ${t.kind}`);
  }
}

/** The union member selected by `value`, or null when none is given. */
function activeMember(info: StructInfo, value: Plain, where: string): FieldInfo | null {
  let found: FieldInfo | null = null;
  for (const f of info.fields) {
    if (f.discriminant === NO_DISCRIMINANT || value[f.name] === undefined) continue;
    if (found) throw new EncodeError(`${where}: union members ${found.name} and ${f.name} both given`);
    found = f;
  }
  return found;
}

function writeField(ctx: EncodeContext, pos: StructPos, f: FieldInfo, brand: Brand | null, v: unknown, where: string): void {
  if (f.groupId !== null) {
    if (v === null) return;
    if (!isPlainObject(v)) throw new EncodeError(`${where}: expected an object for group`);
    writeStructFields(ctx, pos, ctx.schemas.struct(f.groupId), brand, v, where);
    return;
  }
  const t = brand || f.type.kind === 'param' ? resolveType(f.type, brand) : f.type;
  const width = primitiveWidth(t);
  if (width === 0) return;
  if (width > 0) {
    if (v === null || v === undefined) return;
    const [lo, hi] = primitiveBits(t, v, ctx, where);
    const [dlo, dhi] = defaultBits(f.defaultValue);
    writeBits(pos.seg, pos.data, width, f.offset, lo ^ dlo, hi ^ dhi);
    return;
  }
  writePointer(ctx, pointerAt(pos.seg, pos.ptrs + f.offset * 8), t, v, where);
}

function writeStructFields(ctx: EncodeContext, pos: StructPos, info: StructInfo, brand: Brand | null, value: Plain, where: string): void {
  const known = new Set(info.fields.map((f) => f.name));
  for (const k of Object.keys(value)) {
    if (!known.has(k) && value[k] !== undefined) throw new EncodeError(`${where}: ${info.name} has no field '${k}'`);
  }
  if (info.discriminantCount > 0) {
    const m = activeMember(info, value, where);
    if (m) pos.seg.setUint16(pos.data + info.discriminantOffset * 2, m.discriminant);
  }
  for (const f of info.fields) {
    const v = value[f.name];
    if (v === undefined) continue;
    writeField(ctx, pos, f, brand, v, `${where}.${f.name}`);
  }
}

/** Encodes `value` as a struct of type `info` at pointer `p` (e.g. a Payload's content). */
export function encodeStruct(ctx: EncodeContext, p: Pointer, info: StructInfo, brand: Brand | null, value: Plain): void {
  const pos = initStruct(p, info.dataWords, info.ptrCount);
  writeStructFields(ctx, pos, info, brand, value, info.name);
}
