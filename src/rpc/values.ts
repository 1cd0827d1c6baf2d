// Decoded values (the decoder's DStruct trees) → plain JS objects, and the
// two ways of naming a capability inside a params/results struct: field
// names (what callers write) and pipeline ops (pointer indexes, what the
// wire carries in PromisedAnswer.transform).

import { DStruct, DList, CapRef, OpaquePointer, Value } from '../decoder/dynamic.js';
import { readCapIndex, pointerKind } from '../decoder/wire.js';
import { SchemaSet, StructInfo, FieldInfo, TypeRef, NO_DISCRIMINANT } from '../decoder/schema.js';

export type Plain = Record<string, unknown>;

/** Maps a cap-table index (and the field's type) to the value to put in the plain object. */
export type CapLookup = (index: number, type: TypeRef) => unknown;

/**
 * Converts a decoded value. Text becomes a UTF-8 string, Data a copied
 * Uint8Array, enums their enumerant name, capabilities `cap(index)` (index
 * into the payload's cap table; -1 = null).
 */
export function toPlain(v: Value, t: TypeRef, schemas: SchemaSet, cap: CapLookup): unknown {
  if (v instanceof DStruct) return structToPlain(v, schemas, cap);
  if (v instanceof DList) return v.items.map((x) => toPlain(x, v.elementType, schemas, cap));
  if (v instanceof CapRef) return v.index < 0 ? null : cap(v.index, t);
  if (v instanceof OpaquePointer) {
    if (v.loc && pointerKind(v.msg, v.loc) === 'capability') {
      const i = readCapIndex(v.msg, v.loc);
      if (i !== null) return cap(i, t);
    }
    return v;
  }
  if (typeof v === 'string') return t.kind === 'text' ? Buffer.from(v, 'latin1').toString('utf8') : v;
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (typeof v === 'number' && t.kind === 'enum') return schemas.enums.get(t.id)?.enumerants[v] ?? v;
  return v;
}

export function structToPlain(s: DStruct, schemas: SchemaSet, cap: CapLookup): Plain {
  const out: Plain = {};
  for (const f of s.fields) out[f.name] = toPlain(f.value, f.type, schemas, cap);
  return out;
}

/** Calls `fn` on every capability-like leaf of a plain value (objects and arrays are walked). */
export function walkCaps(v: unknown, isCap: (x: unknown) => boolean, fn: (x: unknown) => void): void {
  if (isCap(v)) {
    fn(v);
  } else if (Array.isArray(v)) {
    for (const x of v) walkCaps(x, isCap, fn);
  } else if (typeof v === 'object' && v !== null && !(v instanceof Uint8Array) && Object.getPrototypeOf(v) === Object.prototype) {
    for (const x of Object.values(v)) walkCaps(x, isCap, fn);
  }
}

/** A copy of a plain value with every capability replaced by `fn(cap)`. */
export function mapCaps(v: unknown, isCap: (x: unknown) => boolean, fn: (x: unknown) => unknown): unknown {
  if (isCap(v)) return fn(v);
  if (Array.isArray(v)) return v.map((x) => mapCaps(x, isCap, fn));
  if (typeof v === 'object' && v !== null && !(v instanceof Uint8Array) && Object.getPrototypeOf(v) === Object.prototype) {
    const out: Plain = {};
    for (const [k, x] of Object.entries(v)) out[k] = mapCaps(x, isCap, fn);
    return out;
  }
  return v;
}

function isPointerType(t: TypeRef): boolean {
  return ['text', 'data', 'list', 'struct', 'interface', 'anyPointer', 'param', 'implicitParam'].includes(t.kind);
}

/**
 * Pipeline ops for a path of field names in a struct: one getPointerField per
 * pointer followed (groups add none). The path must end at a capability.
 */
export function pathToOps(schemas: SchemaSet, info: StructInfo, path: string[]): number[] {
  const ops: number[] = [];
  let cur = info;
  for (let i = 0; i < path.length; i++) {
    const name = path[i]!;
    let f = cur.fields.find((x) => x.name === name);
    if (!f) throw new Error(`${cur.name} has no field '${name}'`);
    while (f.groupId !== null) {
      cur = schemas.struct(f.groupId);
      const next: string | undefined = path[++i];
      if (next === undefined) throw new Error(`pipeline path ends at group '${name}'`);
      f = cur.fields.find((x) => x.name === next);
      if (!f) throw new Error(`${cur.name} has no field '${next}'`);
    }
    const last = i === path.length - 1;
    if (last && f.type.kind !== 'interface' && f.type.kind !== 'anyPointer' && f.type.kind !== 'param') {
      throw new Error(`pipeline path must end at a capability; '${f.name}' is ${f.type.kind}`);
    }
    if (!last && f.type.kind !== 'struct') throw new Error(`pipeline path goes through '${f.name}', which is not a struct`);
    ops.push(f.offset);
    if (!last && f.type.kind === 'struct') cur = schemas.struct(f.type.id);
  }
  return ops;
}

/** The interface type at the end of a field-name path, if known. */
export function pathInterface(schemas: SchemaSet, info: StructInfo, path: string[]): string | null {
  let cur = info;
  let t: TypeRef | null = null;
  for (const name of path) {
    const f = cur.fields.find((x) => x.name === name);
    if (!f) return null;
    if (f.groupId !== null) {
      cur = schemas.struct(f.groupId);
      continue;
    }
    t = f.type;
    if (t.kind === 'struct') cur = schemas.struct(t.id);
  }
  return t?.kind === 'interface' ? t.id : null;
}

/** Follows field names through a plain value. */
export function followPath(v: unknown, path: string[]): unknown {
  let cur = v;
  for (const name of path) {
    if (typeof cur !== 'object' || cur === null) return null;
    cur = (cur as Plain)[name];
  }
  return cur ?? null;
}

/** The field in `info` (or one of its groups) stored in pointer slot `index` and present in `value`. */
function pointerField(schemas: SchemaSet, info: StructInfo, value: Plain, index: number): { field: FieldInfo; value: unknown } | null {
  for (const f of info.fields) {
    const present = f.discriminant === NO_DISCRIMINANT || value[f.name] !== undefined;
    if (!present) continue;
    if (f.groupId !== null) {
      const g = value[f.name];
      if (typeof g !== 'object' || g === null) continue;
      const r = pointerField(schemas, schemas.struct(f.groupId), g as Plain, index);
      if (r) return r;
    } else if (isPointerType(f.type) && f.offset === index && value[f.name] !== undefined) {
      return { field: f, value: value[f.name] };
    }
  }
  return null;
}

/** Follows pipeline ops (pointer indexes) through a plain value of struct type `info`. */
export function followOps(schemas: SchemaSet, info: StructInfo, value: Plain, ops: number[]): unknown {
  let curInfo = info;
  let cur: unknown = value;
  for (let i = 0; i < ops.length; i++) {
    if (typeof cur !== 'object' || cur === null) return null;
    const r = pointerField(schemas, curInfo, cur as Plain, ops[i]!);
    if (!r) return null;
    cur = r.value;
    if (i < ops.length - 1) {
      if (r.field.type.kind !== 'struct') return null;
      curInfo = schemas.struct(r.field.type.id);
    }
  }
  return cur ?? null;
}
