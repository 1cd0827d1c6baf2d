// The RPC connection between two runtimes over an in-memory socket pair:
// bootstrap, calls, capability passing both ways, pipelining, question-id
// reuse, Release counts, noFinishNeeded, exceptions, disconnect — and every
// message either side writes decodes with the project's decoder.

import { describe, it, expect, afterEach } from 'vitest';
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import { Message, utils } from 'capnp-es';
import { Message as RpcMessage } from 'capnp-es/capnp/rpc';
import { ROOT, schemaSetFromCgr } from '../helpers.js';
import { Connection } from '../../src/rpc/connection.js';
import { Cap, findInterface } from '../../src/rpc/cap.js';
import { serve } from '../../src/rpc/server.js';
import { RpcError } from '../../src/rpc/errors.js';
import * as env from '../../src/rpc/envelope.js';
import { duplexPair, decodeChunks, summarize, settle, Chunk } from './helpers.js';
import type { SchemaSet } from '../../src/decoder/schema.js';

const cs: SchemaSet = schemaSetFromCgr(join(ROOT, 'test/golden/synthetic/constructs.cgr'));

let recordings: Chunk[][] = [];

/** An interface's id as the decoder prints it. */
const ID = (name: string): string => findInterface(cs, name).id;

/** Client (side '>') and server (side '<') connections; the server bootstraps `bootstrap`. */
function pair(bootstrap: Cap | null) {
  const { a, b, chunks } = duplexPair();
  recordings.push(chunks);
  const server = new Connection(b, { schemas: cs, bootstrap, name: 'server' });
  const client = new Connection(a, { schemas: cs, name: 'client' });
  return { client, server, chunks, a, b };
}

function lines(chunks: Chunk[]): string[] {
  return summarize(decodeChunks(chunks, cs));
}

afterEach(async () => {
  await settle();
  // Everything written decodes with the project's decoder, and calls/returns get their method names.
  for (const chunks of recordings) {
    for (const m of decodeChunks(chunks, cs)) {
      expect(m.error, `message ${m.n}: ${m.error}`).toBeUndefined();
      if (m.rpc?.type === 'call') expect(m.name).toMatch(/\$Params$/);
      if (m.rpc?.type === 'return' && m.rpc.which === 'results' && !m.bootstrap) expect(m.name).toMatch(/\$Results$/);
    }
  }
  recordings = [];
});

function callbackServer(tag: string): Cap {
  return serve(cs, 'Callback', { call: ({ arg }: { arg: string }) => ({ result: `${tag}(${arg})` }) });
}

describe('connection', () => {
  it('bootstraps and calls; results without capabilities come back with noFinishNeeded and no Finish', async () => {
    const base = serve(cs, 'Base', { ping: ({ x }: { x: number }) => ({ y: x + 1 }) });
    const { client, chunks } = pair(base);
    const b = client.bootstrap('Base');
    expect(await b.call('ping', { x: 41 })).toEqual({ y: 42 });
    await settle();
    expect(lines(chunks)).toEqual([
      '> bootstrap q0',
      `> call q1 answer(q0) ${ID('Base')}@0 Base.ping$Params`,
      '< return a0 caps=[senderHosted 0]',
      '< return a1 keepParamCaps noFinishNeeded Base.ping$Results',
      '> finish q0 keepResultCaps',
    ]);
  });

  it('reuses question ids lowest first once a question is finished', async () => {
    let release: (() => void)[] = [];
    const base = serve(cs, 'Base', {
      ping: ({ x }: { x: number }) => (x < 100 ? { y: x } : new Promise((r) => release.push(() => r({ y: x })))),
    });
    const { client, chunks } = pair(base);
    const b = client.bootstrap('Base');
    await b.call('ping', { x: 1 });
    await b.call('ping', { x: 2 });
    // Three at once take 0, 1, 2; after they return the next call takes 0 again.
    const p = [b.call('ping', { x: 100 }), b.call('ping', { x: 101 }), b.call('ping', { x: 102 })];
    await settle();
    expect(client.stats().questions).toEqual([0, 1, 2]);
    release.forEach((f) => f());
    release = [];
    await Promise.all(p);
    await b.call('ping', { x: 3 });
    await settle();
    const calls = lines(chunks).filter((l) => l.startsWith('> call'));
    expect(calls.map((l) => l.split(' ')[2])).toEqual(['q1', 'q0', 'q0', 'q1', 'q2', 'q0']);
    expect(client.stats().questions).toEqual([]);
  });

  it('passes capabilities both ways and calls back into the caller during a call', async () => {
    const seen: string[] = [];
    const constructs = serve(cs, 'Constructs', {
      async caps({ cb, list }: { cb: Cap; list: Cap[] }) {
        // Call back into the client while its call is outstanding, also through a list of caps.
        seen.push(String((await cb.call('call', { arg: 'a' })).result));
        seen.push(String((await list[1]!.call('call', { arg: 'b' })).result));
        return { cb: callbackServer('server') };
      },
    });
    const { client, server, chunks } = pair(constructs);
    const c = client.bootstrap('Constructs');
    const mine = callbackServer('client');
    const other = callbackServer('other');
    const r = await c.call('caps', { cb: mine, list: [mine, other] });
    expect(seen).toEqual(['client(a)', 'other(b)']);
    const theirs = r.cb as Cap;
    expect((await theirs.call('call', { arg: 'x' })).result).toBe('server(x)');
    await settle();
    const l = lines(chunks);
    expect(l).toContain(`> call q1 answer(q0) ${ID('Constructs')}@9 caps=[senderHosted 0, senderHosted 0, senderHosted 1] Constructs.caps$Params`);
    expect(l).toContain(`< call q0 cap#0 ${ID('Callback')}@0 Callback.call$Params`);
    expect(l).toContain(`< call q0 cap#1 ${ID('Callback')}@0 Callback.call$Params`); // q0 reused after its Return (noFinishNeeded)
    // The server dropped the params' caps after returning: Release x2 for the cap sent twice, x1 for the other.
    expect(l).toContain('< release cap#0 x2');
    expect(l).toContain('< release cap#1 x1');
    expect(client.stats().exports).toEqual([]);
    // The client holds the returned callback: one export on the server until released.
    expect(server.stats().exports.map((e) => e.refcount)).toEqual([1, 1]);
    theirs.release();
    await settle();
    expect(server.stats().exports).toEqual([{ id: 0, refcount: 1 }]); // just the bootstrap
    expect(lines(chunks).slice(-1)).toEqual(['> release cap#1 x1']);
  });

  it('keeps a param capability the server dup()s until it releases it', async () => {
    let kept: Cap | null = null;
    const base = serve(cs, 'Base', {
      echoCb: ({ cb }: { cb: Cap }) => {
        kept = cb.dup();
        return {};
      },
    });
    const { client, chunks } = pair(base);
    const b = client.bootstrap('Base');
    await b.call('echoCb', { cb: callbackServer('c') });
    await settle();
    expect(client.stats().exports).toEqual([{ id: 0, refcount: 1 }]);
    expect((await kept!.call('call', { arg: 'later' })).result).toBe('c(later)');
    kept!.release();
    await settle();
    expect(client.stats().exports).toEqual([]);
    expect(lines(chunks).slice(-1)).toEqual(['< release cap#0 x1']);
  });

  it('pipelines calls on results that have not arrived yet', async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const constructs = serve(cs, 'Constructs', {
      async caps() {
        await gate;
        return { cb: callbackServer('piped') };
      },
    });
    const { client, chunks } = pair(constructs);
    const c = client.bootstrap('Constructs');
    const p = c.call('caps', {});
    const cb = p.pipeline('cb');
    const r1 = cb.call('call', { arg: '1' });
    await settle();
    // Both calls are out before the first Return.
    expect(lines(chunks).filter((l) => l.startsWith('< return a1') || l.startsWith('> call q2'))).toEqual([
      `> call q2 answer(q1.0) ${ID('Callback')}@0 Callback.call$Params`,
    ]);
    open();
    expect((await r1).result).toBe('piped(1)');
    // After the Return, calls go straight to the import.
    expect((await cb.call('call', { arg: '2' })).result).toBe('piped(2)');
    await settle();
    const l = lines(chunks);
    expect(l.some((x) => /^> call q\d cap#1 .*Callback\.call/.test(x))).toBe(true);
    // The caller never took the results of `caps`: their reference is dropped, the pipeline's stays.
    expect(client.stats().imports.find((i) => i.id === 1)).toEqual({ id: 1, remoteRefcount: 1, localRefs: 1 });
    cb.release();
    await settle();
    expect(lines(chunks).slice(-1)).toEqual(['> release cap#1 x1']);
  });

  it('keeps result capabilities for a call awaited after its results arrived', async () => {
    const constructs = serve(cs, 'Constructs', { caps: () => ({ cb: callbackServer('late') }) });
    const { client } = pair(constructs);
    const p = client.bootstrap('Constructs').call('caps', {});
    await settle(10);
    const cb = (await p).cb as Cap;
    expect((await cb.call('call', { arg: 'x' })).result).toBe('late(x)');
    cb.release();
  });

  it('pipelines on a capability that turns out to be the caller’s own (forwarded back)', async () => {
    const base = serve(cs, 'Base', { echoCb: ({ cb }: { cb: Cap }) => ({ cb }) });
    const { client, chunks } = pair(base);
    const b = client.bootstrap('Base');
    const mine = callbackServer('mine');
    const back = b.call('echoCb', { cb: mine }).pipeline('cb');
    expect((await back.call('call', { arg: 'z' })).result).toBe('mine(z)');
    await settle();
    const l = lines(chunks);
    // The pipelined call went to the server, which forwarded it back to us.
    expect(l.some((x) => x.startsWith('> call q2 answer(q1.0)'))).toBe(true);
    expect(l.some((x) => /^< call q0 cap#0 .*Callback\.call/.test(x))).toBe(true);
    // The results held our own capability: the server's Return listed it as receiverHosted.
    expect(l.some((x) => /^< return a1 keepParamCaps caps=\[receiverHosted 0\]/.test(x))).toBe(true);
  });

  it('sends Finish (keepResultCaps) for results with capabilities and ignores a Finish it did not need', async () => {
    const constructs = serve(cs, 'Constructs', { caps: () => ({ cb: callbackServer('x') }), empty: () => undefined });
    const { client, server, chunks, a } = pair(constructs);
    const c = client.bootstrap('Constructs');
    (await c.call('caps', {})).cb;
    await c.call('empty');
    await settle();
    const l = lines(chunks);
    expect(l).toContain('< return a1 keepParamCaps caps=[senderHosted 1] Constructs.caps$Results');
    expect(l).toContain('> finish q1 keepResultCaps');
    expect(l).toContain('< return a0 keepParamCaps noFinishNeeded Constructs.empty$Results');
    expect(l.filter((x) => x.startsWith('> finish'))).toEqual(['> finish q0 keepResultCaps', '> finish q1 keepResultCaps']);
    expect(server.stats().answers).toEqual([]);
    // An older peer (capnp 0.9/0.10) sends Finish anyway: ignored.
    a.write(env.finishMessage(0));
    await settle();
    expect(server.closed).toBe(false);
    expect(await c.call('empty')).toEqual({});
  });

  it('turns exceptions into Return.exception and rejects the caller', async () => {
    const base = serve(cs, 'Derived', {
      ping: () => {
        throw new Error('boom');
      },
      pong: () => {
        throw new RpcError('overloaded', 'busy');
      },
    });
    const { client, chunks } = pair(base);
    const d = client.bootstrap('Derived');
    await expect(d.call('ping', { x: 1 })).rejects.toMatchObject({ type: 'failed', message: 'remote exception: boom', remote: true });
    await expect(d.call('pong', { s: 'x' })).rejects.toMatchObject({ type: 'overloaded', message: 'remote exception: busy' });
    await expect(d.call('echoCb', {})).rejects.toMatchObject({ type: 'unimplemented' });
    // A pipelined call on a failed call fails the same way.
    const p = d.call('echoCb', {});
    await expect(p.pipeline('cb').call('call', { arg: 'x' })).rejects.toMatchObject({ type: 'unimplemented' });
    await p.catch(() => undefined);
    await settle();
    const l = lines(chunks);
    expect(l).toContain('< return a1 keepParamCaps exception failed: boom');
    expect(l.filter((x) => x.startsWith('> finish')).length).toBeGreaterThanOrEqual(4); // exceptions still get a Finish
  });

  it('calls an inherited method with the parent interface id', async () => {
    const derived = serve(cs, 'Derived', { ping: ({ x }: { x: number }) => ({ y: x * 2 }), pong: ({ s }: { s: string }) => ({ s: s + s }) });
    const { client, chunks } = pair(derived);
    const d = client.bootstrap('Derived');
    expect(await d.call('ping', { x: 4 })).toEqual({ y: 8 });
    expect(await d.call('pong', { s: 'ab' })).toEqual({ s: 'abab' });
    await settle();
    const calls = lines(chunks).filter((l) => l.startsWith('> call'));
    expect(calls[0]).toContain('Base.ping$Params');
    expect(calls[1]).toContain('Derived.pong$Params');
  });

  it('answers Bootstrap with an exception when nothing is served', async () => {
    const { client } = pair(null);
    await expect(client.bootstrap('Base').call('ping', { x: 1 })).rejects.toMatchObject({
      type: 'failed',
      message: expect.stringContaining('does not expose any public/bootstrap interfaces') as unknown,
    });
  });

  it('rejects outstanding calls with DISCONNECTED when the peer goes away', async () => {
    const base = serve(cs, 'Base', { ping: () => new Promise(() => undefined) });
    const { client, server, chunks } = pair(base);
    const b = client.bootstrap('Base');
    const p = b.call('ping', { x: 1 });
    await settle();
    server.close();
    await expect(p).rejects.toMatchObject({ type: 'disconnected' });
    expect(client.closed).toBe(true);
    expect((await client.disconnected).message).toBe('Peer disconnected.');
    await expect(b.call('ping', { x: 2 })).rejects.toMatchObject({ type: 'disconnected' });
    await settle();
    // Like C++, the side that saw EOF says so before closing.
    expect(lines(chunks).slice(-1)).toEqual(['> abort disconnected: Peer disconnected.']);
  });

  it('rejects outstanding calls when the local side closes', async () => {
    const base = serve(cs, 'Base', { ping: () => new Promise(() => undefined) });
    const { client } = pair(base);
    const p = client.bootstrap('Base').call('ping', { x: 1 });
    await settle();
    client.close();
    await expect(p).rejects.toBeInstanceOf(RpcError);
    await expect(p).rejects.toMatchObject({ type: 'disconnected', message: 'Connection closed.' });
  });

  it('exports a promise as senderPromise and sends Resolve when it settles', async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const slow = serve(cs, 'Base', {
      echoCb: async ({ cb }: { cb: Cap }) => {
        await gate;
        return { cb };
      },
    });
    const real = callbackServer('real');
    // The server returns a capability it does not have yet: the pipelined result of a local call.
    const base = serve(cs, 'Base', { echoCb: () => ({ cb: slow.call('echoCb', { cb: real }).pipeline('cb') }) });
    const { client, chunks } = pair(base);
    const b = client.bootstrap('Base');
    const promised = (await b.call('echoCb', {})).cb as Cap;
    const early = promised.call('call', { arg: 'early' }); // goes to the promise; the server queues it
    await settle();
    open();
    expect((await early).result).toBe('real(early)');
    await settle();
    expect((await promised.call('call', { arg: 'late' })).result).toBe('real(late)');
    await settle();
    const l = lines(chunks);
    expect(l).toContain('< return a1 keepParamCaps caps=[senderPromise 1] Base.echoCb$Results');
    expect(l).toContain('< resolve promise 1 senderHosted 2');
    // After the Resolve the client calls the resolved capability directly.
    expect(l.some((x) => /^> call q\d cap#2 .*Callback\.call\$Params$/.test(x))).toBe(true);
    promised.release();
    await settle();
    expect(lines(chunks).slice(-2).sort()).toEqual(['> release cap#1 x1', '> release cap#2 x1']);
  });

  it('works over a Unix socket', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ipc-trace-rpc-'));
    const path = join(dir, 's.sock');
    const server = net.createServer((sock) => {
      const c = new Connection(sock, { schemas: cs, bootstrap: serve(cs, 'Base', { ping: ({ x }: { x: number }) => ({ y: x * 3 }) }) });
      void c;
    });
    await new Promise<void>((r) => server.listen(path, r));
    const sock = net.connect(path);
    await new Promise<void>((r) => sock.once('connect', () => r()));
    const client = new Connection(sock, { schemas: cs });
    expect(await client.bootstrap('Base').call('ping', { x: 5 })).toEqual({ y: 15 });
    client.close();
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('echoes a message type it does not handle back as unimplemented', async () => {
    const { server, a, chunks } = pair(serve(cs, 'Base', {}));
    const m = new Message();
    const root = m.initRoot(RpcMessage);
    utils.setUint16(0, 7, root); // obsoleteSave, with a null pointer
    a.write(new Uint8Array(m.toArrayBuffer()));
    await settle();
    expect(server.closed).toBe(false);
    expect(lines(chunks)).toEqual(['> message type obsoleteSave', '< unimplemented (message type obsoleteSave)']);
  });

  it('aborts on a protocol error (a call to an export that does not exist)', async () => {
    const { server, a, chunks } = pair(serve(cs, 'Base', {}));
    a.write(
      env.callMessage(0, ID('Base'), 0, { kind: 'importedCap', id: 7 }, () => []).bytes,
    );
    await settle();
    expect(server.closed).toBe(true);
    expect(lines(chunks).slice(-1)).toEqual(['< abort failed: Message target is not a current export ID.']);
  });
});
