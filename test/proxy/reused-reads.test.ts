// The relay reads into reused buffers (src/proxy/reused-reads.ts): a buffer
// still being written by a socket that could not take it all at once must
// not be read into again, and a chunk written behind a queue is a copy. These
// tests make writes queue (slow readers on both sides, random chunk sizes,
// many connections at once) and compare what arrived and what the tap saw
// with what was sent.

import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import net from 'node:net';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Relay } from '../../src/proxy/relay.js';
import { ReadSlot, adoptForSplice, readSlot, reuseCounts } from '../../src/proxy/reused-reads.js';
import { RecordingTap, tempDir, rng, writeRandom, closed, connect, within, sleep, hungUp } from './helpers.js';

let tmp: { dir: string; cleanup: () => void };
const toClose: { close(): unknown }[] = [];
const relays: Relay[] = [];

// The listening relay's JavaScript path (--listen uses the native pump when it is built: src/proxy/pump.ts).
const savedRelay = process.env.IPC_TRACE_RELAY;
beforeEach(() => {
  tmp = tempDir();
  process.env.IPC_TRACE_RELAY = 'js';
});
afterEach(async () => {
  if (savedRelay === undefined) delete process.env.IPC_TRACE_RELAY;
  else process.env.IPC_TRACE_RELAY = savedRelay;
  for (const r of relays.splice(0)) await r.stop();
  for (const s of toClose.splice(0)) s.close();
  tmp.cleanup();
});

/** Reads sock to EOF, pausing now and then for up to maxPauseMs when slow; resolves with the SHA-256 and the byte count. */
function readAllSlowly(sock: net.Socket, slow: boolean, r: () => number, maxPauseMs = 4): Promise<{ hash: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    let bytes = 0;
    sock.on('data', (d: Buffer) => {
      h.update(d);
      bytes += d.length;
      if (slow && r() < 0.5) {
        sock.pause();
        setTimeout(() => sock.resume(), Math.floor(r() * (maxPauseMs + 1)));
      }
    });
    sock.once('end', () => resolve({ hash: h.digest('hex'), bytes }));
    sock.once('error', reject);
  });
}

const SMALL_POOL = randomBytes(1 << 20);

/**
 * Like writeRandom, in small writes (1 B to 4 KiB, as RPC messages are), each
 * followed by a turn of the event loop, so the relay (in this process) reads
 * them one by one, often while its write of an earlier one still waits in a
 * queue.
 */
async function writeSmall(sock: net.Socket, total: number, r: () => number, label?: Buffer): Promise<string> {
  const h = createHash('sha256');
  let sent = 0;
  if (label) {
    h.update(label);
    sent += label.length;
    sock.write(label);
  }
  while (sent < total) {
    const n = Math.min(total - sent, 1 + Math.floor(r() * 4096));
    const off = Math.floor(r() * (SMALL_POOL.length - n));
    const chunk = SMALL_POOL.subarray(off, off + n);
    h.update(chunk);
    sent += n;
    if (!sock.write(chunk)) await once(sock, 'drain');
    else await new Promise((res) => setImmediate(res));
  }
  sock.end();
  return h.digest('hex');
}

describe('reused read buffers', () => {
  it('a read never goes into memory that holds a chunk still being written (random reads, queued or not)', () => {
    const seed = (Date.now() & 0xffff) >>> 0;
    const r = rng(seed);
    const slots = [0, 1, 2].map(() => new ReadSlot(() => { throw new Error('no socket'); }));
    /** Per slot: the regions of chunks kept by a socket (queued writes), until one write finds nothing queued. */
    const kept: { ab: ArrayBufferLike; start: number; end: number }[][] = [[], [], []];
    for (let i = 0; i < 10000; i++) {
      const k = Math.floor(r() * slots.length);
      const slot = slots[k]!;
      const into = slot.onread.buffer as () => Buffer;
      const view = into();
      const n = 1 + Math.floor(r() * Math.min(view.length, r() < 0.7 ? 4096 : 65536));
      const start = view.byteOffset;
      for (const other of kept.flat()) {
        const overlaps = other.ab === view.buffer && start < other.end && other.start < start + view.length;
        expect(overlaps, `seed ${seed} read ${i}`).toBe(false);
      }
      let got: Buffer | null = null;
      slot.onRead = (chunk) => (got = chunk);
      slot.onread.callback(n, view);
      expect(got!.length).toBe(n);
      expect(got!.byteOffset).toBe(start);
      // Kept while something is queued: often in a row, as while a reader is slow.
      const queued = r() < 0.6;
      slot.written(n, queued);
      if (queued) kept[k]!.push({ ab: view.buffer, start, end: start + n });
      else kept[k] = [];
      // A slot whose connection closed gives its buffers to the others.
      if (r() < 0.001) {
        slot.release();
        kept[k] = [];
        slots[k] = new ReadSlot(() => { throw new Error('no socket'); });
      }
    }
  });

  it('many connections with slow readers both ways and random chunk sizes: every byte arrives and is recorded as sent', async () => {
    const N = 24;
    const seed = (Date.now() & 0xffff) >>> 0;
    const r = rng(seed);
    const sizes = Array.from({ length: N }, () => [(1 << 19) + Math.floor(r() * (1 << 20)), (1 << 19) + Math.floor(r() * (1 << 20))]);
    // Connection idx: upstream reads slowly when idx % 2 == 1, the client when idx % 3 == 0.
    const serverSide = new Map<number, { recv: { hash: string; bytes: number }; sent: string }>();
    const serverDone: Promise<void>[] = [];
    const srv = net.createServer({ allowHalfOpen: true }, (s) => {
      serverDone.push(new Promise<void>((resolve, reject) => {
        const h = createHash('sha256');
        let bytes = 0;
        let head = Buffer.alloc(0);
        let idx = -1;
        let pr = () => 1;
        let sentP: Promise<string> | null = null;
        s.on('data', (d: Buffer) => {
          h.update(d);
          bytes += d.length;
          if (idx < 0) {
            // The first 4 bytes of each client stream name the connection.
            head = Buffer.concat([head, d.subarray(0, 4)]);
            if (head.length < 4) return;
            idx = head.readUInt32BE(0);
            if (idx % 2 === 1) pr = rng(seed + 2000 + idx);
            // Small writes from upstream when idx % 4 is 1 or 2.
            sentP = (idx % 4 === 1 || idx % 4 === 2 ? writeSmall : writeRandom)(s, sizes[idx]![1]!, rng(seed + 1000 + idx));
          }
          if (pr() < 0.5) {
            s.pause();
            setTimeout(() => s.resume(), Math.floor(pr() * 21));
          }
        });
        s.on('error', reject);
        s.on('end', () => {
          const recv = { hash: h.digest('hex'), bytes };
          sentP!.then((sent) => {
            serverSide.set(idx, { recv, sent });
            resolve();
          }, reject);
        });
      }));
    });
    toClose.push(srv);
    const up = join(tmp.dir, 'up.sock');
    srv.listen(up);
    await once(srv, 'listening');

    const tap = new RecordingTap();
    const rel = new Relay({ listen: { kind: 'unix', path: join(tmp.dir, 'proxy.sock') }, connect: { kind: 'unix', path: up }, tap });
    await rel.listen();
    relays.push(rel);
    const before = { ...reuseCounts };

    const clients = await Promise.all(Array.from({ length: N }, async (_, idx) => {
      const s = await connect({ path: join(tmp.dir, 'proxy.sock') });
      const label = Buffer.alloc(4);
      label.writeUInt32BE(idx);
      const [sent, recv] = await Promise.all([
        // Small writes from the client when idx % 4 is 0 or 1.
        (idx % 4 < 2 ? writeSmall : writeRandom)(s, sizes[idx]![0]!, rng(seed + idx), label),
        readAllSlowly(s, idx % 3 === 0, rng(seed + 3000 + idx), 20),
      ]);
      await closed(s);
      return { idx, sent, recv };
    }));
    await Promise.all(serverDone);
    await within(tap.allClosed(), 5000, 'tap close events');

    expect(tap.problems).toEqual([]);
    expect(tap.conns.size).toBe(N);
    const byIdx = new Map([...tap.conns.values()].map((c) => [c.head['>'].readUInt32BE(0), c]));
    for (const c of clients) {
      const sv = serverSide.get(c.idx)!;
      const t = byIdx.get(c.idx)!;
      const why = `seed ${seed} conn ${c.idx}`;
      expect(sv.recv.bytes, `${why} > bytes`).toBe(sizes[c.idx]![0]);
      expect(sv.recv.hash, `${why} >`).toBe(c.sent);
      expect(t.bytes['>'], `${why} > tap bytes`).toBe(sizes[c.idx]![0]);
      expect(t.digest!['>'], `${why} > tap`).toBe(c.sent);
      expect(c.recv.bytes, `${why} < bytes`).toBe(sizes[c.idx]![1]);
      expect(c.recv.hash, `${why} <`).toBe(sv.sent);
      expect(t.digest!['<'], `${why} < tap`).toBe(sv.sent);
      expect(t.close!.reason).toBeNull();
    }
    // Every socket of the relay was read into a reused buffer, and writes did queue.
    expect(reuseCounts.slots - before.slots).toBe(2 * N);
    const counts = `reads ${reuseCounts.reads - before.reads}, kept ${reuseCounts.kept - before.kept}, allocated ${reuseCounts.allocated - before.allocated}`;
    expect(reuseCounts.kept - before.kept, counts).toBeGreaterThan(0);
  }, 60000);

  it('an accepted socket taken over keeps its connection: peer address, reads, writes, EOF, errors and close; the old object closes nothing', async () => {
    const accepted: { old: net.Socket; s: net.Socket }[] = [];
    const srv = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (old) => {
      const s = adoptForSplice(old);
      accepted.push({ old, s });
    });
    toClose.push(srv);
    srv.listen({ host: '127.0.0.1', port: 0 });
    await once(srv, 'listening');
    const port = (srv.address() as net.AddressInfo).port;

    // 1: bytes both ways, then EOF each way (allowHalfOpen), then close.
    const c = await connect({ host: '127.0.0.1', port });
    await within((async () => {
      while (accepted.length < 1) await sleep(5);
    })(), 2000, 'accept');
    const { old, s } = accepted[0]!;
    expect(s).not.toBe(old);
    expect(readSlot(s)).toBeDefined();
    expect(old.destroyed).toBe(true);
    expect(s.remoteAddress).toBe('127.0.0.1');
    expect(s.remotePort).toBe(c.localPort);
    const got: Buffer[] = [];
    readSlot(s)!.onRead = (chunk) => got.push(Buffer.from(chunk));
    c.write('hello');
    await sleep(50);
    expect(got.length).toBe(0); // paused until resumed
    s.resume();
    await within((async () => {
      while (Buffer.concat(got).toString() !== 'hello') await sleep(5);
    })(), 2000, 'read');
    const back: Buffer[] = [];
    c.on('data', (d: Buffer) => back.push(d));
    s.write('world');
    c.end();
    await once(s, 'end');
    expect(s.destroyed).toBe(false); // half-open: it can still write
    s.end('!');
    await once(c, 'end');
    expect(Buffer.concat(back).toString()).toBe('world!');
    await Promise.all([closed(s), closed(c)]);

    // 2: a reset from the peer reaches the new socket as an error and a close.
    const c2 = await connect({ host: '127.0.0.1', port });
    await within((async () => {
      while (accepted.length < 2) await sleep(5);
    })(), 2000, 'accept');
    const s2 = accepted[1]!.s;
    readSlot(s2)!.onRead = () => {};
    s2.resume();
    const errors: string[] = [];
    s2.on('error', (e: NodeJS.ErrnoException) => errors.push(e.code ?? e.message));
    c2.resetAndDestroy();
    await within(closed(s2), 2000, 'close after reset');
    expect(errors).toEqual(['ECONNRESET']);

    // 3: destroying the new socket closes the connection; the server closes once every old object is gone.
    const c3 = await connect({ host: '127.0.0.1', port });
    await within((async () => {
      while (accepted.length < 3) await sleep(5);
    })(), 2000, 'accept');
    const hung = hungUp(c3);
    accepted[2]!.s.destroy();
    expect(await within(hung, 2000, 'peer sees the close')).toBe('end');
    c3.destroy();
    await within(new Promise<void>((r) => srv.close(() => r())), 2000, 'server close');
  });
});
