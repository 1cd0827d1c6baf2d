// Shared test helpers: fixtures, goldens, and running the decoder on a hexlog.

import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join, basename } from 'node:path';
import { loadCodeGeneratorRequest, SchemaSet } from '../src/decoder/schema.js';
import { rpcSchemaSet } from '../src/decoder/sources.js';
import { parseHexlog } from '../src/decoder/hexlog.js';
import { MessageDecoder, StreamDecoder, DecodedMessage } from '../src/decoder/messages.js';
import { jsonlEntry } from '../src/cli/decode.js';

export const ROOT = join(import.meta.dirname, '..');

export interface GoldenCase {
  group: string;
  name: string;
  hexlog: string;
  schemaSet: string;
  golden: string;
  cgr: string;
}

/** Every hexlog listed in test/fixtures/<group>/manifest.json, with its golden and compiled schemas. */
export function goldenCases(): GoldenCase[] {
  const out: GoldenCase[] = [];
  const fixtures = join(ROOT, 'test', 'fixtures');
  for (const group of readdirSync(fixtures)) {
    const mf = join(fixtures, group, 'manifest.json');
    if (!existsSync(mf)) continue;
    const manifest = JSON.parse(readFileSync(mf, 'utf8')) as { hexlogs: { hexlog: string; schemaSet: string }[] };
    for (const h of manifest.hexlogs) {
      const name = basename(h.hexlog).replace(/\.hexlog$/, '');
      out.push({
        group,
        name,
        hexlog: join(ROOT, h.hexlog),
        schemaSet: h.schemaSet,
        golden: join(ROOT, 'test', 'golden', group, `${name}.jsonl`),
        cgr: join(ROOT, 'test', 'golden', group, `${h.schemaSet}.cgr`),
      });
    }
  }
  return out;
}

const sets = new Map<string, SchemaSet>();
export function schemaSetFromCgr(path: string): SchemaSet {
  let s = sets.get(path);
  if (!s) {
    s = loadCodeGeneratorRequest(readFileSync(path));
    sets.set(path, s);
  }
  return s;
}

/** Decodes a hexlog file: every message of both directions, in stream order. */
export function decodeHexlogFile(path: string, schemas: SchemaSet): DecodedMessage[] {
  const hexlog = parseHexlog(readFileSync(path, 'latin1'), path);
  const stream = new StreamDecoder(new MessageDecoder(schemas, rpcSchemaSet()));
  const out: DecodedMessage[] = [];
  for (const c of hexlog.chunks) out.push(...stream.push(c.dir, c.bytes));
  out.push(...stream.end('>'), ...stream.end('<'));
  return out;
}

/** Golden JSON lines parsed as byte strings (the oracle writes raw bytes). */
export function readJsonl(path: string): Record<string, unknown>[] {
  return readFileSync(path, 'latin1')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Our jsonl entries for a hexlog, parsed back (so both sides compare as byte strings). */
export function ourJsonl(c: GoldenCase): Record<string, unknown>[] {
  const schemas = schemaSetFromCgr(c.cgr);
  return decodeHexlogFile(c.hexlog, schemas).map((d) => JSON.parse(jsonlEntry(d, schemas, rpcSchemaSet())) as Record<string, unknown>);
}
