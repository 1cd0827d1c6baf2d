// Compiled schemas (a CodeGeneratorRequest, as `capnp compile -o-` writes it)
// loaded once into plain lookup tables that the dynamic decoder walks. The
// request is read with our own wire reader (wire.ts): a tenth of what going
// through capnp-es's generated classes cost, which every replay paid.

import { Framer } from './framer.js';
import {
  DecodeError,
  DEFAULT_NESTING_LIMIT,
  ElementSize,
  WireMessage,
  listStruct,
  readBit,
  readBlob,
  readList,
  readStruct,
  readUint,
  readWord,
  structPointer,
  wordHex,
  type StructRef,
} from './wire.js';

export type PrimitiveKind =
  | 'void'
  | 'bool'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'float32'
  | 'float64';

export type TypeRef =
  | { kind: PrimitiveKind }
  | { kind: 'text' }
  | { kind: 'data' }
  | { kind: 'list'; element: TypeRef }
  | { kind: 'enum'; id: string }
  | { kind: 'struct'; id: string; brand: Brand | null }
  | { kind: 'interface'; id: string; brand: Brand | null }
  | { kind: 'anyPointer' }
  | { kind: 'param'; scopeId: string; index: number }
  | { kind: 'implicitParam'; index: number };

/** Generic bindings: per scope id, the bound types (null = unbound) or 'inherit'. */
export type Brand = Map<string, (TypeRef | null)[] | 'inherit'>;

/** A slot's default as raw bits (XORed with the wire value), or a pointer default. */
export type DefaultBits =
  | { kind: 'bits'; lo: number; hi: number }
  | { kind: 'blob'; bytes: Uint8Array }
  | { kind: 'none' };

export interface FieldInfo {
  name: string;
  /** Position in the struct's field list (the order text is printed in). */
  index: number;
  /** Discriminant value, or NO_DISCRIMINANT for fields outside the union. */
  discriminant: number;
  /** Slot: offset in units of the type's size (bits for bool, words for 64-bit, pointer index for pointers). */
  offset: number;
  type: TypeRef;
  defaultValue: DefaultBits;
  /** Group fields: the group's struct node id. */
  groupId: string | null;
}

export const NO_DISCRIMINANT = 0xffff;

export interface StructInfo {
  id: string;
  displayName: string;
  /** The display name after the file name, e.g. `Init.makeEcho$Params`. */
  name: string;
  dataWords: number;
  ptrCount: number;
  discriminantCount: number;
  /** Discriminant offset in 16-bit units. */
  discriminantOffset: number;
  fields: FieldInfo[];
  isGroup: boolean;
}

export interface EnumInfo {
  id: string;
  name: string;
  enumerants: string[];
}

export interface MethodInfo {
  name: string;
  ordinal: number;
  paramId: string;
  paramBrand: Brand | null;
  resultId: string;
  resultBrand: Brand | null;
  /** True when the params struct has a field of type mp Proxy.Context. */
  hasContext: boolean;
}

export interface InterfaceInfo {
  id: string;
  name: string;
  displayName: string;
  methods: MethodInfo[];
  superclasses: string[];
}

export class SchemaSet {
  readonly structs = new Map<string, StructInfo>();
  readonly enums = new Map<string, EnumInfo>();
  readonly interfaces = new Map<string, InterfaceInfo>();

  struct(id: string): StructInfo {
    const s = this.structs.get(id);
    if (!s) throw new Error(`schema has no struct ${id}`);
    return s;
  }

  method(interfaceId: string, methodId: number): { iface: InterfaceInfo; method: MethodInfo } | null {
    const iface = this.interfaces.get(interfaceId);
    const method = iface?.methods[methodId];
    return iface && method ? { iface, method } : null;
  }
}


/** mp/proxy.capnp's Context struct. */
import { contextField } from '../mp/concepts.js';

// ---- reading a CodeGeneratorRequest with our own wire reader (wire.ts) ----
// Field positions from schema.capnp (`capnp compile -ocapnp schema.capnp`
// prints them): data offsets in units of the field's size, pointers by index.

/** The CGR's message, its nodes read one by one (the whole set is converted at once). */
function cgrMessage(bytes: Uint8Array): WireMessage {
  const events = new Framer().push(bytes);
  const first = events[0];
  if (!first || first.kind !== 'frame') throw new DecodeError(`not a compiled schema set: ${first?.kind === 'error' ? first.reason : 'too short'}`);
  return new WireMessage(first.frame.segments);
}

/** A struct field of `s` (pointer `index`); the empty struct when null. */
function sub(m: WireMessage, s: StructRef, index: number): StructRef {
  const loc = structPointer(s, index);
  return (loc && readStruct(m, loc, s.nest)) ?? EMPTY_STRUCT;
}

const EMPTY_STRUCT: StructRef = { seg: 0, data: 0, dataBits: 0, ptrs: 0, ptrCount: 0, nest: 1 };

/** The struct elements of list pointer `index` of `s`. */
function structList(m: WireMessage, s: StructRef, index: number): StructRef[] {
  const loc = structPointer(s, index);
  const l = loc && readList(m, loc, s.nest, ElementSize.InlineComposite);
  const out: StructRef[] = [];
  if (l) for (let i = 0; i < l.count; i++) out.push(listStruct(l, i));
  return out;
}

/** A Text field as capnp-es reads it (UTF-8); '' when null. */
function textField(m: WireMessage, s: StructRef, index: number): string {
  const loc = structPointer(s, index);
  const b = loc && readBlob(m, loc, true);
  return b ? Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8') : '';
}

/** A UInt64 id field (word `offset`): schema ids print as `0x` + lower-case hex without leading zeros, as kj::hex does. */
function idField(m: WireMessage, s: StructRef, offset: number): string {
  const [lo, hi] = readWord(m, s, offset);
  return '0x' + wordHex(lo, hi);
}

const PRIMITIVES: (PrimitiveKind | 'text' | 'data')[] = [
  'void', 'bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'float32', 'float64', 'text', 'data',
];

function readBrand(m: WireMessage, b: StructRef): Brand | null {
  const scopes = structList(m, b, 0);
  if (scopes.length === 0) return null;
  const out: Brand = new Map();
  for (const s of scopes) {
    const id = idField(m, s, 0);
    if (readUint(m, s, 4, 16) === 1) out.set(id, 'inherit');
    else out.set(id, structList(m, s, 0).map((bd) => (readUint(m, bd, 0, 16) === 1 ? readType(m, sub(m, bd, 0)) : null)));
  }
  return out;
}

function readType(m: WireMessage, t: StructRef): TypeRef {
  const w = readUint(m, t, 0, 16);
  const prim = PRIMITIVES[w];
  if (prim) return { kind: prim } as TypeRef;
  switch (w) {
    case 14:
      return { kind: 'list', element: readType(m, sub(m, t, 0)) };
    case 15:
      return { kind: 'enum', id: idField(m, t, 1) };
    case 16:
      return { kind: 'struct', id: idField(m, t, 1), brand: readBrand(m, sub(m, t, 0)) };
    case 17:
      return { kind: 'interface', id: idField(m, t, 1), brand: readBrand(m, sub(m, t, 0)) };
    case 18: {
      const a = readUint(m, t, 4, 16);
      if (a === 1) return { kind: 'param', scopeId: idField(m, t, 2), index: readUint(m, t, 5, 16) };
      if (a === 2) return { kind: 'implicitParam', index: readUint(m, t, 5, 16) };
      return { kind: 'anyPointer' };
    }
    default:
      throw new DecodeError(`unknown schema type ${w}`);
  }
}

/** A Value's bits as the wire holds them (the decoder XORs them with the wire value). */
function readDefault(m: WireMessage, v: StructRef): DefaultBits {
  switch (readUint(m, v, 0, 16)) {
    case 1:
      return { kind: 'bits', lo: readBit(m, v, 16) ? 1 : 0, hi: 0 };
    case 2:
    case 6:
      return { kind: 'bits', lo: readUint(m, v, 2, 8), hi: 0 };
    case 3:
    case 7:
    case 15:
      return { kind: 'bits', lo: readUint(m, v, 1, 16), hi: 0 };
    case 4:
    case 8:
    case 10:
      return { kind: 'bits', lo: readUint(m, v, 1, 32), hi: 0 };
    case 5:
    case 9:
    case 11: {
      const [lo, hi] = readWord(m, v, 1);
      return { kind: 'bits', lo, hi };
    }
    case 12: {
      const loc = structPointer(v, 0);
      const b = loc && readBlob(m, loc, true);
      return b && b.length > 0 ? { kind: 'blob', bytes: new Uint8Array(b) } : { kind: 'none' };
    }
    case 13: {
      const loc = structPointer(v, 0);
      const b = loc && readBlob(m, loc, false);
      return b ? { kind: 'blob', bytes: new Uint8Array(b) } : { kind: 'none' };
    }
    default:
      return { kind: 'none' };
  }
}

function readField(m: WireMessage, f: StructRef, index: number): FieldInfo {
  const base = { name: textField(m, f, 0), index, discriminant: readUint(m, f, 1, 16) ^ NO_DISCRIMINANT };
  if (readUint(m, f, 4, 16) === 1) {
    return { ...base, offset: 0, type: { kind: 'void' }, defaultValue: { kind: 'none' }, groupId: idField(m, f, 2) };
  }
  return {
    ...base,
    offset: readUint(m, f, 1, 32),
    type: readType(m, sub(m, f, 2)),
    defaultValue: readDefault(m, sub(m, f, 3)),
    groupId: null,
  };
}

function shortName(displayName: string): string {
  const i = displayName.indexOf(':');
  return i < 0 ? displayName : displayName.slice(i + 1);
}

/** Reads a CodeGeneratorRequest into a SchemaSet. */
export function loadCodeGeneratorRequest(bytes: Uint8Array): SchemaSet {
  const m = cgrMessage(bytes);
  const req = readStruct(m, m.root(), DEFAULT_NESTING_LIMIT) ?? EMPTY_STRUCT;
  const set = new SchemaSet();
  for (const n of structList(m, req, 0)) {
    const id = idField(m, n, 0);
    const displayName = textField(m, n, 0);
    switch (readUint(m, n, 6, 16)) {
      case 1:
        set.structs.set(id, {
          id,
          displayName,
          name: shortName(displayName),
          dataWords: readUint(m, n, 7, 16),
          ptrCount: readUint(m, n, 12, 16),
          discriminantCount: readUint(m, n, 15, 16),
          discriminantOffset: readUint(m, n, 8, 32),
          fields: structList(m, n, 3).map((f, i) => readField(m, f, i)),
          isGroup: readBit(m, n, 224),
        });
        break;
      case 2:
        set.enums.set(id, { id, name: shortName(displayName), enumerants: structList(m, n, 3).map((e) => textField(m, e, 0)) });
        break;
      case 3: {
        const methods: MethodInfo[] = structList(m, n, 3).map((me, i) => ({
          name: textField(m, me, 0),
          ordinal: i,
          paramId: idField(m, me, 1),
          paramBrand: readBrand(m, sub(m, me, 2)),
          resultId: idField(m, me, 2),
          resultBrand: readBrand(m, sub(m, me, 3)),
          hasContext: false,
        }));
        const superclasses = structList(m, n, 4).map((s) => idField(m, s, 0));
        set.interfaces.set(id, { id, name: shortName(displayName), displayName, methods, superclasses });
        break;
      }
      default:
        break;
    }
  }
  for (const iface of set.interfaces.values()) {
    for (const me of iface.methods) me.hasContext = contextField(set.structs.get(me.paramId)) !== undefined;
  }
  return set;
}
