// `ipc-trace decode --hexlog FILE`: decodes a capture in the oracle's hexlog format.

import { readFileSync } from 'node:fs';
import { parseArgs, UsageError } from './args.js';
import { ByteWriter, jsonObject } from './output.js';
import { parseHexlog } from '../decoder/hexlog.js';
import { loadSchemas, rpcSchemaSet, UserError } from '../decoder/sources.js';
import { MessageDecoder, StreamDecoder, DecodedMessage, contentText, envelopeText } from '../decoder/messages.js';
import { describeRpc } from '../decoder/describe.js';
import { logEscape } from '../decoder/text.js';
import type { SchemaSet } from '../decoder/schema.js';

export const DECODE_HELP = `usage: ipc-trace decode --hexlog FILE [--schema FILE.capnp]... [-I DIR]... [--format jsonl|log] [--max-chars N]

Decodes a capture in hexlog format (lines '> HEX' from the connecting side,
'< HEX' back, '#' comments) into one entry per Cap'n Proto message.

  --hexlog FILE       the capture to decode (- for standard input)
  --schema FILE       a .capnp schema to decode with (repeatable; compiled with
                      the capnp tool). Without it, the bundled Bitcoin Core and
                      libmultiprocess schemas are used.
  -I, --import DIR    import path for --schema (repeatable)
  --format F          jsonl (default): one JSON object per message, with the
                      reference decoder's keys (n, dir, type, questionId,
                      answerId, interfaceId, methodId, name, text, exception,
                      bootstrap, rpc, error) plus 'offset';
                      log: one readable line per message
  --max-chars N       log format: cut params/results like libmultiprocess
                      (escaped, '...' after N characters)
`;

export function jsonlEntry(d: DecodedMessage, schemas: SchemaSet, rpcSchemas: SchemaSet): string {
  const r = d.rpc;
  const type =
    d.framingError || !r
      ? undefined
      : r.type === 'unimplemented' || r.type === 'other'
        ? 'other'
        : r.type;
  if (d.error !== undefined) {
    return jsonObject([
      ['n', d.n],
      ['dir', d.dir],
      ['error', d.error],
      ['offset', d.offset],
      ['framing', d.framingError ? true : undefined],
    ]);
  }
  return jsonObject([
    ['n', d.n],
    ['dir', d.dir],
    ['type', type],
    ['questionId', r?.type === 'call' || r?.type === 'bootstrap' ? r.questionId : undefined],
    ['answerId', r?.type === 'return' ? r.answerId : undefined],
    ['interfaceId', r?.type === 'call' ? r.interfaceId : undefined],
    ['methodId', r?.type === 'call' ? r.methodId : undefined],
    ['name', d.name],
    ['text', contentText(d, schemas)],
    ['exception', d.exception],
    ['bootstrap', d.bootstrap ? true : undefined],
    ['rpc', envelopeText(d, rpcSchemas)],
    ['offset', d.offset],
  ]);
}

export function logEntry(d: DecodedMessage, schemas: SchemaSet, maxChars: number): string {
  const head = `#${d.n ?? '-'} ${d.dir}`;
  if (d.error !== undefined) return `${head} ${d.framingError ? 'framing error' : 'decode error'} at byte ${d.offset}: ${d.error}`;
  const r = d.rpc!;
  const text = contentText(d, schemas);
  const data = text !== undefined ? ' ' + logEscape(text, maxChars) : '';
  if (r.type === 'call') return `${head} ${describeRpc(r, d.name)}${data}`;
  const named = d.name ? ` ${d.name}` : d.exception !== undefined && d.method ? ` (${d.iface!.name}.${d.method.name})` : '';
  return `${head} ${describeRpc(r)}${named}${data}`;
}

export function runDecode(argv: string[]): number {
  const { options } = parseArgs(argv, {
    hexlog: { kind: 'string' },
    schema: { kind: 'string', repeat: true },
    import: { kind: 'string', repeat: true, short: 'I' },
    format: { kind: 'string' },
    'max-chars': { kind: 'number' },
    help: { kind: 'flag', short: 'h' },
  });
  if (options.help) {
    process.stdout.write(DECODE_HELP);
    return 0;
  }
  const file = options.hexlog as string | undefined;
  if (!file) throw new UsageError('decode needs --hexlog FILE');
  const format = (options.format as string | undefined) ?? 'jsonl';
  if (format !== 'jsonl' && format !== 'log') throw new UsageError(`unknown --format '${format}' (jsonl or log)`);
  const maxChars = (options['max-chars'] as number | undefined) ?? Infinity;
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'latin1');
  } catch (e) {
    throw new UserError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const hexlog = parseHexlog(text, file);
  const schemas = loadSchemas(options.schema as string[], options.import as string[]);
  const rpcSchemas = rpcSchemaSet();
  const stream = new StreamDecoder(new MessageDecoder(schemas, rpcSchemas));
  const out = new ByteWriter();
  const emit = (ds: DecodedMessage[]) => {
    for (const d of ds) out.line(format === 'jsonl' ? jsonlEntry(d, schemas, rpcSchemas) : logEntry(d, schemas, maxChars));
  };
  for (const c of hexlog.chunks) emit(stream.push(c.dir, c.bytes));
  emit(stream.end('>'));
  emit(stream.end('<'));
  out.flush();
  return 0;
}
