// `npm run bench`: decoder throughput on a realistic message mix (every
// message of the real captures shipped in test/fixtures/captures), one core.
//   1. framing + RPC layer + params/results decode
//   2. the same plus capnp text rendering of params/results

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseHexlog } from '../decoder/hexlog.js';
import { bundledSchemaSet, rpcSchemaSet, PACKAGE_ROOT } from '../decoder/sources.js';
import { MessageDecoder, StreamDecoder, contentText, Dir } from '../decoder/messages.js';

const capDir = join(PACKAGE_ROOT, 'test', 'fixtures', 'captures');
const streams: { dir: Dir; bytes: Uint8Array }[][] = [];
let messagesPerRound = 0;
let bytesPerRound = 0;
const schemas = bundledSchemaSet();
const rpc = rpcSchemaSet();
for (const f of readdirSync(capDir).filter((f) => f.endsWith('.hexlog') && !f.startsWith('mpexample'))) {
  const h = parseHexlog(readFileSync(join(capDir, f), 'latin1'), f);
  streams.push(h.chunks.map((c) => ({ dir: c.dir, bytes: c.bytes })));
  const s = new StreamDecoder(new MessageDecoder(schemas, rpc));
  for (const c of h.chunks) messagesPerRound += s.push(c.dir, c.bytes).length;
  for (const c of h.chunks) bytesPerRound += c.bytes.length;
}

function run(render: boolean, seconds: number): { msgs: number; bytes: number; secs: number } {
  let msgs = 0;
  let bytes = 0;
  let sink = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  while (process.hrtime.bigint() < deadline) {
    for (const chunks of streams) {
      const s = new StreamDecoder(new MessageDecoder(schemas, rpc));
      for (const c of chunks) {
        for (const d of s.push(c.dir, c.bytes)) {
          msgs++;
          if (render) sink += contentText(d, schemas)?.length ?? 0;
        }
      }
    }
    bytes += bytesPerRound;
  }
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  if (sink < 0) console.log(sink);
  return { msgs, bytes, secs };
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
console.log(`ipc-trace decode benchmark — Node ${process.version}, ${process.arch}`);
console.log(`message mix: ${messagesPerRound} messages (${fmt(bytesPerRound)} bytes) from ${streams.length} real captures`);
run(false, 1); // warm-up
for (const [label, render] of [
  ['framing + RPC layer + params decode', false],
  ['... plus text rendering', true],
] as const) {
  const r = run(render, 3);
  console.log(`${label.padEnd(38)} ${fmt(r.msgs / r.secs).padStart(10)} messages/s  ${(r.bytes / r.secs / 1e6).toFixed(1).padStart(7)} MB/s`);
}
