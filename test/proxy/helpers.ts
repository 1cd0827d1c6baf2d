// Helpers for the proxy tests: temp dirs, a recording Tap, random streams.

import net from 'node:net';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Dir, Tap } from '../../src/proxy/relay.js';

/** A fresh temp dir (short path: Unix socket paths are limited to 107 bytes). */
export function tempDir(prefix = 'ipt-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface TapConn {
  open: { id: number; time: number; listen: string; upstream: string; peer?: string };
  hash: Record<Dir, Hash>;
  bytes: Record<Dir, number>;
  /** The first bytes seen in each direction (up to 64). */
  head: Record<Dir, Buffer>;
  /** Chunks, when keepData is set. */
  chunks: Record<Dir, Buffer[]>;
  /** Event kinds in order: '>' / '<' data, 'end>' / 'end<', 'close'. Consecutive data of one direction is collapsed. */
  seq: string[];
  ends: Dir[];
  close: { time: number; reason: string | null } | null;
  closed: Promise<void>;
  lastTime: number;
  digest?: Record<Dir, string>;
}

/** A Tap that hashes what it sees per connection and direction. */
export class RecordingTap implements Tap {
  readonly conns = new Map<number, TapConn>();
  readonly problems: string[] = [];
  onData?: (id: number, dir: Dir, bytes: Buffer) => void;
  private openWaiters: ((c: TapConn) => void)[] = [];

  constructor(private readonly keepData = false) {}

  open(conn: { id: number; time: number; listen: string; upstream: string; peer?: string }): void {
    if (this.conns.has(conn.id)) this.problems.push(`open twice: ${conn.id}`);
    let resolve!: () => void;
    const c: TapConn = {
      open: conn,
      hash: { '>': createHash('sha256'), '<': createHash('sha256') },
      bytes: { '>': 0, '<': 0 },
      head: { '>': Buffer.alloc(0), '<': Buffer.alloc(0) },
      chunks: { '>': [], '<': [] },
      seq: [],
      ends: [],
      close: null,
      closed: new Promise((r) => (resolve = r)),
      lastTime: conn.time,
    };
    (c as unknown as { resolve: () => void }).resolve = resolve;
    this.conns.set(conn.id, c);
    const ws = this.openWaiters;
    this.openWaiters = [];
    for (const w of ws) w(c);
  }

  private get(id: number, what: string): TapConn | null {
    const c = this.conns.get(id);
    if (!c) this.problems.push(`${what} for unknown id ${id}`);
    else if (c.close) this.problems.push(`${what} after close for id ${id}`);
    return c && !c.close ? c : null;
  }

  private tick(c: TapConn, time: number): void {
    if (!(time >= c.lastTime)) this.problems.push(`time went backwards on #${c.open.id}`);
    c.lastTime = time;
  }

  data(id: number, dir: Dir, bytes: Buffer, time: number): void {
    const c = this.get(id, 'data');
    if (!c) return;
    this.tick(c, time);
    if (c.ends.includes(dir)) this.problems.push(`data after end on #${id} ${dir}`);
    c.hash[dir].update(bytes);
    c.bytes[dir] += bytes.length;
    if (c.head[dir].length < 64) c.head[dir] = Buffer.concat([c.head[dir], bytes.subarray(0, 64 - c.head[dir].length)]);
    if (this.keepData) c.chunks[dir].push(Buffer.from(bytes));
    if (c.seq[c.seq.length - 1] !== dir) c.seq.push(dir);
    this.onData?.(id, dir, bytes);
  }

  end(id: number, dir: Dir, time: number): void {
    const c = this.get(id, 'end');
    if (!c) return;
    this.tick(c, time);
    if (c.ends.includes(dir)) this.problems.push(`end twice on #${id} ${dir}`);
    c.ends.push(dir);
    c.seq.push(`end${dir}`);
  }

  close(id: number, time: number, reason: string | null): void {
    const c = this.get(id, 'close');
    if (!c) return;
    this.tick(c, time);
    c.close = { time, reason };
    c.seq.push('close');
    c.digest = { '>': c.hash['>'].digest('hex'), '<': c.hash['<'].digest('hex') };
    (c as unknown as { resolve: () => void }).resolve();
  }

  /** Resolves with the next connection opened (or an already open one matching). */
  nextOpen(): Promise<TapConn> {
    return new Promise((r) => this.openWaiters.push(r));
  }

  async allClosed(): Promise<void> {
    await Promise.all([...this.conns.values()].map((c) => c.closed));
  }
}

/** Deterministic PRNG (mulberry32): the benchmarks' own. */
export { prng as rng } from '../../src/bench/synthetic-session.js';

const POOL = randomBytes(8 << 20);

/** A random write size: mostly 1 B–64 KiB, sometimes up to 256 KiB, sometimes tiny. */
function writeSize(r: () => number): number {
  const x = r();
  if (x < 0.1) return 1 + Math.floor(r() * 16);
  if (x < 0.8) return 1 + Math.floor(r() * 65536);
  return 65536 + Math.floor(r() * 196608);
}

/**
 * Writes `total` random bytes to sock in random-sized writes (respecting its
 * backpressure), starting with `label` (counted in total), then ends it.
 * Resolves with the SHA-256 of everything written.
 */
export async function writeRandom(sock: net.Socket, total: number, r: () => number, label?: Buffer): Promise<string> {
  const h = createHash('sha256');
  let sent = 0;
  if (label) {
    h.update(label);
    sent += label.length;
    if (!sock.write(label)) await once(sock, 'drain');
  }
  while (sent < total) {
    const n = Math.min(total - sent, writeSize(r));
    const off = Math.floor(r() * (POOL.length - n));
    const chunk = POOL.subarray(off, off + n);
    h.update(chunk);
    sent += n;
    if (!sock.write(chunk)) await once(sock, 'drain');
  }
  sock.end();
  return h.digest('hex');
}

/** Reads sock to EOF; resolves with the SHA-256, the byte count and the first 64 bytes. */
export function readAll(sock: net.Socket): Promise<{ hash: string; bytes: number; head: Buffer }> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    let bytes = 0;
    let head = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      h.update(d);
      bytes += d.length;
      if (head.length < 64) head = Buffer.concat([head, d.subarray(0, 64 - head.length)]);
    });
    sock.once('end', () => resolve({ hash: h.digest('hex'), bytes, head }));
    sock.once('error', reject);
  });
}

export function sha256(b: Buffer | string): string {
  return createHash('sha256').update(b).digest('hex');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Resolves when the socket has closed (or at once if it already has). */
export function closed(sock: net.Socket): Promise<void> {
  if (sock.closed) return Promise.resolve();
  return new Promise((r) => sock.once('close', () => r()));
}

/** Resolves when the peer is gone: EOF, error or close (an allowHalfOpen socket does not close on EOF by itself). */
export function hungUp(sock: net.Socket): Promise<string> {
  if (sock.closed) return Promise.resolve('close');
  if (sock.readableEnded) return Promise.resolve('end');
  return new Promise((r) => {
    sock.once('end', () => r('end'));
    sock.once('error', (e: NodeJS.ErrnoException) => r(e.code ?? 'error'));
    sock.once('close', () => r('close'));
    sock.resume();
  });
}

/** Connects to a unix path or tcp host:port with allowHalfOpen. */
export async function connect(to: { path: string } | { host: string; port: number }): Promise<net.Socket> {
  const s = net.createConnection({ ...to, allowHalfOpen: true });
  await once(s, 'connect');
  return s;
}

/** Rejects after ms with a message (for bounding waits in tests). */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<T>((_, rej) => (t = setTimeout(() => rej(new Error(`timed out after ${ms} ms: ${what}`)), ms))),
  ]);
}
