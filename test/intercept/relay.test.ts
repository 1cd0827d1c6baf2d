// The listening relay with an interceptor, over real Unix sockets: a held
// Call does not reach the upstream until released (and what follows waits
// behind it), a failed Call is answered to the client and never reaches the
// upstream, and without rules the bytes go through unchanged.

import { it, expect, afterEach } from 'vitest';
import net from 'node:net';
import { once } from 'node:events';
import { join } from 'node:path';
import { Relay } from '../../src/proxy/relay.js';
import { Interceptor, Intervention } from '../../src/intercept/engine.js';
import { parseRuleLine } from '../../src/intercept/rules.js';
import { loadSchemaBundle, rpcSchemaSet } from '../../src/decoder/sources.js';
import { callMessage, finishMessage } from '../../src/rpc/envelope.js';
import { Framer } from '../../src/decoder/framer.js';
import { MessageDecoder } from '../../src/decoder/messages.js';
import { RecordingTap, tempDir } from '../proxy/helpers.js';

const schemas = loadSchemaBundle([], []).set;
const rpc = rpcSchemaSet();
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function call(q: number, ifaceName: string, method: string): Uint8Array {
  const i = [...schemas.interfaces.values()].find((x) => x.name === ifaceName)!;
  const m = i.methods.find((x) => x.name === method)!;
  return callMessage(q, i.id, m.ordinal, { kind: 'importedCap', id: 0 }, () => []).bytes;
}

/** Collects what a socket receives, decoded as (type question) strings. */
function reader(s: net.Socket, dir: '>' | '<') {
  const f = new Framer();
  const d = new MessageDecoder(schemas, rpc);
  const got: string[] = [];
  s.on('data', (b: Buffer) => {
    for (const ev of f.push(b)) {
      if (ev.kind !== 'frame') continue;
      const r = d.decode(dir, ev.frame).rpc!;
      got.push(r.type === 'call' ? `call ${r.questionId}` : r.type === 'return' ? `return ${r.answerId}${r.exception ? ` ${r.exception.reason}` : ''}` : r.type === 'finish' ? `finish ${r.questionId}` : r.type);
    }
  });
  return got;
}

const until = async (cond: () => boolean, ms = 3000) => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
};

async function setup(rules: string[]) {
  const tmp = tempDir();
  cleanups.push(tmp.cleanup);
  const up = join(tmp.dir, 'up.sock');
  const server = net.createServer({ allowHalfOpen: true });
  let upstream!: net.Socket;
  const accepted = new Promise<void>((r) => server.on('connection', (s) => ((upstream = s), r())));
  server.listen(up);
  await once(server, 'listening');
  cleanups.push(() => void server.close());
  const events: Intervention[] = [];
  const eng = new Interceptor(schemas, rpc, rules.map((l) => parseRuleLine(l)!), (e) => events.push(e));
  const tap = new RecordingTap(true);
  const relay = new Relay({ listen: { kind: 'unix', path: join(tmp.dir, 'p.sock') }, connect: { kind: 'unix', path: up }, tap, interceptor: eng });
  await relay.listen();
  cleanups.push(() => relay.stop());
  const client = net.createConnection({ path: join(tmp.dir, 'p.sock'), allowHalfOpen: true });
  cleanups.push(() => void client.destroy());
  await accepted;
  return { eng, client, upstream, events, tap, atUpstream: reader(upstream, '>'), atClient: reader(client, '<') };
}

it('holds a Call (and what follows) until released; the other direction flows on', async () => {
  const t = await setup(['hold method:blockConnected']);
  t.client.write(Buffer.concat([call(1, 'Chain', 'getHeight'), call(2, 'ChainNotifications', 'blockConnected'), call(3, 'Chain', 'getHeight')]));
  await until(() => t.eng.heldList().length === 1 && t.atUpstream.length === 1);
  await new Promise((r) => setTimeout(r, 100));
  expect(t.atUpstream).toEqual(['call 1']);
  t.upstream.write(call(7, 'Chain', 'getHeight')); // a callback the other way is not held
  await until(() => t.atClient.length === 1);
  expect(t.atClient).toEqual(['call 7']);
  expect(t.eng.heldList()[0]!.behindMessages).toBe(1);
  t.eng.release('all');
  await until(() => t.atUpstream.length === 3);
  expect(t.atUpstream).toEqual(['call 1', 'call 2', 'call 3']);
  expect(t.events.map((e) => e.kind)).toEqual(['hold', 'release']);
});

it('fails a Call: the client gets the exception Return, the upstream never sees the Call or its Finish', async () => {
  const t = await setup(['fail method:getBalances=not today']);
  t.client.write(Buffer.concat([call(4, 'Wallet', 'getBalances'), call(5, 'Chain', 'getHeight')]));
  await until(() => t.atClient.length === 1 && t.atUpstream.length === 1);
  expect(t.atClient).toEqual(['return 4 not today']);
  t.client.write(Buffer.concat([finishMessage(4), finishMessage(5)]));
  await until(() => t.atUpstream.length === 2);
  await new Promise((r) => setTimeout(r, 100));
  expect(t.atUpstream).toEqual(['call 5', 'finish 5']);
  // The tap recorded the client's messages as sent, and the made-up Return.
  const conn = [...t.tap.conns.values()][0]!;
  expect(Buffer.concat(conn.chunks['>']).length).toBe(call(4, 'Wallet', 'getBalances').length + call(5, 'Chain', 'getHeight').length + finishMessage(4).length + finishMessage(5).length);
  expect(conn.chunks['<'].length).toBe(1);
});

it('with --intercept and no rule, bytes go through unchanged, whatever the chunking', async () => {
  const t = await setup([]);
  const stream = Buffer.concat([call(1, 'Chain', 'getHeight'), call(2, 'ChainNotifications', 'blockConnected')]);
  const got: Buffer[] = [];
  t.upstream.on('data', (b: Buffer) => got.push(b));
  t.client.write(stream.subarray(0, 7));
  await new Promise((r) => setTimeout(r, 30));
  t.client.write(stream.subarray(7));
  await until(() => Buffer.concat(got).length === stream.length);
  expect(Buffer.concat(got).equals(stream)).toBe(true);
  expect(t.events).toEqual([]);
});

it('garbage through an intercepted relay arrives unchanged, and what follows it too', async () => {
  const t = await setup(['hold method:blockConnected']);
  const got: Buffer[] = [];
  t.upstream.on('data', (b: Buffer) => got.push(b));
  // A segment table announcing 2^32-1 words: no receiver reads that much, nothing may wait for it.
  const garbage = Buffer.concat([Buffer.from('00000000ffffffff', 'hex'), Buffer.alloc(100, 0xab)]);
  const stream = Buffer.concat([call(1, 'Chain', 'getHeight'), garbage]);
  t.client.write(stream);
  await until(() => Buffer.concat(got).length === stream.length);
  expect(Buffer.concat(got).equals(stream)).toBe(true);
  const more = call(2, 'ChainNotifications', 'blockConnected'); // not framed any more: not held either
  t.client.write(more);
  await until(() => Buffer.concat(got).length === stream.length + more.length);
  expect(Buffer.concat(got).equals(Buffer.concat([stream, more]))).toBe(true);
  expect(t.events.map((e) => e.kind)).toEqual(['unframed']);
  // Recorded as it went.
  const conn = [...t.tap.conns.values()][0]!;
  expect(Buffer.concat(conn.chunks['>']).equals(Buffer.concat([stream, more]))).toBe(true);
});

it('a peer writing a lot behind a hold is paused, as a slow socket would make it: what waits stays bounded', async () => {
  const t = await setup(['hold method:blockConnected']);
  t.client.write(call(1, 'ChainNotifications', 'blockConnected'));
  await until(() => t.eng.heldList().length === 1);
  const one = call(2, 'Chain', 'getHeight');
  const total = 16 * 1024 * 1024;
  const block = Buffer.concat(Array.from({ length: Math.ceil(64 * 1024 / one.length) }, () => one));
  let written = 0;
  // Write until the socket pushes back; the relay must stop reading long before it took it all.
  while (written < total && t.client.write(block)) written += block.length;
  written += block.length;
  await new Promise((r) => setTimeout(r, 300));
  while (written < total && t.client.writableLength < 8 * 1024 * 1024) {
    t.client.write(block);
    written += block.length;
    await new Promise((r) => setTimeout(r, 5));
  }
  await new Promise((r) => setTimeout(r, 300));
  const held = t.eng.heldList()[0]!;
  console.log(`behind the hold: ${held.behindBytes} bytes in ${held.behindMessages} messages; left in the writer: ${t.client.writableLength} bytes of ${written}`);
  expect(held.behindBytes).toBeLessThan(4 * 1024 * 1024);
  expect(t.client.writableLength).toBeGreaterThan(0); // the writer is pushed back
  t.eng.release('all');
  await until(() => t.atUpstream.length === 1 + written / one.length, 20000);
  expect(t.atUpstream.length).toBe(1 + written / one.length);
}, 30000);

it('an EOF behind a hold is recorded when it is passed on, after what was held', async () => {
  const t = await setup(['hold method:blockConnected']);
  let upstreamEnded = false;
  t.upstream.on('end', () => (upstreamEnded = true));
  t.client.end(call(1, 'ChainNotifications', 'blockConnected'));
  await until(() => t.eng.heldList().length === 1);
  await new Promise((r) => setTimeout(r, 100));
  const conn = [...t.tap.conns.values()][0]!;
  expect(upstreamEnded).toBe(false);
  expect(conn.ends).toEqual([]);
  t.eng.release('all');
  await until(() => upstreamEnded && conn.ends.length === 1);
  expect(conn.ends).toEqual(['>']);
  expect(conn.seq.slice(-2)).toEqual(['>', 'end>']); // the held Call recorded (when it arrived), then the EOF
});
