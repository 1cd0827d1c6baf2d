// The listening relay (src/proxy/relay.ts): real sockets, real traffic.

import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import net from 'node:net';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { existsSync, linkSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Relay } from '../../src/proxy/relay.js';
import type { Tap } from '../../src/proxy/relay.js';
import { parseAddress } from '../../src/proxy/address.js';
import type { Address } from '../../src/proxy/address.js';
import { UserError } from '../../src/decoder/sources.js';
import { RecordingTap, tempDir, rng, writeRandom, readAll, closed, hungUp, connect, sleep, within, sha256 } from './helpers.js';

let tmp: { dir: string; cleanup: () => void };
const toClose: { close(): unknown }[] = [];
const relays: Relay[] = [];

beforeEach(() => {
  tmp = tempDir();
});
afterEach(async () => {
  for (const r of relays.splice(0)) await r.stop();
  for (const s of toClose.splice(0)) s.close();
  tmp.cleanup();
});

/** Starts a server on a unix path in the temp dir (or tcp 127.0.0.1:0). */
async function server(onConn: (s: net.Socket) => void, kind: 'unix' | 'tcp' = 'unix', name = 'up.sock'): Promise<{ srv: net.Server; addr: Address }> {
  const srv = net.createServer({ allowHalfOpen: true }, onConn);
  toClose.push(srv);
  if (kind === 'unix') {
    const path = join(tmp.dir, name);
    srv.listen(path);
    await once(srv, 'listening');
    return { srv, addr: { kind: 'unix', path } };
  }
  srv.listen({ host: '127.0.0.1', port: 0 });
  await once(srv, 'listening');
  return { srv, addr: { kind: 'tcp', host: '127.0.0.1', port: (srv.address() as net.AddressInfo).port } };
}

async function relay(connectTo: Address, tap: Tap, opts: { listen?: Address; log?: (l: string) => void } = {}): Promise<Relay> {
  const r = new Relay({ listen: opts.listen ?? { kind: 'unix', path: join(tmp.dir, 'proxy.sock') }, connect: connectTo, tap, log: opts.log });
  await r.listen();
  relays.push(r);
  return r;
}

function dial(a: Address): Promise<net.Socket> {
  return connect(a.kind === 'unix' ? { path: a.path } : { host: a.host, port: a.port });
}

describe('parseAddress', () => {
  it('parses unix, bare paths and tcp', () => {
    expect(parseAddress('unix:/tmp/node.sock')).toEqual({ kind: 'unix', path: '/tmp/node.sock' });
    expect(parseAddress('unix:rel.sock')).toEqual({ kind: 'unix', path: 'rel.sock' });
    expect(parseAddress('/a/b:c.sock')).toEqual({ kind: 'unix', path: '/a/b:c.sock' });
    expect(parseAddress('./node.sock')).toEqual({ kind: 'unix', path: './node.sock' });
    expect(parseAddress('node.sock')).toEqual({ kind: 'unix', path: 'node.sock' });
    expect(parseAddress('tcp:127.0.0.1:8332')).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 8332 });
    expect(parseAddress('tcp:localhost:0')).toEqual({ kind: 'tcp', host: 'localhost', port: 0 });
    expect(parseAddress('tcp:[::1]:18443')).toEqual({ kind: 'tcp', host: '::1', port: 18443 });
  });
  it('rejects bad input with a one-line UserError', () => {
    const bad = ['', 'unix', 'unix:', 'tcp', 'tcp:', 'tcp:host', 'tcp:host:', 'tcp::80', 'tcp:h:65536', 'tcp:h:8a',
      'tcp:::1:80', 'tcp:[::1]80', 'tcp:[host]:80', 'tcp://127.0.0.1:80', 'http://x/y', 'foo:bar', `unix:/${'x'.repeat(107)}`];
    for (const s of bad) {
      let err: unknown;
      try {
        parseAddress(s);
      } catch (e) {
        err = e;
      }
      expect(err, s).toBeInstanceOf(UserError);
      expect((err as Error).message, s).not.toContain('\n');
    }
  });
});

describe('Relay traffic', () => {
  it('relays 50 concurrent connections of random data both ways, byte-exact, and the tap sees the same', async () => {
    const N = 50;
    const seed = (Date.now() & 0xffff) >>> 0;
    const r = rng(seed);
    const sizes = Array.from({ length: N }, () => [(2 << 20) + Math.floor(r() * (3 << 20)), (2 << 20) + Math.floor(r() * (3 << 20))]);
    const serverSide = new Map<number, { recv: { hash: string; bytes: number }; sent: string }>();
    const serverDone: Promise<void>[] = [];
    const { addr } = await server((s) => {
      serverDone.push(new Promise<void>((resolve, reject) => {
        // The first 4 bytes of each client stream name the connection.
        const h = createHash('sha256');
        let bytes = 0;
        let head = Buffer.alloc(0);
        let idx = -1;
        let sentP: Promise<string> | null = null;
        s.on('data', (d: Buffer) => {
          h.update(d);
          bytes += d.length;
          if (sentP) return;
          head = Buffer.concat([head, d.subarray(0, 4)]);
          if (head.length >= 4) {
            idx = head.readUInt32BE(0);
            sentP = writeRandom(s, sizes[idx]![1]!, rng(seed + 1000 + idx));
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
    const tap = new RecordingTap();
    const rel = await relay(addr, tap);
    const clients = await Promise.all(Array.from({ length: N }, async (_, idx) => {
      const s = await dial(rel.address!);
      const label = Buffer.alloc(4);
      label.writeUInt32BE(idx);
      const [sent, recv] = await Promise.all([writeRandom(s, sizes[idx]![0]!, rng(seed + idx), label), readAll(s)]);
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
      expect(sv.recv.hash, `seed ${seed} conn ${c.idx} >`).toBe(c.sent);
      expect(c.recv.hash, `seed ${seed} conn ${c.idx} <`).toBe(sv.sent);
      expect(sv.recv.bytes).toBe(sizes[c.idx]![0]);
      expect(c.recv.bytes).toBe(sizes[c.idx]![1]);
      expect(t.digest!['>']).toBe(c.sent);
      expect(t.digest!['<']).toBe(sv.sent);
      expect(t.ends.sort()).toEqual(['<', '>']);
      expect(t.close!.reason).toBeNull();
      expect(t.open.listen).toBe(`unix:${join(tmp.dir, 'proxy.sock')}`);
      expect(t.open.upstream).toBe(`unix:${join(tmp.dir, 'up.sock')}`);
    }
    expect(rel.connectionCount).toBe(0);
  }, 20000);

  it('keeps its buffers bounded when upstream reads slowly (200 MB)', async () => {
    const TOTAL = 200 << 20;
    let upstreamSock: net.Socket | null = null;
    let recvP: Promise<{ hash: string; bytes: number }> | null = null;
    const { addr } = await server((s) => {
      upstreamSock = s;
      recvP = readAll(s);
      // Slow reader: 20 ms paused, 4 ms reading.
      const cycle = () => {
        if (s.readableEnded || s.destroyed) return;
        s.pause();
        setTimeout(() => {
          s.resume();
          setTimeout(cycle, 4);
        }, 20);
      };
      cycle();
    });
    const tap = new RecordingTap();
    const rel = await relay(addr, tap);
    let maxBuffered = 0;
    tap.onData = () => {
      maxBuffered = Math.max(maxBuffered, rel.bufferedBytes());
    };
    const sampler = setInterval(() => (maxBuffered = Math.max(maxBuffered, rel.bufferedBytes())), 1);
    const c = await dial(rel.address!);
    c.resume();
    const sent = await writeRandom(c, TOTAL, rng(7));
    while (!recvP) await sleep(1);
    const recv = await (recvP as Promise<{ hash: string; bytes: number }>);
    clearInterval(sampler);
    upstreamSock!.end();
    await within(tap.allClosed(), 5000, 'tap close');
    expect(recv.bytes).toBe(TOTAL);
    expect(recv.hash).toBe(sent);
    const t = [...tap.conns.values()][0]!;
    expect(t.digest!['>']).toBe(sent);
    expect(maxBuffered).toBeGreaterThan(0);
    expect(maxBuffered).toBeLessThan(4 << 20);
  }, 20000);

  it('relays upstream bytes unchanged to a client that reads slowly (40 MB)', async () => {
    const TOTAL = 40 << 20;
    let sent: Promise<string> | null = null;
    const { addr } = await server((s) => {
      sent = writeRandom(s, TOTAL, rng(11)).then((h) => {
        s.end();
        return h;
      });
    });
    const tap = new RecordingTap();
    const rel = await relay(addr, tap);
    const c = await dial(rel.address!);
    const got = readAll(c);
    // Slow reader: 15 ms paused, 3 ms reading.
    const cycle = () => {
      if (c.readableEnded || c.destroyed) return;
      c.pause();
      setTimeout(() => {
        c.resume();
        setTimeout(cycle, 3);
      }, 15);
    };
    cycle();
    const r = await within(got, 30000, 'client EOF');
    c.end();
    while (!sent) await sleep(1);
    const hash = await (sent as Promise<string>);
    expect(r.bytes).toBe(TOTAL);
    expect(r.hash).toBe(hash);
    await within(tap.allClosed(), 5000, 'tap close');
    expect([...tap.conns.values()][0]!.digest!['<']).toBe(hash);
  }, 40000);

  it('propagates a half-close from the client, and the reply still flows', async () => {
    const { addr } = await server((s) => {
      const chunks: Buffer[] = [];
      s.on('data', (d: Buffer) => chunks.push(d));
      s.on('end', () => {
        // Only after the client's EOF: reply, then close our side.
        s.end(Buffer.concat([Buffer.from('got:'), ...chunks]));
      });
    });
    const tap = new RecordingTap(true);
    const rel = await relay(addr, tap);
    const c = await dial(rel.address!);
    const reply = readAll(c);
    c.end('ping');
    const got = await within(reply, 5000, 'reply after half-close');
    expect(got.hash).toBe(sha256('got:ping'));
    await closed(c);
    await within(tap.allClosed(), 5000, 'tap close');
    const t = [...tap.conns.values()][0]!;
    expect(t.seq).toEqual(['>', 'end>', '<', 'end<', 'close']);
    expect(t.close!.reason).toBeNull();
    expect(Buffer.concat(t.chunks['<']).toString()).toBe('got:ping');
  });

  it('propagates a half-close from upstream while the client keeps sending', async () => {
    let serverGot: Promise<{ hash: string }> | null = null;
    const { addr } = await server((s) => {
      serverGot = readAll(s);
      s.end('hello, no more from me');
    });
    const tap = new RecordingTap(true);
    const rel = await relay(addr, tap);
    const c = await dial(rel.address!);
    const got = await within(readAll(c), 5000, 'upstream EOF');
    expect(got.hash).toBe(sha256('hello, no more from me'));
    // Still writable after the EOF from upstream.
    c.write('one ');
    await sleep(20);
    c.end('two');
    while (!serverGot) await sleep(1);
    expect((await within(serverGot as Promise<{ hash: string }>, 5000, 'server read')).hash).toBe(sha256('one two'));
    await within(tap.allClosed(), 5000, 'tap close');
    const t = [...tap.conns.values()][0]!;
    expect(t.seq[0]).toBe('<');
    expect(t.seq[1]).toBe('end<');
    expect(t.seq.slice(-2)).toEqual(['end>', 'close']);
    expect(t.close!.reason).toBeNull();
  });

  it('destroys the upstream side when the client resets', async () => {
    let up: net.Socket | null = null;
    const { addr } = await server((s) => {
      up = s;
      s.on('error', () => {});
      s.write(Buffer.alloc(100000, 1)); // never read by the client: its close becomes a reset
    });
    const tap = new RecordingTap();
    const rel = await relay(addr, tap);
    const c = await dial(rel.address!);
    c.pause();
    c.write('x');
    while (!up) await sleep(1);
    await sleep(50);
    c.destroy();
    await within(hungUp(up!), 3000, 'upstream hung up');
    await within(tap.allClosed(), 3000, 'tap close');
    const t = [...tap.conns.values()][0]!;
    expect(t.close!.reason).toMatch(/^client/);
  });

  it('destroys the client side when upstream resets', async () => {
    let up: net.Socket | null = null;
    const { addr } = await server((s) => {
      up = s;
      s.pause(); // never read: its destroy becomes a reset
    });
    const tap = new RecordingTap();
    const rel = await relay(addr, tap);
    const c = await dial(rel.address!);
    c.on('error', () => {});
    c.write(Buffer.alloc(100000, 2));
    while (!up) await sleep(1);
    await sleep(50);
    (up as unknown as net.Socket).destroy();
    await within(hungUp(c), 3000, 'client hung up');
    await within(tap.allClosed(), 3000, 'tap close');
    const t = [...tap.conns.values()][0]!;
    expect(t.close!.reason).toMatch(/^upstream/);
  });

  it('closes the client and reports the reason when upstream refuses', async () => {
    const stale = join(tmp.dir, 'gone.sock');
    const tap = new RecordingTap();
    const logs: string[] = [];
    const rel = await relay({ kind: 'unix', path: stale }, tap, { log: (l) => logs.push(l) });
    const c = await dial(rel.address!);
    c.on('error', () => {});
    await within(hungUp(c), 3000, 'client hung up');
    await within(tap.allClosed(), 3000, 'tap close');
    const t = [...tap.conns.values()][0]!;
    expect(t.close!.reason).toMatch(/^upstream: connect (ENOENT|ECONNREFUSED)/);
    expect(t.ends).toEqual([]);
    expect(logs.length).toBe(1);
    expect(logs[0]).toContain(stale);
    expect(logs[0]).not.toContain('\n');
  });

  it('relays over tcp on 127.0.0.1', async () => {
    const { addr } = await server((s) => s.pipe(s), 'tcp');
    const tap = new RecordingTap(true);
    const rel = await relay(addr, tap, { listen: { kind: 'tcp', host: '127.0.0.1', port: 0 } });
    const a = rel.address!;
    expect(a.kind).toBe('tcp');
    expect(a.kind === 'tcp' && a.port).toBeGreaterThan(0);
    const c = await dial(a);
    const localPort = c.localPort;
    const echo = readAll(c);
    const sent = await writeRandom(c, 3 << 20, rng(3));
    expect((await within(echo, 5000, 'tcp echo')).hash).toBe(sent);
    await within(tap.allClosed(), 5000, 'tap close');
    const t = [...tap.conns.values()][0]!;
    expect(t.open.listen).toMatch(/^tcp:127\.0\.0\.1:\d+$/);
    expect(t.open.peer).toBe(`127.0.0.1:${localPort}`);
    expect(t.digest).toEqual({ '>': sent, '<': sent });
  });

  it('survives a tap that throws', async () => {
    const { addr } = await server((s) => s.pipe(s));
    const logs: string[] = [];
    const bad: Tap = {
      open() { throw new Error('boom open'); },
      data() { throw new Error('boom data'); },
      end() { throw new Error('boom end'); },
      close() { throw new Error('boom close'); },
    };
    const rel = await relay(addr, bad, { log: (l) => logs.push(l) });
    const c = await dial(rel.address!);
    const echo = readAll(c);
    c.end('still works');
    expect((await within(echo, 3000, 'echo')).hash).toBe(sha256('still works'));
    expect(logs.length).toBe(1);
    expect(logs[0]).toContain('boom open');
  });
});

describe('Relay socket file', () => {
  it('creates the socket with mode 0600 and leaves the umask alone', async () => {
    const before = process.umask(0o022);
    try {
      await relay({ kind: 'unix', path: join(tmp.dir, 'nowhere.sock') }, new RecordingTap());
      expect(statSync(join(tmp.dir, 'proxy.sock')).mode & 0o777).toBe(0o600);
      expect(process.umask(0o022)).toBe(0o022);
    } finally {
      process.umask(before);
    }
  });

  it('replaces a stale socket', async () => {
    const path = join(tmp.dir, 'proxy.sock');
    const srv = net.createServer();
    srv.listen(join(tmp.dir, 'tmp.sock'));
    await once(srv, 'listening');
    linkSync(join(tmp.dir, 'tmp.sock'), path); // a second name for the socket
    await new Promise((r) => srv.close(r)); // now nobody listens on `path`
    expect(statSync(path).isSocket()).toBe(true);
    const rel = await relay({ kind: 'unix', path: join(tmp.dir, 'x.sock') }, new RecordingTap());
    expect(rel.address).toEqual({ kind: 'unix', path });
    const c = await dial(rel.address!); // it is ours now
    c.destroy();
  });

  it('refuses to replace a regular file', async () => {
    const path = join(tmp.dir, 'proxy.sock');
    writeFileSync(path, 'precious');
    await expect(relay({ kind: 'unix', path: join(tmp.dir, 'x.sock') }, new RecordingTap())).rejects.toThrow(UserError);
    await expect(relay({ kind: 'unix', path: join(tmp.dir, 'x.sock') }, new RecordingTap())).rejects.toThrow(/refusing to replace/);
    expect(readFileSync(path, 'utf8')).toBe('precious');
  });

  it('refuses to replace a live socket', async () => {
    const path = join(tmp.dir, 'proxy.sock');
    const srv = net.createServer((s) => s.destroy());
    toClose.push(srv);
    srv.listen(path);
    await once(srv, 'listening');
    await expect(relay({ kind: 'unix', path: join(tmp.dir, 'x.sock') }, new RecordingTap())).rejects.toThrow(/refusing to replace .*listening/);
    expect(statSync(path).isSocket()).toBe(true);
    // The live server still works.
    const c = await connect({ path });
    c.destroy();
  });

  it('reports unusable listen addresses as UserError', async () => {
    await expect(relay({ kind: 'unix', path: join(tmp.dir, 'x.sock') }, new RecordingTap(), { listen: { kind: 'unix', path: join(tmp.dir, 'no', 'such', 'dir.sock') } }))
      .rejects.toThrow(/cannot listen on unix:.*does not exist/);
    const { addr } = await server(() => {}, 'tcp');
    await expect(relay(addr, new RecordingTap(), { listen: addr })).rejects.toThrow(UserError);
  });

  it('stop() closes open connections (after relaying what was read) and removes the socket file', async () => {
    let up: net.Socket | null = null;
    let upGot: Promise<{ hash: string }> | null = null;
    const { addr } = await server((s) => {
      up = s;
      upGot = readAll(s);
    });
    const tap = new RecordingTap();
    const rel = await relay(addr, tap);
    const path = join(tmp.dir, 'proxy.sock');
    const c = await dial(rel.address!);
    const cGot = readAll(c);
    c.write('before stop');
    while (!up) await sleep(1);
    await sleep(30);
    await within(rel.stop(), 8000, 'stop');
    expect(existsSync(path)).toBe(false);
    expect((await within(upGot! as Promise<{ hash: string }>, 3000, 'upstream EOF')).hash).toBe(sha256('before stop'));
    await within(cGot, 3000, 'client EOF');
    await within(tap.allClosed(), 3000, 'tap close');
    expect([...tap.conns.values()][0]!.close!.reason).toBe('proxy stopped');
    await expect(dial(rel.address!)).rejects.toThrow();
    await rel.stop(); // idempotent
  });

  /** A connection whose upstream does not read until `readAfterMs` (never: Infinity) with megabytes read by the relay; stop(budgetMs) on it. */
  async function stopWithBacklog(budgetMs: number, readAfterMs: number) {
    let got: Promise<{ hash: string; bytes: number }> | null = null;
    const { addr } = await server((s) => {
      s.on('error', () => {});
      s.pause();
      if (readAfterMs < Infinity) {
        setTimeout(() => {
          got = readAll(s);
          s.resume();
        }, readAfterMs);
      }
    });
    const tap = new RecordingTap();
    const rel = await relay(addr, tap);
    const c = await dial(rel.address!);
    c.on('error', () => {});
    c.resume();
    void writeRandom(c, 8 << 20, rng(3)).catch(() => {});
    // Until the relay holds bytes it read and could not write on.
    while (rel.bufferedBytes() < 64 << 10) await sleep(5);
    await sleep(50);
    await within(rel.stop(budgetMs), budgetMs + 3000, 'stop');
    const t = [...tap.conns.values()][0]!;
    await within(tap.allClosed(), 3000, 'tap close');
    return { got: got as Promise<{ hash: string; bytes: number }> | null, read: t.bytes['>'], digest: t.digest!['>'], reason: t.close!.reason };
  }

  it('stop(budget) lets a slow upstream take, within the budget, every byte the relay read', async () => {
    const r = await stopWithBacklog(5000, 1000);
    expect(r.read).toBeGreaterThan(64 << 10);
    const got = await within(r.got!, 3000, 'upstream EOF');
    expect(got.bytes).toBe(r.read);
    expect(got.hash).toBe(r.digest);
    expect(r.reason).toBe('proxy stopped');
  }, 15000);

  it('stop(budget) destroys a connection whose upstream never reads once the budget is spent', async () => {
    const r = await stopWithBacklog(300, Infinity);
    expect(r.read).toBeGreaterThan(64 << 10);
    expect(r.reason).toBe('proxy stopped');
  }, 15000);
});
