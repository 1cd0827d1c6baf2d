// The benchmarks' relay client: real Cap'n Proto frames from a bundled
// capture, an echo server, and round trips timed one message at a time.

import { spawn, ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { parseHexlog } from '../decoder/hexlog.js';
import { Framer } from '../decoder/framer.js';
import { PACKAGE_ROOT } from '../decoder/sources.js';

/** Whole frames of a real capture, client to server. */
export function frames(): Buffer[] {
  const h = parseHexlog(readFileSync(join(PACKAGE_ROOT, 'test/fixtures/captures/template-01.hexlog'), 'latin1'));
  const f = new Framer();
  const out: Buffer[] = [];
  for (const c of h.chunks) if (c.dir === '>') for (const e of f.push(c.bytes)) if (e.kind === 'frame') out.push(Buffer.from(e.frame.bytes));
  return out;
}

export const ECHO_SERVER = `
const net = require('net');
const s = net.createServer((c) => c.pipe(c));
s.listen(process.argv[1], () => process.send('ready'));
`;

/** Resolves once a Unix socket at `path` accepts a connection (polled every 20 ms). */
export function accepting(path: string): Promise<void> {
  return new Promise((resolve) => {
    const poll = () => {
      const c = net.createConnection(path);
      c.once('connect', () => {
        c.destroy();
        resolve();
      });
      c.once('error', () => setTimeout(poll, 20));
    };
    poll();
  });
}

export function startChild(cmd: string, args: string[], readyOn: 'ipc' | 'stderr' | 'socket', sock?: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe', ...(readyOn === 'ipc' ? (['ipc'] as const) : [])] });
    p.once('error', reject);
    if (readyOn === 'ipc') p.once('message', () => resolve(p));
    else if (readyOn === 'stderr') {
      let err = '';
      p.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        if (err.includes('listening on')) resolve(p);
      });
    } else void accepting(sock!).then(() => resolve(p));
    p.once('exit', (code) => reject(new Error(`${cmd} exited (${code})`)));
  });
}

export async function roundTrips(path: string, msgs: Buffer[], n: number): Promise<number[]> {
  const sock = net.createConnection(path);
  await new Promise<void>((r) => sock.once('connect', () => r()));
  sock.setNoDelay(true);
  const lat: number[] = [];
  let pending = 0;
  let waiting: (() => void) | null = null;
  sock.on('data', (d: Buffer) => {
    pending -= d.length;
    if (pending <= 0 && waiting) waiting();
  });
  for (let i = 0; i < n; i++) {
    const m = msgs[i % msgs.length]!;
    const t0 = process.hrtime.bigint();
    pending = m.length;
    await new Promise<void>((r) => {
      waiting = r;
      sock.write(m);
    });
    lat.push(Number(process.hrtime.bigint() - t0) / 1e3);
  }
  sock.destroy();
  return lat;
}

export function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

