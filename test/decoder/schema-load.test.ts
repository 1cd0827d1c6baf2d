// The CodeGeneratorRequest reader (loadCodeGeneratorRequest, our own wire
// reader) against the loader it replaced, which went through capnp-es's
// generated schema classes (kept here as the reference): both give the same
// SchemaSet for the bundled schemas and every golden schema set (generics,
// groups, unions, every kind of default), and a damaged schema set is a
// DecodeError, never a wrong set.

import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
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
import { ROOT } from '../helpers.js';
import { contextField } from '../../src/mp/concepts.js';
import { DecodeError } from '../../src/decoder/wire.js';
import {
  loadCodeGeneratorRequest,
  NO_DISCRIMINANT,
  SchemaSet,
  type Brand,
  type DefaultBits,
  type FieldInfo,
  type MethodInfo,
  type PrimitiveKind,
  type TypeRef,
} from '../../src/decoder/schema.js';

function idHex(id: bigint): string {
  return '0x' + id.toString(16);
}

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

/** The reference: the loader as it was, through capnp-es's generated schema classes. */
function capnpEsLoad(bytes: Uint8Array): SchemaSet {
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

const SETS = ['schemas/compiled/bitcoin.cgr', 'schemas/compiled/rpc.cgr', 'test/golden/synthetic/constructs.cgr', 'test/golden/captures/mpexample.cgr', 'test/golden/captures/bitcoin.cgr'];

/** What JSON.stringify makes of a Buffer (its toJSON runs before the replacer). */
const isBufferJson = (v: unknown): v is { data: number[] } => typeof v === 'object' && v !== null && (v as { type?: unknown }).type === 'Buffer';

/** A SchemaSet as plain data (Maps as entry lists, byte defaults as arrays). */
function plain(s: SchemaSet): unknown {
  return JSON.parse(
    JSON.stringify({ structs: s.structs, enums: s.enums, interfaces: s.interfaces }, (_k, v: unknown) =>
      v instanceof Map ? [...v.entries()] : v instanceof Uint8Array ? [...v] : isBufferJson(v) ? v.data : v,
    ),
  );
}

describe('loadCodeGeneratorRequest (own wire reader)', () => {
  for (const f of SETS) {
    it(`reads ${f} as the capnp-es loader did`, () => {
      const bytes = readFileSync(join(ROOT, f));
      const ours = loadCodeGeneratorRequest(bytes);
      expect(ours.structs.size + ours.interfaces.size).toBeGreaterThan(5);
      expect(plain(ours)).toEqual(plain(capnpEsLoad(bytes)));
    });
  }

  it('keeps discriminants, groups, brands and every kind of default', () => {
    const s = loadCodeGeneratorRequest(readFileSync(join(ROOT, 'test/golden/synthetic/constructs.cgr')));
    const fields = [...s.structs.values()].flatMap((x) => x.fields);
    expect(fields.some((f) => f.discriminant !== NO_DISCRIMINANT)).toBe(true);
    expect(fields.some((f) => f.groupId !== null)).toBe(true);
    for (const k of ['bits', 'blob'] as const) expect(fields.some((f) => f.defaultValue.kind === k)).toBe(true);
    expect(fields.some((f) => f.type.kind === 'param')).toBe(true);
    expect([...s.interfaces.values()].some((i) => i.methods.some((m) => m.hasContext))).toBe(true);
  });

  it('refuses a damaged schema set with a DecodeError', () => {
    const bytes = readFileSync(join(ROOT, 'schemas/compiled/rpc.cgr'));
    expect(() => loadCodeGeneratorRequest(bytes.subarray(0, bytes.length - 8))).toThrow(DecodeError);
    expect(() => loadCodeGeneratorRequest(new Uint8Array(3))).toThrow(DecodeError);
    const bad = new Uint8Array(bytes);
    bad.fill(0xff, 16, 64); // the root and the start of the node list: pointers out of bounds
    expect(() => loadCodeGeneratorRequest(bad)).toThrow(DecodeError);
  });
});
