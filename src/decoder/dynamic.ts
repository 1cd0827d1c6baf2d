// Schema-driven decoding of structs into a value tree that keeps, per field,
// the resolved type: the text printer and the session model read it without
// looking at the schema again. Which fields appear follows capnp's dynamic
// API as the text format uses it: primitives and groups always, pointers
// when non-null, the active union member unless it is the zero-discriminant
// member holding a null pointer.

import {
  WireMessage,
  StructRef,
  ListRef,
  PointerLoc,
  ElementSize,
  DecodeError,
  readStruct,
  readList,
  readBlob,
  readCapIndex,
  structPointer,
  readBit,
  readUint,
  readWord,
  listStruct,
  listPointer,
  isNullPointer,
} from './wire.js';
import { SchemaSet, StructInfo, FieldInfo, TypeRef, Brand, DefaultBits, NO_DISCRIMINANT } from './schema.js';

/** A capability: its index into the enclosing payload's cap table. */
export class CapRef {
  constructor(readonly index: number) {}
}

/** An AnyPointer (or unbound generic) left undecoded; prints as `<opaque pointer>`. */
export class OpaquePointer {
  constructor(
    readonly msg: WireMessage,
    readonly loc: PointerLoc | null,
    readonly nest: number,
  ) {}
}

export type Value =
  | null // void
  | boolean
  | number
  | bigint
  | string // Text, as a byte string (one char per byte)
  | Uint8Array // Data
  | DStruct
  | DList
  | CapRef
  | OpaquePointer;

export interface DField {
  name: string;
  type: TypeRef;
  value: Value;
}

export class DStruct {
  constructor(
    readonly info: StructInfo,
    /** The fields the text format prints, in its order. */
    readonly fields: DField[],
    /** Raw union discriminant, or -1 when the struct has no union. */
    readonly discriminant: number,
    /** Where the struct lies on the wire (for fields the schema does not know). */
    readonly ref: StructRef,
  ) {}

  get(name: string): Value | undefined {
    for (const f of this.fields) if (f.name === name) return f.value;
    return undefined;
  }

  /** Name of the active union member (even when it is not printed), or null. */
  which(): string | null {
    if (this.discriminant < 0) return null;
    for (const f of this.info.fields) if (f.discriminant === this.discriminant) return f.name;
    return null;
  }
}

export class DList {
  constructor(
    readonly elementType: TypeRef,
    readonly items: Value[],
  ) {}
}

export interface DecodeContext {
  schemas: SchemaSet;
  msg: WireMessage;
  /** Size of the enclosing payload's cap table (capability pointers must index into it). */
  capCount: number;
}

const EMPTY_STRUCT: StructRef = { seg: 0, data: 0, dataBits: 0, ptrs: 0, ptrCount: 0, nest: 1 };

export function resolveType(t: TypeRef, brand: Brand | null): TypeRef {
  switch (t.kind) {
    case 'param': {
      const scope = brand?.get(t.scopeId);
      if (Array.isArray(scope)) {
        const bound = scope[t.index];
        return bound ?? { kind: 'anyPointer' };
      }
      return { kind: 'anyPointer' };
    }
    case 'list': {
      const el = resolveType(t.element, brand);
      return el === t.element ? t : { kind: 'list', element: el };
    }
    case 'struct':
    case 'interface': {
      if (!t.brand) return t;
      const out: Brand = new Map();
      if (brand) for (const [k, v] of brand) out.set(k, v);
      for (const [k, v] of t.brand) {
        if (v === 'inherit') continue;
        out.set(
          k,
          v.map((b) => (b ? resolveType(b, brand) : null)),
        );
      }
      return { kind: t.kind, id: t.id, brand: out } as TypeRef;
    }
    case 'implicitParam':
      return { kind: 'anyPointer' };
    default:
      return t;
  }
}

function expectedElementSize(t: TypeRef): ElementSize {
  switch (t.kind) {
    case 'void':
      return ElementSize.Void;
    case 'bool':
      return ElementSize.Bit;
    case 'int8':
    case 'uint8':
      return ElementSize.Byte;
    case 'int16':
    case 'uint16':
    case 'enum':
      return ElementSize.TwoBytes;
    case 'int32':
    case 'uint32':
    case 'float32':
      return ElementSize.FourBytes;
    case 'int64':
    case 'uint64':
    case 'float64':
      return ElementSize.EightBytes;
    case 'struct':
      return ElementSize.InlineComposite;
    default:
      return ElementSize.Pointer;
  }
}

const TWO32 = 4294967296;
const f32 = new Float32Array(1);
const f32u = new Uint32Array(f32.buffer);
const f64 = new Float64Array(1);
const f64u = new Uint32Array(f64.buffer);

function defLo(d: DefaultBits): number {
  return d.kind === 'bits' ? d.lo : 0;
}
function defHi(d: DefaultBits): number {
  return d.kind === 'bits' ? d.hi : 0;
}

function int64(lo: number, hi: number): number | bigint {
  const signedHi = hi | 0;
  if (signedHi >= -0x200000 && signedHi < 0x200000) return signedHi * TWO32 + lo;
  return (BigInt(signedHi) << 32n) | BigInt(lo);
}

function uint64(lo: number, hi: number): number | bigint {
  if (hi < 0x200000) return hi * TWO32 + lo;
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** Converts raw bits (already XORed with the default) to a value of a primitive type. */
function primitive(kind: TypeRef['kind'], lo: number, hi: number): Value {
  switch (kind) {
    case 'void':
      return null;
    case 'bool':
      return lo !== 0;
    case 'int8':
      return (lo << 24) >> 24;
    case 'int16':
      return (lo << 16) >> 16;
    case 'int32':
      return lo | 0;
    case 'uint8':
    case 'uint16':
    case 'enum':
      return lo;
    case 'uint32':
      return lo >>> 0;
    case 'int64':
      return int64(lo >>> 0, hi >>> 0);
    case 'uint64':
      return uint64(lo >>> 0, hi >>> 0);
    case 'float32':
      f32u[0] = lo;
      return f32[0]!;
    case 'float64':
      f64u[0] = lo;
      f64u[1] = hi;
      return f64[0]!;
    default:
      throw new DecodeError(`not a primitive type: ${kind}`);
  }
}

/** Reads a primitive slot from a struct's data section, XORed with its default. */
function readPrimitive(ctx: DecodeContext, s: StructRef, f: FieldInfo, kind: TypeRef['kind']): Value {
  const m = ctx.msg;
  const d = f.defaultValue;
  switch (kind) {
    case 'void':
      return null;
    case 'bool':
      return readBit(m, s, f.offset) !== (defLo(d) !== 0);
    case 'int8':
    case 'uint8':
      return primitive(kind, readUint(m, s, f.offset, 8) ^ defLo(d), 0);
    case 'int16':
    case 'uint16':
    case 'enum':
      return primitive(kind, readUint(m, s, f.offset, 16) ^ defLo(d), 0);
    case 'int32':
    case 'uint32':
    case 'float32':
      return primitive(kind, (readUint(m, s, f.offset, 32) ^ defLo(d)) >>> 0, 0);
    default: {
      const [lo, hi] = readWord(m, s, f.offset);
      return primitive(kind, (lo ^ defLo(d)) >>> 0, (hi ^ defHi(d)) >>> 0);
    }
  }
}

function isPointerType(t: TypeRef): boolean {
  switch (t.kind) {
    case 'text':
    case 'data':
    case 'list':
    case 'struct':
    case 'interface':
    case 'anyPointer':
    case 'param':
    case 'implicitParam':
      return true;
    default:
      return false;
  }
}

function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

/** The value a null pointer of this type reads as (used for an active union member). */
function nullPointerValue(ctx: DecodeContext, t: TypeRef, def: DefaultBits): Value {
  switch (t.kind) {
    case 'text':
      return def.kind === 'blob' ? latin1(def.bytes) : '';
    case 'data':
      return def.kind === 'blob' ? def.bytes : new Uint8Array(0);
    case 'list':
      return new DList(t.element, []);
    case 'struct':
      return decodeStructRef(ctx, EMPTY_STRUCT, ctx.schemas.struct(t.id), t.brand);
    case 'interface':
      return new CapRef(-1);
    default:
      return new OpaquePointer(ctx.msg, null, 0);
  }
}

/** Decodes the object a pointer refers to, as type `t` (already brand-resolved). Null pointers give undefined. */
function readPointer(ctx: DecodeContext, loc: PointerLoc, nest: number, t: TypeRef): Value | undefined {
  const m = ctx.msg;
  switch (t.kind) {
    case 'text': {
      const b = readBlob(m, loc, true);
      return b === null ? undefined : latin1(b);
    }
    case 'data': {
      const b = readBlob(m, loc, false);
      return b === null ? undefined : b;
    }
    case 'struct': {
      const s = readStruct(m, loc, nest);
      return s === null ? undefined : decodeStructRef(ctx, s, ctx.schemas.struct(t.id), t.brand);
    }
    case 'list': {
      const l = readList(m, loc, nest, expectedElementSize(t.element));
      return l === null ? undefined : decodeList(ctx, l, t.element);
    }
    case 'interface': {
      const i = readCapIndex(m, loc);
      if (i === null) return undefined;
      if (i >= ctx.capCount) throw new DecodeError('Message contains invalid capability pointer.');
      return new CapRef(i);
    }
    default:
      return isNullPointer(m, loc) ? undefined : new OpaquePointer(m, loc, nest);
  }
}

function decodeList(ctx: DecodeContext, l: ListRef, el: TypeRef): DList {
  const m = ctx.msg;
  const items: Value[] = new Array(l.count);
  const seg = m.views[l.seg]!;
  const bytes = m.bytes[l.seg]!;
  switch (el.kind) {
    case 'void':
      items.fill(null);
      break;
    case 'bool':
      // As C++ does: bits are read consecutively whatever the list's element size.
      for (let i = 0; i < l.count; i++) {
        const bit = l.startBit + i;
        items[i] = ((bytes[bit >>> 3]! >>> (bit & 7)) & 1) === 1;
      }
      break;
    case 'int8':
    case 'uint8':
      for (let i = 0; i < l.count; i++) items[i] = primitive(el.kind, seg.getUint8((l.startBit + i * l.stepBits) / 8), 0);
      break;
    case 'int16':
    case 'uint16':
    case 'enum':
      for (let i = 0; i < l.count; i++) items[i] = primitive(el.kind, seg.getUint16((l.startBit + i * l.stepBits) / 8, true), 0);
      break;
    case 'int32':
    case 'uint32':
    case 'float32':
      for (let i = 0; i < l.count; i++) items[i] = primitive(el.kind, seg.getUint32((l.startBit + i * l.stepBits) / 8, true), 0);
      break;
    case 'int64':
    case 'uint64':
    case 'float64':
      for (let i = 0; i < l.count; i++) {
        const at = (l.startBit + i * l.stepBits) / 8;
        items[i] = primitive(el.kind, seg.getUint32(at, true), seg.getUint32(at + 4, true));
      }
      break;
    case 'struct': {
      const info = ctx.schemas.struct(el.id);
      for (let i = 0; i < l.count; i++) items[i] = decodeStructRef(ctx, listStruct(l, i), info, el.brand);
      break;
    }
    default:
      for (let i = 0; i < l.count; i++) {
        const v = readPointer(ctx, listPointer(l, i), l.nest, el);
        items[i] = v === undefined ? nullElement(ctx, el) : v;
      }
  }
  return new DList(el, items);
}

/** How a null element of a pointer list reads (C++ returns the type's default; a null capability still prints). */
function nullElement(ctx: DecodeContext, t: TypeRef): Value {
  return nullPointerValue(ctx, t, { kind: 'none' });
}

function decodeField(ctx: DecodeContext, s: StructRef, f: FieldInfo, brand: Brand | null, out: DField[], always: boolean): void {
  if (f.groupId !== null) {
    const g = ctx.schemas.struct(f.groupId);
    out.push({ name: f.name, type: { kind: 'struct', id: g.id, brand }, value: decodeStructRef(ctx, s, g, brand) });
    return;
  }
  const t = brand || f.type.kind === 'param' ? resolveType(f.type, brand) : f.type;
  if (!isPointerType(t)) {
    out.push({ name: f.name, type: t, value: readPrimitive(ctx, s, f, t.kind) });
    return;
  }
  const loc = structPointer(s, f.offset);
  const v = loc === null ? undefined : readPointer(ctx, loc, s.nest, t);
  if (v !== undefined) out.push({ name: f.name, type: t, value: v });
  else if (always) out.push({ name: f.name, type: t, value: nullPointerValue(ctx, t, f.defaultValue) });
}

export function decodeStructRef(ctx: DecodeContext, s: StructRef, info: StructInfo, brand: Brand | null): DStruct {
  const out: DField[] = [];
  let disc = -1;
  if (info.discriminantCount > 0) disc = readUint(ctx.msg, s, info.discriminantOffset, 16);
  for (const f of info.fields) {
    if (f.discriminant === NO_DISCRIMINANT) decodeField(ctx, s, f, brand, out, false);
    else if (f.discriminant === disc) decodeField(ctx, s, f, brand, out, disc !== 0);
  }
  return new DStruct(info, out, disc, s);
}

/** Decodes the struct a pointer refers to; a null pointer decodes as the empty (all-default) struct. */
export function decodeStructAt(
  ctx: DecodeContext,
  loc: PointerLoc | null,
  nest: number,
  info: StructInfo,
  brand: Brand | null,
): DStruct {
  const s = loc === null ? null : readStruct(ctx.msg, loc, nest);
  return decodeStructRef(ctx, s ?? EMPTY_STRUCT, info, brand);
}
