// Cap'n Proto's text format as the C++ library prints it (kj::str of a
// dynamic value), and libmultiprocess's LogEscape. Strings here are byte
// strings: one char per byte (latin1), so output is byte-identical to C++.

import { DStruct, DList, CapRef, OpaquePointer, Value } from './dynamic.js';
import { TypeRef, SchemaSet } from './schema.js';

/** `%.{precision}g` with glibc's exact round-half-even, then kj's removal of `+` in exponents. */
export function formatG(x: number, precision: number): string {
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const neg = x < 0;
  const exact = Math.abs(x).toExponential(100); // 101 exactly rounded significant digits
  const ePos = exact.indexOf('e');
  let digits = exact[0]! + exact.slice(2, ePos);
  let exp = parseInt(exact.slice(ePos + 1), 10);
  // Round to `precision` digits, half to even on exact ties.
  const head = digits.slice(0, precision);
  const rest = digits.slice(precision);
  let roundUp = false;
  if (rest[0]! > '5') roundUp = true;
  else if (rest[0] === '5') {
    if (/[1-9]/.test(rest.slice(1))) roundUp = true;
    else roundUp = (head.charCodeAt(head.length - 1) - 48) % 2 === 1;
  }
  let d = head.split('').map((c) => c.charCodeAt(0) - 48);
  if (roundUp) {
    let i = d.length - 1;
    while (i >= 0) {
      if (d[i]! < 9) {
        d[i]!++;
        break;
      }
      d[i] = 0;
      i--;
    }
    if (i < 0) {
      d = [1, ...d.slice(0, -1)];
      exp++;
    }
  }
  digits = d.join('');
  let out: string;
  if (exp < -4 || exp >= precision) {
    let mant = digits[0]! + '.' + digits.slice(1);
    mant = mant.replace(/0+$/, '').replace(/\.$/, '');
    const ae = Math.abs(exp);
    out = mant + 'e' + (exp < 0 ? '-' : '') + (ae < 10 ? '0' + ae : String(ae));
  } else if (exp >= 0) {
    const intPart = digits.slice(0, exp + 1);
    const frac = digits.slice(exp + 1).replace(/0+$/, '');
    out = frac ? intPart + '.' + frac : intPart;
  } else {
    const frac = ('0'.repeat(-exp - 1) + digits).replace(/0+$/, '');
    out = '0.' + frac;
  }
  return neg ? '-' + out : out;
}

/** kj's rendering of a Float64: 15 significant digits, or 17 when 15 do not round-trip. */
export function formatFloat64(x: number): string {
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (Number.isNaN(x)) return 'nan';
  // Whole numbers of up to 15 digits (timeouts, counts) print as themselves: no rounding to do.
  if (Number.isInteger(x) && Math.abs(x) < 1e15 && !Object.is(x, -0)) return String(x);
  const s = formatG(x, 15);
  return Number(s) === x ? s : formatG(x, 17);
}

const FLT_MIN = 1.1754943508222875e-38;

/**
 * kj's rendering of a Float32: 6 significant digits, or 8 when 6 do not
 * round-trip through strtof (which fails with ERANGE on every subnormal).
 */
export function formatFloat32(x: number): string {
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (Number.isNaN(x)) return 'nan';
  const s = formatG(x, 6);
  const subnormal = x !== 0 && Math.abs(x) < FLT_MIN;
  return !subnormal && Math.fround(Number(s)) === x ? s : formatG(x, 8);
}

const NAMED_ESCAPES: Record<number, string> = {
  7: '\\a',
  8: '\\b',
  12: '\\f',
  10: '\\n',
  13: '\\r',
  9: '\\t',
  11: '\\v',
  39: "\\'",
  34: '\\"',
  92: '\\\\',
};

function octal(c: number): string {
  return '\\' + (c >> 6) + ((c >> 3) & 7) + (c & 7);
}

const TEXT_NEEDS_ESCAPE = /[\x00-\x1f\x7f'"\\]/;

/** kj::encodeCEscape as applied to Text: control bytes and DEL in octal, bytes >= 0x80 kept. */
export function escapeText(s: string): string {
  if (!TEXT_NEEDS_ESCAPE.test(s)) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const named = NAMED_ESCAPES[c];
    if (named) out += named;
    else if (c < 0x20 || c === 0x7f) out += octal(c);
    else out += s[i];
  }
  return out;
}

/**
 * Escaped output is built as bytes in this buffer and read back once as a
 * latin1 string: a Data value or a log text of a few hundred bytes built
 * with `+=` a character at a time cost more than the rest of its message's
 * decoding (a recorder renders every params and results text, then escapes
 * it again for the log). Grows to the largest output up to SCRATCH_MAX;
 * anything larger gets a buffer of its own.
 */
let scratch = Buffer.allocUnsafe(4096);
const SCRATCH_MAX = 1 << 20;

function scratchFor(bytes: number): Buffer {
  if (bytes <= scratch.length) return scratch;
  if (bytes > SCRATCH_MAX) return Buffer.allocUnsafe(Math.ceil(bytes));
  scratch = Buffer.allocUnsafe(Math.min(SCRATCH_MAX, Math.max(bytes, 2 * scratch.length)));
  return scratch;
}

/** Per byte value, its escape (up to 4 bytes, at 4 * value) and the escape's length. */
function escapeTable(escape: (c: number) => string): { bytes: Uint8Array; lens: Uint8Array } {
  const bytes = new Uint8Array(4 * 256);
  const lens = new Uint8Array(256);
  for (let c = 0; c < 256; c++) {
    const e = escape(c);
    lens[c] = e.length;
    for (let i = 0; i < e.length; i++) bytes[4 * c + i] = e.charCodeAt(i);
  }
  return { bytes, lens };
}

const DATA_ESCAPES = escapeTable((c) => NAMED_ESCAPES[c] ?? (c < 0x20 || c >= 0x7f ? octal(c) : String.fromCharCode(c)));

/** The same for Data, where bytes >= 0x7f are escaped too. */
export function escapeData(b: Uint8Array): string {
  const out = scratchFor(4 * b.length);
  const { bytes, lens } = DATA_ESCAPES;
  let p = 0;
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    const n = lens[c]!;
    if (n === 1) out[p++] = c;
    else {
      const at = 4 * c;
      for (let k = 0; k < n; k++) out[p++] = bytes[at + k]!;
    }
  }
  return out.toString('latin1', 0, p);
}

/** Renders a decoded value of type `t` in capnp's text format. */
export function renderValue(v: Value, t: TypeRef, schemas: SchemaSet): string {
  switch (t.kind) {
    case 'void':
      return 'void';
    case 'bool':
      return v ? 'true' : 'false';
    case 'float32':
      return formatFloat32(v as number);
    case 'float64':
      return formatFloat64(v as number);
    case 'int8':
    case 'int16':
    case 'int32':
    case 'int64':
    case 'uint8':
    case 'uint16':
    case 'uint32':
    case 'uint64':
      return String(v);
    case 'text':
      return '"' + escapeText(v as string) + '"';
    case 'data':
      return '"' + escapeData(v as Uint8Array) + '"';
    case 'enum': {
      const names = schemas.enums.get(t.id)?.enumerants;
      const n = v as number;
      return names && n < names.length ? names[n]! : '(' + n + ')';
    }
    case 'struct':
      return renderStruct(v as DStruct, schemas);
    case 'list': {
      const l = v as DList;
      let out = '[';
      for (let i = 0; i < l.items.length; i++) {
        if (i > 0) out += ', ';
        out += renderValue(l.items[i]!, l.elementType, schemas);
      }
      return out + ']';
    }
    case 'interface':
      return '<external capability>';
    default:
      return v instanceof CapRef ? '<external capability>' : v instanceof OpaquePointer || v === null ? '<opaque pointer>' : '?';
  }
}

export function renderStruct(s: DStruct, schemas: SchemaSet): string {
  let out = '(';
  const fs = s.fields;
  for (let i = 0; i < fs.length; i++) {
    const f = fs[i]!;
    if (i > 0) out += ', ';
    out += f.name + ' = ' + renderValue(f.value, f.type, schemas);
  }
  return out + ')';
}

/** A byte LogEscape changes: `\` or outside 0x20..0x7e. */
const NEEDS_LOG_ESCAPE = /[^\x20-\x5b\x5d-\x7e]/;

/**
 * libmultiprocess's LogEscape: `\` doubled, bytes outside 0x20..0x7e as `\xx`
 * (two hex digits); with a limit, output stops with `...` once it exceeds it.
 */
export function logEscape(s: string, maxChars = Infinity): string {
  if (s.length <= maxChars && !NEEDS_LOG_ESCAPE.test(s)) return s;
  // Output stops at the first character past maxChars (3 bytes each at most).
  const out = scratchFor(Math.min(3 * s.length, maxChars + 3));
  const { bytes, lens } = LOG_ESCAPES;
  let p = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // Not a byte string (never so in decoded text): the rule as written.
    if (c > 0xff) return logEscapeSlow(s, maxChars);
    const n = lens[c]!;
    if (n === 1) out[p++] = c;
    else {
      const at = 4 * c;
      for (let k = 0; k < n; k++) out[p++] = bytes[at + k]!;
    }
    if (p > maxChars) return out.toString('latin1', 0, p) + '...';
  }
  return out.toString('latin1', 0, p);
}

const LOG_ESCAPES = escapeTable((c) => (c === 0x5c ? '\\\\' : c < 0x20 || c > 0x7e ? '\\' + (c < 16 ? '0' : '') + c.toString(16) : String.fromCharCode(c)));

/** logEscape one character at a time. */
function logEscapeSlow(s: string, maxChars: number): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x5c) out += '\\\\';
    else if (c < 0x20 || c > 0x7e) out += '\\' + (c < 16 ? '0' : '') + c.toString(16);
    else out += s[i];
    if (out.length > maxChars) return out + '...';
  }
  return out;
}
