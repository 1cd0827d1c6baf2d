// The native relay pump (native/pump, src/proxy/pump.ts), built by
// scripts/test-system.sh (it needs g++): `--listen` connections relayed by its
// own thread, the tap fed copies in batches. The relay's general suites run
// with it too (vitest.system.config.ts, project "pump").

import { describe, it, expect, beforeAll, beforeEach, afterEach } from 'vitest';
import net from 'node:net';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { Relay } from '../../src/proxy/relay.js';
import type { Dir } from '../../src/proxy/relay.js';
import { relayKind } from '../../src/proxy/pump.js';
import { RecordingTap, tempDir, rng, writeRandom, readAll, closed, connect, sleep, within, sha256 } from '../proxy/helpers.js';

process.env.IPC_TRACE_RELAY = 'pump';

/** A RecordingTap that also counts the gaps the pump reports. */
class GapTap extends RecordingTap {
  readonly gaps = new Map<number, Record<Dir, number>>();
  gap(id: number, dir: Dir, bytes: number): void {
    const g = this.gaps.get(id) ?? { '>': 0, '<': 0 };
    g[dir] += bytes;
    this.gaps.set(id, g);
  }
}

let tmp: { dir: string; cleanup: () => void };
const cleanups: (() => unknown)[] = [];
beforeAll(() => {
  expect(relayKind()).toEqual({ pump: true, text: 'native pump' });
});
beforeEach(() => {
  tmp = tempDir('ipt-pump-');
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  tmp.cleanup();
});

async function server(onConn: (s: net.Socket) => void): Promise<string> {
  const path = join(tmp.dir, 'up.sock');
  const srv = net.createServer({ allowHalfOpen: true }, onConn);
  srv.listen(path);
  await once(srv, 'listening');
  cleanups.push(() => srv.close());
  return path;
}

async function relay(up: string, tap: RecordingTap): Promise<Relay> {
  const r = new Relay({ listen: { kind: 'unix', path: join(tmp.dir, 'p.sock') }, connect: { kind: 'unix', path: up }, tap });
  await r.listen();
  cleanups.push(() => r.stop());
  return r;
}

/** The names of this process's threads. */
function threadNames(): string[] {
  return readdirSync('/proc/self/task').map((t) => readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim());
}

const label = (i: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(i);
  return b;
};

describe('native relay pump', () => {
  it('relays random chunked traffic both ways on 12 concurrent connections byte-exact, on its own thread, the tap gets the same, no descriptor left open', async () => {
    const N = 12;
    const seed = (Date.now() & 0xffff) >>> 0;
    const r = rng(seed);
    const size = Array.from({ length: N }, () => [(1 << 20) + Math.floor(r() * (2 << 20)), (1 << 20) + Math.floor(r() * (2 << 20))] as const);
    const upSent = new Map<number, Promise<string>>();
    const upGot: Promise<{ hash: string; bytes: number; head: Buffer }>[] = [];
    let next = 0;
    const up = await server((s) => {
      const i = next++;
      upGot.push(readAll(s));
      upSent.set(i, writeRandom(s, size[i]![1], rng(seed + 500 + i), label(i)));
    });
    const tap = new GapTap();
    const rel = await relay(up, tap);
    const fdsBefore = readdirSync('/proc/self/fd').length;
    const clients = await Promise.all(Array.from({ length: N }, async (_, i) => {
      const c = await connect({ path: join(tmp.dir, 'p.sock') });
      const [sent, got] = await Promise.all([writeRandom(c, size[i]![0], rng(seed + i), label(i)), readAll(c)]);
      await closed(c);
      return { i, sent, got };
    }));
    expect(threadNames()).toContain('ipc-trace-pump');
    const ups = await Promise.all(upGot);
    await within(tap.allClosed(), 5000, 'tap closes');
    expect(tap.problems).toEqual([]);
    expect(tap.gaps.size, 'no copy was dropped').toBe(0);
    const upByClient = new Map(ups.map((u) => [u.head.readUInt32BE(0), u]));
    const tapByClient = new Map([...tap.conns.values()].map((t) => [t.head['>'].readUInt32BE(0), t]));
    for (const c of clients) {
      const u = upByClient.get(c.i)!;
      const serverIdx = c.got.head.readUInt32BE(0);
      const serverSent = await upSent.get(serverIdx)!;
      expect(u.hash, `seed ${seed} #${c.i} >`).toBe(c.sent);
      expect(u.bytes).toBe(size[c.i]![0]);
      expect(c.got.hash, `seed ${seed} #${c.i} <`).toBe(serverSent);
      expect(c.got.bytes).toBe(size[serverIdx]![1]);
      const t = tapByClient.get(c.i)!;
      expect(t.digest).toEqual({ '>': c.sent, '<': serverSent });
      expect(t.ends.sort()).toEqual(['<', '>']);
      expect(t.close!.reason).toBeNull();
    }
    expect(rel.connectionCount).toBe(0);
    // Every descriptor the pump duplicated was closed once (Node's own were closed at the handover).
    for (let i = 0; i < 200 && readdirSync('/proc/self/fd').length !== fdsBefore; i++) await sleep(10); // the peers' own sockets close a tick later
    expect(readdirSync('/proc/self/fd').length).toBe(fdsBefore);
  }, 60000);

  it('half-close from the client: EOF reaches upstream, the reply still flows, then upstream EOF', async () => {
    const up = await server((s) => {
      const chunks: Buffer[] = [];
      s.on('data', (d: Buffer) => chunks.push(d));
      s.on('end', () => s.end(Buffer.concat([Buffer.from('got:'), ...chunks])));
    });
    const tap = new GapTap(true);
    await relay(up, tap);
    const c = await connect({ path: join(tmp.dir, 'p.sock') });
    const reply = readAll(c);
    c.end('ping');
    expect((await within(reply, 5000, 'reply')).hash).toBe(sha256('got:ping'));
    await within(tap.allClosed(), 5000, 'tap close');
    const t = [...tap.conns.values()][0]!;
    expect(t.seq).toEqual(['>', 'end>', '<', 'end<', 'close']);
    expect(t.close!.reason).toBeNull();
  });

  it('half-close from upstream: the client is told, and can still send', async () => {
    let upGot: Promise<{ hash: string }> | null = null;
    const up = await server((s) => {
      upGot = readAll(s);
      s.end('bye');
    });
    const tap = new GapTap(true);
    await relay(up, tap);
    const c = await connect({ path: join(tmp.dir, 'p.sock') });
    expect((await within(readAll(c), 5000, 'upstream EOF')).hash).toBe(sha256('bye'));
    c.write('still ');
    await sleep(20);
    c.end('here');
    while (!upGot) await sleep(1);
    expect((await within(upGot as Promise<{ hash: string }>, 5000, 'upstream read')).hash).toBe(sha256('still here'));
    await within(tap.allClosed(), 5000, 'tap close');
    const t = [...tap.conns.values()][0]!;
    expect(t.seq).toEqual(['<', 'end<', '>', 'end>', 'close']);
    expect(t.close!.reason).toBeNull();
  });

  it('a client that resets: "client: read ECONNRESET", and upstream is closed', async () => {
    let upSock: net.Socket | null = null;
    const up = await server((s) => {
      upSock = s;
      s.on('error', () => {});
      s.write(Buffer.alloc(1 << 20, 3)); // more than the client reads: its close becomes a reset
    });
    const tap = new GapTap();
    await relay(up, tap);
    const c = await connect({ path: join(tmp.dir, 'p.sock') });
    c.pause();
    while (!upSock) await sleep(1);
    while (tap.conns.size === 0 || [...tap.conns.values()][0]!.bytes['<'] < 256 << 10) await sleep(5);
    c.destroy();
    const upEnd = readAll(upSock!).catch(() => null);
    await within(tap.allClosed(), 5000, 'tap close');
    expect([...tap.conns.values()][0]!.close!.reason).toBe('client: read ECONNRESET');
    await within(upEnd, 5000, 'upstream closed');
  });

  it('a write that fails with EPIPE after the client sent EOF and went away is a clean close', async () => {
    const up = await server((s) => {
      s.resume();
      s.on('end', () => setTimeout(() => {
        s.write(Buffer.alloc(64, 1));
        setTimeout(() => s.end(Buffer.alloc(64, 2)), 50);
      }, 100));
    });
    const tap = new GapTap(true);
    await relay(up, tap);
    const c = await connect({ path: join(tmp.dir, 'p.sock') });
    c.on('error', () => {});
    c.end('bye');
    await once(c, 'finish');
    c.destroy();
    await within(tap.allClosed(), 5000, 'tap close');
    const t = [...tap.conns.values()][0]!;
    expect(t.close!.reason).toBeNull();
    expect(t.ends).toContain('>');
    expect(tap.problems).toEqual([]);
  });

  it('stop(budget) writes on what the pump read to a slow upstream, then closes with "proxy stopped"', async () => {
    let upGot: Promise<{ hash: string; bytes: number }> | null = null;
    const up = await server((s) => {
      s.pause();
      setTimeout(() => {
        upGot = readAll(s);
        s.resume();
      }, 800);
    });
    const tap = new GapTap(true);
    const rel = await relay(up, tap);
    const c = await connect({ path: join(tmp.dir, 'p.sock') });
    c.on('error', () => {});
    c.resume();
    void writeRandom(c, 16 << 20, rng(5)).catch(() => {});
    while (rel.bufferedBytes() < 64 << 10) await sleep(5);
    await within(rel.stop(5000), 8000, 'stop');
    await within(tap.allClosed(), 3000, 'tap close');
    const t = [...tap.conns.values()][0]!;
    expect(t.close!.reason).toBe('proxy stopped');
    expect(t.bytes['>']).toBeGreaterThan(64 << 10);
    while (!upGot) await sleep(5);
    const got = await within(upGot as Promise<{ hash: string; bytes: number }>, 3000, 'upstream EOF');
    expect(got.bytes).toBe(t.bytes['>']);
    expect(got.hash).toBe(sha256(Buffer.concat(t.chunks['>'])));
  }, 20000);

  it('goes on relaying while the tap is stalled; the copies it could not keep are gaps of their true size', async () => {
    const TOTAL = 160 << 20; // well past the 64 MiB handoff area
    const POOL = 1048583; // the stream's byte at offset o is pool[o % POOL]
    const pool = new Uint8Array(new SharedArrayBuffer(POOL));
    for (let i = 0, x = 12345; i < POOL; i++) pool[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const upPath = join(tmp.dir, 'up.sock');
    const proxyPath = join(tmp.dir, 'p.sock');
    // The peers run on another thread: this one stalls.
    const worker = new Worker(`
      const { parentPort, workerData } = require('node:worker_threads');
      const net = require('node:net');
      const crypto = require('node:crypto');
      const { upPath, proxyPath, total, pool, flag } = workerData;
      const p = Buffer.from(pool.buffer);
      const srv = net.createServer({ allowHalfOpen: true }, (s) => {
        const h = crypto.createHash('sha256');
        let n = 0;
        s.on('data', (d) => { h.update(d); n += d.length; });
        s.on('end', () => { s.end(); parentPort.postMessage({ k: 'server', n, hash: h.digest('hex') }); srv.close(); });
      });
      srv.listen(upPath, () => parentPort.postMessage({ k: 'listening' }));
      parentPort.on('message', () => {
        const c = net.createConnection({ path: proxyPath, allowHalfOpen: true });
        const h = crypto.createHash('sha256');
        let off = 0;
        const more = () => {
          while (off < total) {
            const n = Math.min(65536 + (off % 7919), total - off);
            const at = off % p.length;
            const chunk = at + n <= p.length ? p.subarray(at, at + n) : Buffer.concat([p.subarray(at), p.subarray(0, n - (p.length - at))]);
            h.update(chunk);
            off += n;
            if (!c.write(chunk)) return c.once('drain', more);
          }
          c.end();
        };
        c.on('connect', more);
        c.resume();
        c.on('close', () => {
          parentPort.postMessage({ k: 'client', hash: h.digest('hex') });
          Atomics.store(flag, 0, 1);
          Atomics.notify(flag, 0);
        });
      });
    `, { eval: true, workerData: { upPath, proxyPath, total: TOTAL, pool, flag } });
    cleanups.push(() => worker.terminate());
    const msgs: { k: string; n?: number; hash?: string }[] = [];
    worker.on('message', (m) => msgs.push(m));
    while (!msgs.some((m) => m.k === 'listening')) await sleep(5);

    const tap = new GapTap();
    let stalled = false;
    let offset = 0;
    let mismatches = 0;
    tap.onData = (_id, dir, bytes) => {
      if (!stalled) {
        stalled = true;
        // The recorder stalls until the peers are done: with a relay that waited for it, they never would be.
        expect(Atomics.wait(flag, 0, 0, 30000)).not.toBe('timed-out');
      }
      if (dir !== '>') return;
      const g = tap.gaps.get(1)?.['>'] ?? 0;
      for (let i = 0; i < bytes.length; i += 4099) if (bytes[i] !== pool[(offset + g + i) % POOL]) mismatches++;
      if (bytes[bytes.length - 1] !== pool[(offset + g + bytes.length - 1) % POOL]) mismatches++;
      offset += bytes.length;
    };
    const rel = await relay(upPath, tap);
    void rel;
    worker.postMessage('go');
    while (tap.conns.size === 0) await sleep(5);
    await within(tap.allClosed(), 60000, 'tap close');
    while (msgs.length < 3) await sleep(5);
    const server = msgs.find((m) => m.k === 'server')!;
    const client = msgs.find((m) => m.k === 'client')!;
    expect(server.n).toBe(TOTAL);
    expect(server.hash).toBe(client.hash);
    const t = [...tap.conns.values()][0]!;
    const gap = tap.gaps.get(t.open.id)!['>'];
    expect(gap).toBeGreaterThan(0);
    expect(t.bytes['>'] + gap).toBe(TOTAL);
    expect(mismatches).toBe(0);
    expect(t.close!.reason).toBeNull();
  }, 90000);
});
