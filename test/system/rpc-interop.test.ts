// The RPC runtime against Cap'n Proto's own C++ implementation (the system
// library, 0.9.2 here), in both directions: our client → C++ server and C++
// client → our server. Covers bootstrap, calls, pipelining (also a pipelined
// capability as a param), callbacks, a capability handed back to its owner
// (with a call pipelined on it: C++ sends a Disembargo), Release, exceptions,
// every kind of value, and callbacks nested across both processes. Every
// message either side writes decodes with the project's decoder.
//
// Needs capnp, libcapnp-dev, g++ and pkg-config. The C++ peer is built in beforeAll.

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers.js';
import { compileSchemaFiles } from '../../src/decoder/sources.js';
import { rpcSchemaSet } from '../../src/decoder/sources.js';
import { MessageDecoder, StreamDecoder, DecodedMessage, Dir } from '../../src/decoder/messages.js';
import { describeRpc } from '../../src/decoder/describe.js';
import type { SchemaSet } from '../../src/decoder/schema.js';
import { Connection } from '../../src/rpc/connection.js';
import { Cap } from '../../src/rpc/cap.js';
import { serve } from '../../src/rpc/server.js';
import { buildCalcPeer, PEERS } from './peers/build.js';
import { RpcError } from '../../src/rpc/errors.js';

let dir = '';
let peerBin = '';
let schemas: SchemaSet;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ipc-trace-rpc-'));
  peerBin = buildCalcPeer(dir);
  schemas = compileSchemaFiles([join(PEERS, 'calc.capnp')], []);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Records frames as the connection sees them: '>' ours, '<' the peer's. */
function recorder(): { onFrame: (d: 'in' | 'out', b: Uint8Array) => void; frames: { dir: Dir; bytes: Uint8Array }[] } {
  const frames: { dir: Dir; bytes: Uint8Array }[] = [];
  return { frames, onFrame: (d, b) => frames.push({ dir: d === 'out' ? '>' : '<', bytes: new Uint8Array(b) }) };
}

function decodeFrames(frames: { dir: Dir; bytes: Uint8Array }[]): DecodedMessage[] {
  const d = new StreamDecoder(new MessageDecoder(schemas, rpcSchemaSet()));
  return frames.flatMap((f) => d.push(f.dir, f.bytes));
}

function lines(msgs: DecodedMessage[]): string[] {
  return msgs.map((m) => `${m.dir} ${m.rpc ? describeRpc(m.rpc) : `error ${m.error}`}${m.name ? ' ' + m.name : ''}`);
}

function expectDecodes(msgs: DecodedMessage[]): void {
  expect(msgs.length).toBeGreaterThan(10);
  for (const m of msgs) {
    expect(m.error, `message ${m.n}: ${m.error}`).toBeUndefined();
    if (m.rpc?.type === 'call') expect(m.name, `message ${m.n}`).toMatch(/^(Calculator|Counter|Callback)\.\w+\$Params$/);
  }
}

/** Our Callback: invoke multiplies by 10; recurse calls Calculator.nested back until depth 0. */
function tsCallback(): Cap {
  return serve(schemas, 'Callback', {
    invoke: ({ x }: { x: number }) => ({ y: x * 10 }),
    recurse: async ({ calc, depth }: { calc: Cap; depth: number }, ctx) => {
      if (depth <= 0) return { trace: 'ts-leaf' };
      const r = await calc.call('nested', { cb: ctx.thisCap(), depth: depth - 1 });
      return { trace: `ts-cb(${depth})>${String(r.trace)}` };
    },
  });
}

/** Our Calculator, the same as the C++ one. */
function tsCalculator(): Cap {
  let kept: Cap | null = null;
  return serve(schemas, 'Calculator', {
    add: ({ a, b }: { a: number | bigint; b: number | bigint }) => ({ sum: BigInt(a) + BigInt(b) }),
    makeCounter: ({ start }: { start: number }) => {
      let v = start;
      return { counter: serve(schemas, 'Counter', { next: () => ({ value: ++v }) }) };
    },
    readCounter: async ({ counter }: { counter: Cap }) => ({ value: (await counter.call('next')).value }),
    callBack: async ({ cb, x }: { cb: Cap; x: number }) => ({ result: Number((await cb.call('invoke', { x })).y) + 1 }),
    echoCap: ({ cap }: { cap: Cap }) => ({ cap }),
    keep: ({ cb }: { cb: Cap }) => {
      kept?.release();
      kept = cb.dup();
    },
    poke: async ({ x }: { x: number }) => {
      if (!kept) throw new Error('nothing kept');
      return { result: (await kept.call('invoke', { x })).y };
    },
    drop: () => {
      kept?.release();
      kept = null;
    },
    fail: ({ reason }: { reason: string }) => {
      throw new RpcError('failed', `calc failed: ${reason}`);
    },
    values: ({ v }: { v: unknown }) => ({ v }),
    nested: async ({ cb, depth }: { cb: Cap; depth: number }, ctx) => {
      const r = await cb.call('recurse', { calc: ctx.thisCap(), depth });
      return { trace: `ts-calc(${depth})>${String(r.trace)}` };
    },
  });
}

function waitForLine(p: ChildProcess, want: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    p.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      if (buf.split('\n').includes(want)) resolve();
    });
    p.on('exit', (code) => reject(new Error(`peer exited (${code}) before printing ${want}: ${buf}`)));
  });
}

describe('RPC interop with Cap\'n Proto C++', () => {
  it('our client → C++ server', async () => {
    const sock = join(dir, 'cpp-server.sock');
    const peer = spawn(peerBin, ['server', sock], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await waitForLine(peer, 'listening');
      const s = net.connect(sock);
      await new Promise<void>((r, j) => s.once('connect', () => r()).once('error', j));
      const rec = recorder();
      const conn = new Connection(s, { schemas, onFrame: rec.onFrame, name: 'ts-client' });
      const calc = conn.bootstrap('Calculator');

      expect(await calc.call('add', { a: 2, b: 40 })).toEqual({ sum: 42 });

      // Pipelining: two calls on the counter before makeCounter returns.
      const counter = calc.call('makeCounter', { start: 10 }).pipeline('counter');
      const [n1, n2] = await Promise.all([counter.call('next'), counter.call('next')]);
      expect([n1.value, n2.value]).toEqual([11, 12]);
      // A pipelined capability as a param: receiverAnswer.
      expect((await calc.call('readCounter', { counter: calc.call('makeCounter', { start: 100 }).pipeline('counter') })).value).toBe(101);

      // Callbacks into us while our call is outstanding.
      const cb = tsCallback();
      expect((await calc.call('callBack', { cb, x: 4 })).result).toBe(41);

      // Our own capability handed back; a call pipelined on it goes to C++ and comes back to us.
      const p = calc.call('echoCap', { cap: cb });
      const piped = p.pipeline('cap').call('invoke', { x: 6 });
      const back = (await p).cap as Cap;
      expect((await piped).y).toBe(60);
      expect((await back.call('invoke', { x: 7 })).y).toBe(70);
      expect(await back.localServer()).toBe(cb.hook); // resolved to the local object

      // C++ keeps our callback, calls it later, then drops it: Release comes back.
      await calc.call('keep', { cb });
      expect((await calc.call('poke', { x: 5 })).result).toBe(50);
      await calc.call('drop');

      await expect(calc.call('fail', { reason: 'on purpose' })).rejects.toMatchObject({
        type: 'failed',
        message: expect.stringContaining('on purpose') as unknown,
      });

      const v = {
        b: false,
        i8: -5,
        u16: 0,
        i32: 123456,
        u64: 18446744073709551615n,
        f32: 0.25,
        f64: -2.5,
        t: 'héllo',
        d: new Uint8Array([0, 1, 254, 255]),
        lb: [true, false, true],
        li16: [-32768, 32767],
        lf64: [1e300],
        lt: ['a', ''],
        ls: [
          { k: 'one', v: 1 },
          { k: 'minus', v: -9000000000 },
        ],
        name: 'union member',
        grp: { x: 0, y: 'group y' },
        e: 'red',
        ll: [[7, 8], []],
      };
      expect((await calc.call('values', { v })).v).toEqual(v);

      expect((await calc.call('nested', { cb, depth: 2 })).trace).toBe('cpp-calc(2)>ts-cb(2)>cpp-calc(1)>ts-cb(1)>cpp-calc(0)>ts-leaf');

      await new Promise((r) => setTimeout(r, 50));
      const msgs = decodeFrames(rec.frames);
      expectDecodes(msgs);
      const l = lines(msgs);
      expect(l.some((x) => /^> call q\d+ answer\(q\d+\.0\) .*Counter\.next\$Params$/.test(x))).toBe(true);
      expect(l.some((x) => /^> call .*caps=\[receiverAnswer q\d+\.0\] Calculator\.readCounter\$Params$/.test(x))).toBe(true);
      expect(l.some((x) => /^< call q\d+ cap#\d+ .*Callback\.invoke\$Params$/.test(x))).toBe(true);
      // The C++ side (0.9.2) does not know noFinishNeeded and sends Finish anyway; we ignore it.
      expect(l.some((x) => x.includes('noFinishNeeded'))).toBe(true);
      expect(l.some((x) => /^< finish /.test(x))).toBe(true);
      // C++ released our callback after drop.
      expect(l.some((x) => /^< release cap#\d+ x\d+$/.test(x))).toBe(true);
      expect(conn.closed).toBe(false);

      back.release();
      cb.release();
      conn.close();
    } finally {
      peer.kill();
    }
  });

  it('C++ client → our server', async () => {
    const sock = join(dir, 'ts-server.sock');
    const rec = recorder();
    const conns: Connection[] = [];
    const server = net.createServer((s) => {
      const calc = tsCalculator();
      conns.push(new Connection(s, { schemas, bootstrap: calc, onFrame: rec.onFrame, name: 'ts-server' }));
      calc.release();
    });
    await new Promise<void>((r) => server.listen(sock, r));
    try {
      const peer = spawn(peerBin, ['client', sock], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      peer.stdout!.on('data', (c: Buffer) => (out += c.toString()));
      const code = await new Promise<number | null>((r) => peer.on('exit', r));
      expect(code).toBe(0);
      const got = out.trim().split('\n');
      const sent = got.find((x) => x.startsWith('values-sent '))!.slice('values-sent '.length);
      expect(got).toEqual([
        'add 42',
        'next 11 12',
        'readCounter 101',
        'callBack 41',
        'echoCap 60 70',
        'poke 50',
        'dropped',
        'fail 0 remote exception: calc failed: on purpose',
        `values-sent ${sent}`,
        `values-got ${sent}`,
        'nested ts-calc(2)>cpp-cb(2)>ts-calc(1)>cpp-cb(1)>ts-calc(0)>cpp-leaf',
        'done',
      ]);
      await new Promise((r) => setTimeout(r, 50));
      const msgs = decodeFrames(rec.frames);
      expectDecodes(msgs);
      const l = lines(msgs);
      // C++ pipelined on the counter, and passed a pipelined capability as a param.
      expect(l.some((x) => /^< call q\d+ answer\(q\d+\.0\) .*Counter\.next\$Params$/.test(x))).toBe(true);
      expect(l.some((x) => /^< call .*caps=\[receiverAnswer q\d+\.0\] Calculator\.readCounter\$Params$/.test(x))).toBe(true);
      // We handed C++ its own callback back; it made a call on the promise, so it disembargoes and we reflect it.
      expect(l.some((x) => /^> return a\d+ keepParamCaps caps=\[receiverHosted \d+\] Calculator\.echoCap\$Results$/.test(x))).toBe(true);
      expect(l.some((x) => /^< disembargo answer\(q\d+\.0\) senderLoopback \d+$/.test(x))).toBe(true);
      expect(l.some((x) => /^> disembargo cap#\d+ receiverLoopback \d+$/.test(x))).toBe(true);
      // Our drop() released C++'s callback.
      expect(l.some((x) => /^> release cap#\d+ x\d+$/.test(x))).toBe(true);
      // The client went away: our connection saw it.
      expect(conns[0]!.closed).toBe(true);
    } finally {
      server.close();
    }
  });
});
