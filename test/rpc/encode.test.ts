// The schema-driven encoder: values written with it decode (with the
// project's decoder) to the same values, and re-encoding what the C++
// library wrote in the synthetic fixtures renders exactly like the original.

import { describe, it, expect } from 'vitest';
import { join } from 'node:path';
import { Message } from 'capnp-es';
import { Payload } from 'capnp-es/capnp/rpc';
import { ROOT, schemaSetFromCgr, decodeHexlogFile } from '../helpers.js';
import { encodeStruct, EncodeError } from '../../src/rpc/encode.js';
import { structToPlain, Plain } from '../../src/rpc/values.js';
import { SchemaSet, StructInfo, Brand } from '../../src/decoder/schema.js';
import { DStruct, OpaquePointer, decodeStructAt } from '../../src/decoder/dynamic.js';
import { WireMessage, readStruct, structPointer } from '../../src/decoder/wire.js';
import { Framer } from '../../src/decoder/framer.js';
import { renderStruct } from '../../src/decoder/text.js';

const constructs = schemaSetFromCgr(join(ROOT, 'test/golden/synthetic/constructs.cgr'));

/** A capability stand-in: the encoder hands it to capIndex. */
class FakeCap {
  constructor(readonly i: number) {}
}

function structByName(set: SchemaSet, name: string): StructInfo {
  const s = [...set.structs.values()].find((x) => x.name === name);
  if (!s) throw new Error(`no struct ${name}`);
  return s;
}

/** Encodes `value` as a Payload's content, frames it, and decodes it back with the decoder. */
function roundTrip(set: SchemaSet, info: StructInfo, value: Plain, brand: Brand | null = null): { struct: DStruct; caps: unknown[]; bytes: Uint8Array } {
  const m = new Message();
  const p = m.initRoot(Payload);
  const caps: unknown[] = [];
  encodeStruct(
    {
      schemas: set,
      capIndex: (v) => {
        if (v === null) return null;
        if (!(v instanceof FakeCap)) throw new EncodeError('not a cap');
        caps.push(v);
        return caps.length - 1;
      },
    },
    p.content,
    info,
    brand,
    value,
  );
  const bytes = new Uint8Array(m.toArrayBuffer());
  const ev = new Framer().push(bytes);
  expect(ev).toHaveLength(1);
  const f = ev[0]!;
  if (f.kind !== 'frame') throw new Error('framing');
  const wire = new WireMessage(f.frame.segments);
  const root = readStruct(wire, wire.root(), 64)!;
  const struct = decodeStructAt({ schemas: set, msg: wire, capCount: caps.length }, structPointer(root, 0), root.nest, info, brand);
  return { struct, caps, bytes };
}

function plainOf(set: SchemaSet, s: DStruct): Plain {
  return structToPlain(s, set, (i) => new FakeCap(i));
}

describe('encoder', () => {
  it('writes every primitive, XORed with non-zero defaults, and leaves absent fields at their defaults', () => {
    const info = structByName(constructs, 'Defaults');
    const value = {
      b: false,
      i8: 5,
      i16: -1,
      i32: 0,
      i64: -1234567890123456789n,
      u8: 0,
      u16: 1,
      u32: 4000000001,
      u64: 18446744073709551615n,
      f32: 0,
      f64: -0,
      e: 'red',
      t: 'héllo',
      d: new Uint8Array([1, 2, 3]),
      s: { x: -7, name: 'n' },
      l: [9],
    };
    const { struct } = roundTrip(constructs, info, value);
    const p = plainOf(constructs, struct);
    expect(p).toMatchObject({ ...value, i64: -1234567890123456789n, v: null });
    expect(Object.is(p.f64, -0)).toBe(true);
    // Absent fields read as the schema defaults.
    const { struct: empty } = roundTrip(constructs, info, {});
    expect(renderStruct(empty, constructs)).toContain('i32 = 1000000');
    expect(plainOf(constructs, empty)).toMatchObject({ b: true, u64: 12345678901234567890n, f32: 1.5, e: 'blue', b2: false, b3: true });
  });

  it('writes lists of every element size, nested lists, struct lists and capability lists', () => {
    const info = structByName(constructs, 'Lists');
    const value = {
      lVoid: [null, null, null],
      lBool: Array.from({ length: 65 }, (_, i) => i % 3 === 0),
      lI8: [-128, 0, 127],
      lU8: [0, 255],
      lI16: [-32768, 32767],
      lU16: [65535],
      lI32: [-2147483648, 2147483647],
      lU32: [4294967295],
      lF32: [1.5, -Infinity],
      lI64: [-9007199254740993n, 5],
      lU64: [18446744073709551615n],
      lF64: [Math.PI, -0],
      lText: ['a', '', 'ü'],
      lData: [new Uint8Array([0, 255]), new Uint8Array(0)],
      lLI32: [[1, 2], [], [3]],
      lLText: [['x'], ['y', 'z']],
      lStruct: [{ x: 1, name: 'one' }, { x: 2 }],
      lEnum: ['green', 'ultraViolet'],
      lIface: [new FakeCap(0), null, new FakeCap(1)],
      lEmpty: [{}, {}],
      lShape: [{ name: 's', circle: 2.5 }, { rect: { w: 1, h: 2 } }, { label: 'lbl' }, { nothing: null }],
      lLLU8: [[[1], [2, 3]], []],
    };
    const { struct, caps } = roundTrip(constructs, info, value);
    expect(caps).toHaveLength(2);
    const p = plainOf(constructs, struct);
    expect(p.lVoid).toEqual([null, null, null]);
    expect(p.lBool).toEqual(value.lBool);
    expect(p.lI64).toEqual([-9007199254740993n, 5]);
    expect(p.lU64).toEqual([18446744073709551615n]);
    expect(p.lStruct).toEqual([{ x: 1, name: 'one' }, { x: 2 }]);
    expect(p.lEnum).toEqual(['green', 'ultraViolet']);
    expect((p.lIface as unknown[]).map((c) => (c instanceof FakeCap ? c.i : c))).toEqual([0, null, 1]);
    expect(p.lShape).toEqual([
      { name: 's', circle: 2.5, extra: 0 },
      { rect: { w: 1, h: 2 }, extra: 0 },
      { label: 'lbl', extra: 0 },
      { nothing: null, extra: 0 },
    ]);
    expect(p.lLLU8).toEqual([[[1], [2, 3]], []]);
    expect(p.lText).toEqual(['a', '', 'ü']);
    expect(p.lLText).toEqual([['x'], ['y', 'z']]);
  });

  it('writes unions (unnamed, named, in groups), groups and empty structs', () => {
    const info = structByName(constructs, 'Unions');
    const value = { u1: { b: 'text' }, g: { x: 3, y: 'why', z: { zg: { p: true, q: 0.5 } } }, plain: 7, u2: { third: {} }, emptyField: {} };
    const { struct } = roundTrip(constructs, info, value);
    expect(renderStruct(struct, constructs)).toBe(
      '(u1 = (b = "text"), g = (x = 3, y = "why", z = (zg = (p = true, q = 0.5))), plain = 7, u2 = (third = ()), emptyField = ())',
    );
    expect(() => roundTrip(constructs, info, { u1: { a: 1, b: 'x' } })).toThrow(/both given/);
  });

  it('binds generic parameters from the brand', () => {
    const g = structByName(constructs, 'Generics');
    const value = {
      textData: { key: 'k', value: new Uint8Array([7]) },
      nested: { key: 'n', value: [{ key: [1, 2], value: 'v' }] },
      boxInner: { count: 1, item: { x: 4 }, more: { count: 2 } },
      boxCb: { item: new FakeCap(0) },
      outerInner: { t: 'inner', n: 3 },
      pairStruct: { key: { x: 1 }, value: ['red', 'blue'] },
    };
    const { struct } = roundTrip(constructs, g, value);
    const text = renderStruct(struct, constructs);
    expect(text).toContain('textData = (key = "k", value = "\\a")');
    expect(text).toContain('nested = (key = "n", value = [(key = [1, 2], value = "v")])');
    expect(text).toContain('boxCb = (count = 0, item = <external capability>)');
    expect(text).toContain('pairStruct = (key = (x = 1), value = [red, blue])');
  });

  it('rejects unknown fields and wrong value types', () => {
    const info = structByName(constructs, 'Inner');
    expect(() => roundTrip(constructs, info, { y: 1 })).toThrow(/no field 'y'/);
    expect(() => roundTrip(constructs, info, { x: 'one' })).toThrow(/expected an integer/);
    expect(() => roundTrip(constructs, info, { name: 5 })).toThrow(/expected a string/);
    expect(() => roundTrip(constructs, info, { x: 2 ** 31 })).toThrow(/out of range for int32/);
    expect(() => roundTrip(constructs, structByName(constructs, 'Primitives'), { u8: -1 })).toThrow(/out of range for uint8/);
  });

  it('re-encodes every params/results struct of the C++-made fixtures to the same text', () => {
    let checked = 0;
    const skipped: string[] = [];
    for (const f of ['values', 'lists', 'farpointers', 'large']) {
      const msgs = decodeHexlogFile(join(ROOT, `test/fixtures/synthetic/${f}.hexlog`), constructs);
      for (const m of msgs) {
        if (!m.content || m.error || !m.method) continue;
        const isCall = m.rpc?.type === 'call';
        const info = constructs.struct(isCall ? m.method.paramId : m.method.resultId);
        const brand = isCall ? m.method.paramBrand : m.method.resultBrand;
        const original = renderStruct(m.content, constructs);
        let plain: Plain;
        try {
          plain = plainOf(constructs, m.content);
          const hasOpaque = JSON.stringify(plain, (_k, v: unknown) => (v instanceof OpaquePointer ? '\u0000opaque' : typeof v === 'bigint' ? v.toString() : v)).includes('\\u0000opaque');
          if (hasOpaque) {
            skipped.push(`${f} #${m.n}: AnyPointer content`);
            continue;
          }
        } catch (e) {
          skipped.push(`${f} #${m.n}: ${String(e)}`);
          continue;
        }
        const again = renderStruct(roundTrip(constructs, info, plain, brand).struct, constructs);
        if (again !== original) {
          // Lossy by design: Text that is not UTF-8, and discriminants no member has.
          const invalidUtf8 = /\\[23][0-7]{2}/.test(original) && !/\\[23][0-7]{2}/.test(again);
          if (invalidUtf8 || m.content.which() === null) {
            skipped.push(`${f} #${m.n}: lossy`);
            continue;
          }
          expect(again, `${f} message #${m.n} ${m.name}`).toBe(original);
        }
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(50);
    expect(skipped.length).toBeLessThan(checked / 4);
  });

  it('handles large Data and Text', () => {
    const info = structByName(constructs, 'Texts');
    const big = new Uint8Array(1 << 20).map((_, i) => i & 0xff);
    const { struct } = roundTrip(constructs, info, { d: big, t: 'x'.repeat(200000) });
    const p = plainOf(constructs, struct);
    expect((p.d as Uint8Array).length).toBe(1 << 20);
    expect((p.d as Uint8Array)[4097]).toBe(1);
    expect((p.t as string).length).toBe(200000);
  });
});

