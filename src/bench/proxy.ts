// Proxy benchmark: round-trip latency (p50, p99) and throughput for a direct
// connection, through socat (when installed) and through ipc-trace, in one
// run; and ipc-trace's peak RSS over a long session.
//
// An echo server (child process) answers every message; the client sends
// real Cap'n Proto frames (from the bundled captures) one at a time for
// latency, and back to back for throughput.

import { spawnSync, ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../decoder/sources.js';
import { ECHO_SERVER, frames, pct, roundTrips, startChild } from './relay-client.js';

const dir = mkdtempSync(join(tmpdir(), 'ipc-trace-bench-'));
const main = join(PACKAGE_ROOT, 'dist', 'cli', 'main.js');

async function throughput(path: string, msgs: Buffer[], totalBytes: number): Promise<number> {
  const sock = net.createConnection(path);
  await new Promise<void>((r) => sock.once('connect', () => r()));
  const block = Buffer.concat(Array.from({ length: 64 }, (_, i) => msgs[i % msgs.length]!));
  let received = 0;
  const t0 = process.hrtime.bigint();
  const done = new Promise<void>((r) =>
    sock.on('data', (d: Buffer) => {
      received += d.length;
      if (received >= totalBytes) r();
    }),
  );
  let sent = 0;
  while (sent < totalBytes) {
    const chunk = block.subarray(0, Math.min(block.length, totalBytes - sent));
    sent += chunk.length;
    if (!sock.write(chunk)) await new Promise((r) => sock.once('drain', r));
  }
  await done;
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  sock.destroy();
  return received / secs / 1e6;
}

function rssKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

async function main_(): Promise<void> {
  const msgs = frames();
  const echoSock = join(dir, 'echo.sock');
  const echo = await startChild(process.execPath, ['-e', ECHO_SERVER, echoSock], 'ipc');
  const routes: { name: string; path: string; proc?: ChildProcess }[] = [{ name: 'direct', path: echoSock }];
  const hasSocat = spawnSync('sh', ['-c', 'command -v socat']).status === 0;
  if (hasSocat) {
    const p = join(dir, 'socat.sock');
    routes.push({ name: 'socat', path: p, proc: await startChild('socat', [`UNIX-LISTEN:${p},fork`, `UNIX-CONNECT:${echoSock}`], 'socket', p) });
  }
  const tracePath = join(dir, 'trace.sock');
  const trace = await startChild(process.execPath, [main, '--listen', tracePath, '--connect', echoSock, '--db', join(dir, 'bench.sqlite'), '--log', join(dir, 'bench.log'), '--no-tui'], 'stderr');
  routes.push({ name: 'ipc-trace', path: tracePath, proc: trace });

  const N = Number(process.env.BENCH_ROUNDTRIPS ?? 5000);
  const MB = Number(process.env.BENCH_MB ?? 100);
  console.log(`ipc-trace proxy benchmark — Node ${process.version}; ${N} round trips of real frames (${msgs.length} distinct, ${Math.min(...msgs.map((m) => m.length))}-${Math.max(...msgs.map((m) => m.length))} bytes); ${MB} MB streamed`);
  if (!hasSocat) console.log('(socat not installed: apt-get install socat to compare)');
  console.log(`${'route'.padEnd(10)} ${'p50 us'.padStart(9)} ${'p99 us'.padStart(9)} ${'added p50'.padStart(10)} ${'MB/s'.padStart(8)}`);
  let directP50 = 0;
  for (const r of routes) {
    await roundTrips(r.path, msgs, 500); // warm-up
    const lat = await roundTrips(r.path, msgs, N);
    const mbps = await throughput(r.path, msgs, MB * 1e6);
    const p50 = pct(lat, 50);
    if (r.name === 'direct') directP50 = p50;
    console.log(
      `${r.name.padEnd(10)} ${p50.toFixed(1).padStart(9)} ${pct(lat, 99).toFixed(1).padStart(9)} ${(r.name === 'direct' ? '' : '+' + (p50 - directP50).toFixed(1)).padStart(10)} ${mbps.toFixed(1).padStart(8)}`,
    );
  }

  // Long session: keep streaming through ipc-trace and sample its memory.
  const rounds = Number(process.env.BENCH_LONG_ROUNDS ?? 10);
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) {
    await throughput(tracePath, msgs, 50e6);
    await roundTrips(tracePath, msgs, 200);
    samples.push(rssKb(trace.pid!, 'VmRSS'));
  }
  console.log(
    `ipc-trace over a long session (${rounds} x 50 MB + ${rounds * 200} round trips): RSS ${samples.map((k) => (k / 1024).toFixed(0)).join(' ')} MB; peak RSS ${(rssKb(trace.pid!, 'VmHWM') / 1024).toFixed(0)} MB`,
  );
  for (const r of routes) r.proc?.kill('SIGINT');
  echo.kill();
  await new Promise((r) => setTimeout(r, 500));
  rmSync(dir, { recursive: true, force: true });
}

main_().catch((e) => {
  console.error(`bench failed: ${(e as Error).message}`);
  process.exit(1);
});
