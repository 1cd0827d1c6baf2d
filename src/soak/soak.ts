// The reliability suite (`npm run soak`, `npm run soak -- --short` in CI,
// `--only=2,3` for some of the steps):
// bounded in time and count, prints its figures, exits non-zero when an
// outcome (not a speed) is wrong: a relayed byte that differs, drop figures
// that do not add up, a stop that never finishes, a storage failure reported
// more than once.
//
//   1. recording rate across 10^6 messages (10^5 short) of many short
//      connections replaying real captures, in-process on one core, per segment;
//      then replay speed of the database it wrote (the CLI, against the goal);
//   2. the live proxy under concurrent load with malformed frames mixed in:
//      byte-exact relay, RSS over time, recorded / skipped / dropped and
//      whether the gaps add up, time to stop on SIGTERM;
//   3. SIGKILL with 32 busy connections: how much recording was lost;
//   4. disk full (a 2 MB tmpfs when run as root, else a file size limit);
//   5. the database size of a demo session against its raw wire bytes;
//   6. a clean stop (SIGTERM) under load: 32 busy connections still sending,
//      with `--busy=N` extra busy-looping processes on the machine (`--busy-own=N`: in the proxy's own session,
//      which starves the niced recording worker); how long it took and where the time went (the proxy's
//      IPC_TRACE_STOP_TIMES line: the worker's phases, or the takeover's when the proxy's own thread had to end
//      the database without the worker, src/store/takeover.ts), whether the database ended and by whom
//      (meta.recording_cut), and whether the gaps account for the rest.

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { PACKAGE_ROOT } from '../decoder/sources.js';
import { recordingRate, replayCliFigures } from './record-rate.js';
import { boundHeapGrowth } from '../cli/heap.js';
import { captureFrames, memoryMb, pump, startEcho, startProxy } from './traffic.js';

const SHORT = process.argv.includes('--short');
const dir = mkdtempSync(join(tmpdir(), 'ipt-soak-'));
const main = join(PACKAGE_ROOT, 'dist/cli/main.js');
const problems: string[] = [];
const check = (ok: boolean, what: string) => {
  if (!ok) problems.push(what);
  return ok ? 'ok' : 'FAILED';
};
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

function recording(): string {
  boundHeapGrowth(); // as the CLI runs the recorder
  const total = SHORT ? 100_000 : 1_000_000;
  const db = join(dir, 'rate.sqlite');
  const r = recordingRate(db, total);
  console.log(`1. recording rate, in-process on one core: ${fmt(r.messages)} messages in ${fmt(r.conns)} connections (captures replayed)`);
  console.log(`   messages/s per ${fmt(total / 10)}: ${r.rates.map(fmt).join(' ')}`);
  console.log(`   per CPU second:        ${r.cpuRates.map(fmt).join(' ')}`);
  console.log(`   first ${fmt(r.rates[0]!)}/s, last ${fmt(r.rates[r.rates.length - 1]!)}/s (ratio ${(r.rates[r.rates.length - 1]! / r.rates[0]!).toFixed(2)}); RSS ${r.rss.map((m) => m.toFixed(0)).join(' ')} MB`);
  console.log(`   database ${(r.dbBytes / 1e6).toFixed(1)} MB for ${(r.wireBytes / 1e6).toFixed(1)} MB of wire bytes (${(r.dbBytes / r.wireBytes).toFixed(2)}x)`);
  return db;
}

function replayRate(db: string): void {
  const r = replayCliFigures(db, 3);
  for (const l of r.lines) console.log(`   ${l}`);
  check(r.ok, 'replay failed');
}

interface DbFigures {
  chunkBytes: number;
  gapBytes: number;
  conns: number;
  meta: Record<string, string>;
  lastChunk: number;
  wireBytes: number;
}

function dbFigures(db: string): DbFigures {
  const d = new Database(db, { readonly: true });
  const chunkBytes = d.prepare('SELECT coalesce(sum(size), 0) FROM chunk_blocks').pluck().get() as number;
  const gapBytes = d.prepare("SELECT coalesce(sum(bytes), 0) FROM stream_events WHERE kind IN ('gap', 'gap+')").pluck().get() as number;
  const conns = d.prepare('SELECT count(*) FROM connections').pluck().get() as number;
  const lastChunk = (d.prepare('SELECT max(last_time) FROM chunk_blocks').pluck().get() as number | null) ?? 0;
  const meta = Object.fromEntries((d.prepare('SELECT key, value FROM meta').all() as { key: string; value: string }[]).map((r) => [r.key, r.value]));
  d.close();
  return { chunkBytes, gapBytes, conns, meta, lastChunk, wireBytes: chunkBytes };
}

/** Stops the proxy with SIGTERM; returns how long it took (ms). */
async function stopProxy(p: Awaited<ReturnType<typeof startProxy>>): Promise<{ ms: number; code: number | null }> {
  const t0 = now();
  p.proc.kill('SIGTERM');
  const timeout = sleep(30000).then(() => null);
  const r = await Promise.race([p.exited, timeout]);
  if (!r) {
    p.proc.kill('SIGKILL');
    return { ms: Infinity, code: null };
  }
  return { ms: now() - t0, code: r.code };
}

async function liveLoad(): Promise<void> {
  const seconds = SHORT ? 8 : 60;
  const clients = 8;
  const echoPath = join(dir, 'echo.sock');
  const echo = await startEcho(echoPath);
  const proxyPath = join(dir, 'proxy.sock');
  const db = join(dir, 'live.sqlite');
  const p = await startProxy(proxyPath, echoPath, db);
  const frames = [...captureFrames('cli-01'), ...captureFrames('template-01')];
  const end = now() + seconds * 1000;
  const rss: number[] = [];
  const sampler = setInterval(() => rss.push(memoryMb(p.proc.pid!).rss), 1000);
  let conns = 0;
  let exact = true;
  let bytes = 0;
  let messages = 0;
  // Half the clients open short connections back to back, half keep one long connection with malformed frames mixed in.
  await Promise.all(
    Array.from({ length: clients }, async (_, i) => {
      if (i % 2 === 0) {
        while (now() < end) {
          const r = await pump(proxyPath, frames, { count: 20 });
          conns++;
          exact &&= r.exact;
          bytes += r.sent * 2;
          messages += r.messages * 2;
        }
      } else {
        const r = await pump(proxyPath, frames, { until: () => now() >= end, garbage: i === 1 });
        conns++;
        exact &&= r.exact;
        bytes += r.sent * 2;
        messages += r.messages * 2;
      }
    }),
  );
  clearInterval(sampler);
  const peak = memoryMb(p.proc.pid!).peak;
  const stop = await stopProxy(p);
  echo.close();
  const f = dbFigures(db);
  const dropped = Number(f.meta.dropped_bytes ?? 0);
  const skippedBytes = Number(f.meta.skipped_bytes ?? 0);
  console.log(`2. live proxy, ${clients} clients for ${seconds} s (short connections; long ones, one with malformed frames): ${fmt(conns)} connections, ${fmt(messages)} messages, ${(bytes / 1e6).toFixed(0)} MB relayed`);
  console.log(`   relay byte-exact: ${exact} ${check(exact, 'live load: relayed bytes differ')}`);
  console.log(`   RSS ${rss.map((m) => m.toFixed(0)).join(' ')} MB; peak ${peak.toFixed(0)} MB`);
  console.log(
    `   recorded ${fmt(f.conns)} connections, ${(f.chunkBytes / 1e6).toFixed(1)} MB; skipped ${fmt(Number(f.meta.skipped_connections ?? 0))} connections; dropped ${(dropped / 1e6).toFixed(1)} MB = gaps ${(f.gapBytes / 1e6).toFixed(1)} + skipped ${(skippedBytes / 1e6).toFixed(1)} ${check(dropped === f.gapBytes + skippedBytes, 'live load: drop figures do not add up')}`,
  );
  console.log(`   recorded + dropped = relayed: ${fmt(f.chunkBytes + dropped)} of ${fmt(bytes)} bytes ${check(f.chunkBytes + dropped === bytes, 'live load: recorded + dropped != relayed')}`);
  console.log(`   SIGTERM to exit: ${stop.ms.toFixed(0)} ms (exit ${stop.code}) ${check(stop.code === 0 && stop.ms < 5000, 'live load: stop did not finish')}; ended: ${f.meta.ended ? 'yes' : 'NO'} ${check(!!f.meta.ended, 'live load: no ended')}`);
}

async function sigkill(): Promise<void> {
  const seconds = SHORT ? 3 : 10;
  const echoPath = join(dir, 'echo2.sock');
  const echo = await startEcho(echoPath);
  const proxyPath = join(dir, 'proxy2.sock');
  const db = join(dir, 'kill.sqlite');
  const p = await startProxy(proxyPath, echoPath, db);
  const frames = captureFrames('template-01');
  let stop = false;
  const runs = Array.from({ length: 32 }, () => pump(proxyPath, frames, { until: () => stop, window: 64 * 1024 }).catch(() => null));
  await sleep(seconds * 1000);
  const killedAt = now();
  p.proc.kill('SIGKILL');
  stop = true;
  await p.exited;
  const rs = await Promise.all(runs);
  echo.close();
  const sent = rs.reduce((a, r) => a + (r ? r.received * 2 : 0), 0);
  const f = dbFigures(db);
  // What the database does not account for (neither recorded nor in a gap) was lost with the process.
  const unaccounted = Math.max(0, sent - f.chunkBytes - f.gapBytes);
  const rate = sent / (seconds * 1000);
  console.log(`3. SIGKILL after ${seconds} s with 32 busy connections: ${(sent / 1e6).toFixed(0)} MB relayed, ${(f.chunkBytes / 1e6).toFixed(1)} MB recorded, ${(f.gapBytes / 1e6).toFixed(1)} MB in gaps`);
  console.log(`   lost with the process: ${(unaccounted / 1e6).toFixed(2)} MB ≈ the last ${(unaccounted / rate).toFixed(0)} ms of traffic; last chunk ${(killedAt - f.lastChunk).toFixed(0)} ms before the kill; database readable: ${f.conns} connections`);
}

async function diskFull(): Promise<void> {
  const seconds = SHORT ? 5 : 20;
  const mnt = join(dir, 'tiny');
  mkdirSync(mnt);
  let how = 'a 2 MB tmpfs';
  let prefix: string | undefined;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt], { stdio: 'ignore' });
  } catch {
    how = 'a 2 MB file size limit (not root: no tmpfs)';
    prefix = "trap '' XFSZ; ulimit -f 2048";
  }
  try {
    const echoPath = join(dir, 'echo3.sock');
    const echo = await startEcho(echoPath);
    const proxyPath = join(dir, 'proxy3.sock');
    const db = join(mnt, 'full.sqlite');
    const p = await startProxy(proxyPath, echoPath, db, [], prefix);
    const frames = captureFrames('template-01');
    const end = now() + seconds * 1000;
    const rs = await Promise.all(Array.from({ length: 4 }, () => pump(proxyPath, frames, { until: () => now() >= end })));
    const stop = await stopProxy(p);
    echo.close();
    const exact = rs.every((r) => r.exact);
    const relayed = rs.reduce((a, r) => a + r.sent * 2, 0);
    const reports = p.stderr().split('\n').filter((l) => l.includes('recording stopped')).length;
    let meta: Record<string, string> = {};
    try {
      meta = dbFigures(db).meta;
    } catch (e) {
      meta = { unreadable: (e as Error).message };
    }
    console.log(`4. disk full (${how}), 4 clients for ${seconds} s: ${(relayed / 1e6).toFixed(0)} MB relayed, byte-exact ${exact} ${check(exact, 'disk full: relay not exact')}`);
    console.log(`   reported ${reports} time(s) ${check(reports === 1, 'disk full: not reported exactly once')}; SIGTERM to exit ${stop.ms.toFixed(0)} ms (exit ${stop.code}) ${check(stop.code === 0 && stop.ms < 5000, 'disk full: stop did not finish')}`);
    console.log(`   meta.recording_error: ${meta.recording_error ?? '(none)'}${prefix ? '' : ' ' + check(!!meta.recording_error, 'disk full: not in meta')}; ended: ${meta.ended ? 'yes' : 'no'}`);
  } finally {
    if (!prefix) spawnSync('umount', [mnt]);
  }
}

function demoSize(): void {
  const db = join(dir, 'demo.sqlite');
  const r = spawnSync(process.execPath, [main, 'demo', '--duration', SHORT ? '5' : '15', '--db', db, '--no-tui'], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 120000 });
  if (r.status !== 0) {
    console.log(`5. demo session: exit ${r.status} ${check(false, 'demo failed')}: ${r.stderr.toString().trim().split('\n').pop()}`);
    return;
  }
  const f = dbFigures(db);
  const size = statSync(db).size;
  console.log(`5. demo session database: ${(size / 1024).toFixed(0)} KB for ${(f.wireBytes / 1024).toFixed(0)} KB of wire bytes (${(size / Math.max(1, f.wireBytes)).toFixed(1)}x)`);
}

const numberOption = (name: string) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? 0);

/** Extra load for step 6: `--busy=N` processes spinning at the proxy's own priority, in a session of their own (other programs on the machine). */
function busyLoops(): { stop: () => void; n: number } {
  const n = numberOption('busy');
  const procs = Array.from({ length: n }, () => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore', detached: true }));
  return { n, stop: () => procs.forEach((p) => p.kill('SIGKILL')) };
}

/**
 * `--busy-own=N`: processes spinning in the proxy's own session (as the
 * programs `ipc-trace exec` runs are), started by the shell that then becomes
 * the proxy; the kernel's autogroup shares CPU between sessions, so this is
 * the load that competes with the recording worker most.
 */
const BUSY_OWN = numberOption('busy-own');
const busyOwnPrefix = () => (BUSY_OWN > 0 ? Array.from({ length: BUSY_OWN }, () => `"$0" -e 'for (;;) {}' &`).join(' ') + ' true' : undefined);

async function stopUnderLoad(): Promise<void> {
  const seconds = SHORT ? 3 : 8;
  const echoPath = join(dir, 'echo6.sock');
  const echo = await startEcho(echoPath);
  const proxyPath = join(dir, 'proxy6.sock');
  const db = join(dir, 'stop.sqlite');
  process.env.IPC_TRACE_STOP_TIMES = '1';
  // In a session of its own, as a user runs it in its own terminal: its peers (here this process) are other programs.
  const p = await startProxy(proxyPath, echoPath, db, [], busyOwnPrefix(), true);
  delete process.env.IPC_TRACE_STOP_TIMES;
  const busy = busyLoops();
  try {
    const frames = captureFrames('template-01');
    let stop = false;
    const runs = Array.from({ length: 32 }, () => pump(proxyPath, frames, { until: () => stop, window: 64 * 1024 }).catch(() => null));
    await sleep(seconds * 1000);
    const load = loadavg()[0]!;
    const s = await stopProxy(p);
    stop = true;
    const rs = await Promise.all(runs);
    const received = rs.reduce((a, r) => a + (r ? r.received : 0), 0);
    const sent = rs.reduce((a, r) => a + (r ? r.sent : 0), 0);
    const f = dbFigures(db);
    const dropped = Number(f.meta.dropped_bytes ?? 0);
    const skippedBytes = Number(f.meta.skipped_bytes ?? 0);
    const accounted = f.chunkBytes + dropped;
    const phases = `${/stopped in (.*)/.exec(p.stderr())?.[1] ?? '(no report)'}; exiting ${/exiting (\d+) ms/.exec(p.stderr())?.[1] ?? '?'} ms after the stop began`;
    console.log(`6. SIGTERM with 32 busy connections after ${seconds} s, ${busy.n} extra busy loop(s)${BUSY_OWN ? ` and ${BUSY_OWN} in its own session` : ''}, load ${load.toFixed(1)}: ${s.ms.toFixed(0)} ms to exit (exit ${s.code}) ${check(s.code === 0, 'stop under load: bad exit')}`);
    console.log(`   proxy's own account: ${phases}`);
    // What it said about its recording thread (a takeover, a worker that did not finish).
    for (const l of p.stderr().split('\n')) if (/recording (thread|worker)/.test(l)) console.log(`   proxy: ${l.replace(/^ipc-trace: /, '')}`);
    console.log(`   ended: ${f.meta.ended ? (f.meta.recording_cut ? 'yes, by the takeover' : 'yes') : 'NO'} ${check(!!f.meta.ended, 'stop under load: no ended')}; recorded ${(f.chunkBytes / 1e6).toFixed(1)} MB, dropped ${(dropped / 1e6).toFixed(1)} MB = gaps ${(f.gapBytes / 1e6).toFixed(1)} + skipped ${(skippedBytes / 1e6).toFixed(1)} ${check(dropped === f.gapBytes + skippedBytes, 'stop under load: drop figures do not add up')}`);
    // Every byte echoed back crossed the relay twice; no more than was sent can have crossed it.
    console.log(`   recorded + dropped ${fmt(accounted)} bytes, between 2 × received ${fmt(2 * received)} and 2 × sent ${fmt(2 * sent)} ${check(accounted >= 2 * received && accounted <= 2 * sent, 'stop under load: recorded + dropped outside what was relayed')}`);
  } finally {
    busy.stop();
    // The proxy led its session's process group: what it left spinning there goes with it.
    if (BUSY_OWN > 0) {
      try {
        process.kill(-p.proc.pid!, 'SIGKILL');
      } catch {
        // none left
      }
    }
    echo.close();
  }
}

async function run(): Promise<void> {
  console.log(`ipc-trace soak${SHORT ? ' (short)' : ''} — Node ${process.version}, ${new Date().toISOString()}`);
  const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7).split(',');
  const step = (n: string) => !only || only.includes(n);
  if (step('1')) replayRate(recording());
  if (step('2')) await liveLoad();
  if (step('3')) await sigkill();
  if (step('4')) await diskFull();
  if (step('5')) demoSize();
  if (step('6')) await stopUnderLoad();
  rmSync(dir, { recursive: true, force: true });
  if (problems.length) {
    console.log(`soak: ${problems.length} problem(s): ${problems.join('; ')}`);
    process.exit(1);
  }
  console.log('soak: every outcome as expected');
}

run().catch((e) => {
  console.error(`soak failed: ${(e as Error).stack ?? e}`);
  rmSync(dir, { recursive: true, force: true });
  process.exit(1);
});
