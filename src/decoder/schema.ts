// Compiled schemas (a CodeGeneratorRequest, as `capnp compile -o-` writes it)
// loaded once into plain lookup tables that the dynamic decoder walks.

import { Message } from 'capnp-es';
import {
  CodeGeneratorRequest,
  Node,
  Type,
  Value,
  Field,
  Brand as CapnpBrand,
  Brand_Scope,
  Brand_Binding,
  Type_AnyPointer,
} from 'capnp-es/capnp/schema';

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

/** Schema ids print as `0x` + lower-case hex without leading zeros, as kj::hex does. */
export function idHex(id: bigint): string {
  return '0x' + id.toString(16);
}

/** mp/proxy.capnp's Context struct. */
import { contextField } from '../mp/concepts.js';

const PRIMITIVES: Record<number, PrimitiveKind | 'text' | 'data'> = {
  [Type.VOID]: 'void',
  [Type.BOOL]: 'bool',
  [Type.INT8]: 'int8',
  [Type.INT16]: 'int16',
  [Type.INT32]: 'int32',
  [Type.INT64]: 'int64',
  [Type.UINT8]: 'uint8',
  [Type.UINT16]: 'uint16',
  [Type.UINT32]: 'uint32',
  [Type.UINT64]: 'uint64',
  [Type.FLOAT32]: 'float32',
  [Type.FLOAT64]: 'float64',
  [Type.TEXT]: 'text',
  [Type.DATA]: 'data',
};

function convertBrand(b: CapnpBrand): Brand | null {
  const scopes = b.scopes;
  if (scopes.length === 0) return null;
  const out: Brand = new Map();
  scopes.forEach((s: Brand_Scope) => {
    const id = idHex(s.scopeId);
    if (s._isInherit) {
      out.set(id, 'inherit');
    } else {
      const binds: (TypeRef | null)[] = [];
      s.bind.forEach((bd: Brand_Binding) => binds.push(bd._isType ? convertType(bd.type) : null));
      out.set(id, binds);
    }
  });
  return out;
}

function convertAnyPointer(a: Type_AnyPointer): TypeRef {
  if (a._isParameter) return { kind: 'param', scopeId: idHex(a.parameter.scopeId), index: a.parameter.parameterIndex };
  if (a._isImplicitMethodParameter) return { kind: 'implicitParam', index: a.implicitMethodParameter.parameterIndex };
  return { kind: 'anyPointer' };
}

function convertType(t: Type): TypeRef {
  const w = t.which();
  const prim = PRIMITIVES[w];
  if (prim) return { kind: prim } as TypeRef;
  switch (w) {
    case Type.LIST:
      return { kind: 'list', element: convertType(t.list.elementType) };
    case Type.ENUM:
      return { kind: 'enum', id: idHex(t.enum.typeId) };
    case Type.STRUCT:
      return { kind: 'struct', id: idHex(t.struct.typeId), brand: convertBrand(t.struct.brand) };
    case Type.INTERFACE:
      return { kind: 'interface', id: idHex(t.interface.typeId), brand: convertBrand(t.interface.brand) };
    case Type.ANY_POINTER:
      return convertAnyPointer(t.anyPointer);
    default:
      throw new Error(`unknown schema type ${w}`);
  }
}

const f32 = new Float32Array(1);
const f32u = new Uint32Array(f32.buffer);
const f64 = new Float64Array(1);
const f64u = new Uint32Array(f64.buffer);

function bigBits(v: bigint): DefaultBits {
  const u = BigInt.asUintN(64, v);
  return { kind: 'bits', lo: Number(u & 0xffffffffn), hi: Number(u >> 32n) };
}

function convertDefault(v: Value): DefaultBits {
  switch (v.which()) {
    case Value.BOOL:
      return { kind: 'bits', lo: v.bool ? 1 : 0, hi: 0 };
    case Value.INT8:
      return { kind: 'bits', lo: v.int8 & 0xff, hi: 0 };
    case Value.INT16:
      return { kind: 'bits', lo: v.int16 & 0xffff, hi: 0 };
    case Value.INT32:
      return { kind: 'bits', lo: v.int32 >>> 0, hi: 0 };
    case Value.UINT8:
      return { kind: 'bits', lo: v.uint8, hi: 0 };
    case Value.UINT16:
      return { kind: 'bits', lo: v.uint16, hi: 0 };
    case Value.UINT32:
      return { kind: 'bits', lo: v.uint32 >>> 0, hi: 0 };
    case Value.ENUM:
      return { kind: 'bits', lo: v.enum, hi: 0 };
    case Value.INT64:
      return bigBits(v.int64);
    case Value.UINT64:
      return bigBits(v.uint64);
    case Value.FLOAT32:
      f32[0] = v.float32;
      return { kind: 'bits', lo: f32u[0]!, hi: 0 };
    case Value.FLOAT64:
      f64[0] = v.float64;
      return { kind: 'bits', lo: f64u[0]!, hi: f64u[1]! };
    case Value.TEXT:
      return v.text !== '' ? { kind: 'blob', bytes: Buffer.from(v.text, 'utf8') } : { kind: 'none' };
    case Value.DATA:
      return v._hasData() ? { kind: 'blob', bytes: new Uint8Array(v.data.toUint8Array()) } : { kind: 'none' };
    default:
      return { kind: 'none' };
  }
}

function convertField(f: Field, index: number): FieldInfo {
  const base = { name: f.name, index, discriminant: f.discriminantValue };
  if (f._isGroup) {
    return { ...base, offset: 0, type: { kind: 'void' }, defaultValue: { kind: 'none' }, groupId: idHex(f.group.typeId) };
  }
  const slot = f.slot;
  return {
    ...base,
    offset: slot.offset,
    type: convertType(slot.type),
    defaultValue: convertDefault(slot.defaultValue),
    groupId: null,
  };
}

function shortName(n: Node): string {
  const d = n.displayName;
  const i = d.indexOf(':');
  return i < 0 ? d : d.slice(i + 1);
}

/** Reads a CodeGeneratorRequest into a SchemaSet. */
export function loadCodeGeneratorRequest(bytes: Uint8Array): SchemaSet {
  // capnp-es may keep references into the buffer: hand it a private copy.
  const copy = new Uint8Array(bytes);
  const req = new Message(copy, false).getRoot(CodeGeneratorRequest);
  const set = new SchemaSet();
  req.nodes.forEach((n: Node) => {
    const id = idHex(n.id);
    switch (n.which()) {
      case Node.STRUCT: {
        const s = n.struct;
        const fields: FieldInfo[] = [];
        s.fields.forEach((f: Field, i: number) => fields.push(convertField(f, i)));
        set.structs.set(id, {
          id,
          displayName: n.displayName,
          name: shortName(n),
          dataWords: s.dataWordCount,
          ptrCount: s.pointerCount,
          discriminantCount: s.discriminantCount,
          discriminantOffset: s.discriminantOffset,
          fields,
          isGroup: s.isGroup,
        });
        break;
      }
      case Node.ENUM: {
        const names: string[] = [];
        n.enum.enumerants.forEach((e) => names.push(e.name));
        set.enums.set(id, { id, name: shortName(n), enumerants: names });
        break;
      }
      case Node.INTERFACE: {
        const methods: MethodInfo[] = [];
        n.interface.methods.forEach((m, i) =>
          methods.push({
            name: m.name,
            ordinal: i,
            paramId: idHex(m.paramStructType),
            paramBrand: convertBrand(m.paramBrand),
            resultId: idHex(m.resultStructType),
            resultBrand: convertBrand(m.resultBrand),
            hasContext: false,
          }),
        );
        const supers: string[] = [];
        n.interface.superclasses.forEach((s) => supers.push(idHex(s.id)));
        set.interfaces.set(id, { id, name: shortName(n), displayName: n.displayName, methods, superclasses: supers });
        break;
      }
      default:
        break;
    }
  });
  for (const iface of set.interfaces.values()) {
    for (const m of iface.methods) {
      const params = set.structs.get(m.paramId);
      m.hasContext = contextField(params) !== undefined;
    }
  }
  return set;
}
