// Redaction of wallet secrets. The default list of secret fields is here and
// only here (documented in docs/redaction.md): every field of the bundled
// schemas that carries a passphrase or key material. Users add names with
// --redact-field. Redaction is applied to rows once, before any exporter or
// printer sees them; `record --redact` zeroes the same fields' bytes.

import type { CallRow } from '../session/rows.js';
import type { DecodedMessage } from '../decoder/messages.js';
import { DList, DStruct, Value } from '../decoder/dynamic.js';

/** Field names (as in the schemas) whose values are secret. */
export const DEFAULT_SECRET_FIELDS: readonly string[] = [
  // Wallet.encryptWallet / unlock / changeWalletPassphrase (wallet.capnp)
  'walletPassphrase',
  'oldWalletPassphrase',
  'newWalletPassphrase',
  // WalletLoader.createWallet / migrateWallet (wallet.capnp)
  'passphrase',
  // struct Key (wallet.capnp): a private key
  'secret',
  // names other schemas use for the same things
  'privateKey',
  'privKey',
  'seed',
  'mnemonic',
];

export const REDACTED = '<redacted>';

export function secretFields(extra: readonly string[] = []): Set<string> {
  return new Set([...DEFAULT_SECRET_FIELDS, ...extra]);
}

/** The end (exclusive) of the value starting at `i` in capnp text: a quoted string, a (…) or […] group, or a bare token. */
function valueEnd(s: string, i: number): number {
  let depth = 0;
  let inStr = false;
  for (let j = i; j < s.length; j++) {
    const c = s[j]!;
    if (inStr) {
      if (c === '\\') j++;
      else if (c === '"') {
        inStr = false;
        if (depth === 0) return j + 1;
      }
      continue;
    }
    if (c === '"') inStr = true;
    else if (c === '(' || c === '[') depth++;
    else if (c === ')' || c === ']') {
      if (depth === 0) return j;
      depth--;
      if (depth === 0) return j + 1;
    } else if (c === ',' && depth === 0) return j;
  }
  return s.length;
}

const FIELD = /([(,\s])([A-Za-z_][A-Za-z0-9_]*) = /g;

/** capnp text (`(name = value, …)`) with the values of the named fields replaced by `<redacted>`. */
export function redactText(text: string, fields: ReadonlySet<string>): string {
  let out = '';
  let last = 0;
  FIELD.lastIndex = 0;
  for (let m = FIELD.exec(text); m; m = FIELD.exec(text)) {
    if (!fields.has(m[2]!)) continue;
    const start = m.index + m[0].length;
    const end = valueEnd(text, start);
    out += text.slice(last, start) + REDACTED;
    last = end;
    FIELD.lastIndex = end;
  }
  return last === 0 ? text : out + text.slice(last);
}

/** A call with its params/results redacted (the same row if nothing changed). */
export function redactCall(c: CallRow, fields: ReadonlySet<string>): CallRow {
  const params = c.params === null ? null : redactText(c.params, fields);
  const results = c.results === null ? null : redactText(c.results, fields);
  return params === c.params && results === c.results ? c : { ...c, params, results };
}

// ---- record time: the secret fields' bytes on the wire ----


function blobs(v: Value, secret: boolean, fields: ReadonlySet<string>, out: Uint8Array[]): void {
  if (v instanceof DStruct) {
    for (const f of v.fields) blobs(f.value, secret || fields.has(f.name), fields, out);
  } else if (v instanceof DList) {
    for (const i of v.items) blobs(i, secret, fields, out);
  } else if (secret && v instanceof Uint8Array) {
    if (v.length) out.push(v);
  } else if (secret && typeof v === 'string') {
    if (v.length) out.push(Buffer.from(v, 'latin1'));
  }
}

/**
 * Zeroes bytes [start, end) of a direction's stream in the pieces (chunks,
 * each with its offset in the stream) that hold them; true if any did. The
 * one place both record --redact (the store) and export --redact zero bytes.
 */
export function zeroRange(pieces: Iterable<{ start: number; bytes: Uint8Array }>, start: number, end: number): boolean {
  let hit = false;
  for (const c of pieces) {
    const a = Math.max(start, c.start);
    const b = Math.min(end, c.start + c.bytes.length);
    if (a >= b) continue;
    c.bytes.fill(0, a - c.start, b - c.start);
    hit = true;
  }
  return hit;
}

/**
 * Where the secret fields' values of a decoded Call or Return lie in its
 * direction's byte stream: [start, end) offsets. A Data value is a view of
 * the frame, so its place is exact; a Text value is found by its bytes in
 * the frame (every occurrence: zeroing more is safe).
 */
export function secretByteRanges(d: DecodedMessage, fields: ReadonlySet<string>): [number, number][] {
  if (!d.frame || !d.content) return [];
  const found: Uint8Array[] = [];
  blobs(d.content, false, fields, found);
  if (!found.length) return [];
  const frame = d.frame.bytes;
  const buf = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  const out: [number, number][] = [];
  for (const b of found) {
    const rel = b.buffer === frame.buffer ? b.byteOffset - frame.byteOffset : -1;
    if (rel >= 0 && rel + b.length <= frame.length) {
      out.push([d.frame.offset + rel, d.frame.offset + rel + b.length]);
      continue;
    }
    for (let i = buf.indexOf(b); i >= 0; i = buf.indexOf(b, i + 1)) out.push([d.frame.offset + i, d.frame.offset + i + b.length]);
  }
  return out;
}
