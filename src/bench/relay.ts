// Relay benchmark against real C++ Cap'n Proto peers: an echo server and a
// client (test/system/peers/echo-peer.c++, built here with the system's
// libcapnp-dev) talk directly, through socat and through ipc-trace (recording
// with the echo schema), in alternating rounds of one run. Prints, per route,
// the median over rounds of p50 and p99 call latency (100-byte payloads,
// sequential calls) and calls/s with 32 in flight, and what socat and ipc-trace
// add to the direct route; ipc-trace runs four times: recording (with the
// native relay pump when it is built: src/proxy/pump.ts), recording with the
// JavaScript relay forced (IPC_TRACE_RELAY=js), recording with --intercept and
// no rule, and with a thread: rule that matches nothing (each Call waits for
// its names); for each, the CPU time its main thread, its pump thread and the
// whole process used per 1,000 calls (steadier than wall-clock figures on a
// busy machine).
//
// BENCH_COMPARE adds recording routes to the same rounds, to compare builds or
// V8 flags side by side: a JSON list of {"name", "main"?: another build's
// dist/cli/main.js, "node"?: [node flags], "relay"?: IPC_TRACE_RELAY, "env"?: {more
// environment}}, e.g.
// BENCH_COMPARE='[{"name":"old","main":"/tmp/old/dist/cli/main.js"},{"name":"semi4","node":["--max-semi-space-size=4"]}]'.
// BENCH_ROUTES keeps only the ipc-trace routes named (comma-separated; direct
// and socat always run), e.g. BENCH_ROUTES=ipc-trace,old for a quicker run.

import { spawn, spawnSync, ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { accepting } from './relay-client.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../decoder/sources.js';
import { buildEchoPeer, echoPeerMissing, runEchoClient, EchoFigures, ECHO_SCHEMA } from './echo-peer.js';
import { statCpuMs, statFields } from '../proxy/proc-stat.js';

const CALLS = Number(process.env.BENCH_CALLS ?? 5000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const IN_FLIGHT = 32;
const PAYLOAD = 100;

function waitForSocket(path: string, proc: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`${proc.spawnfile} exited (${code})`)));
    void accepting(path).then(resolve);
  });
}

/** The native relay pump's thread in a process (named by native/pump/pump.cc), if it has one. */
function pumpThread(pid: number): number | null {
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      if (readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim() === 'ipc-trace-pump') return Number(t);
    } catch {
      // the thread ended
    }
  }
  return null;
}

interface Cpu {
  /** The main thread (the JavaScript relay's, or the one taking the pump's copies). */
  main: number;
  pump: number;
  all: number;
}

/** CPU time (ms) of a process's main thread, its pump thread and all its threads, from /proc (10 ms steps). */
function cpuMs(pid: number): Cpu {
  const pt = pumpThread(pid);
  return {
    main: statCpuMs(`/proc/${pid}/task/${pid}/stat`) ?? 0,
    pump: pt === null ? 0 : statCpuMs(`/proc/${pid}/task/${pt}/stat`) ?? 0,
    all: statCpuMs(`/proc/${pid}/stat`) ?? 0,
  };
}

/** CPU time (ms) of a process and of the children it has waited for (socat forks one per connection). */
function withChildrenCpuMs(pid: number): number {
  const f = statFields(`/proc/${pid}/stat`);
  return f ? (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * 10 : 0;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const missing = echoPeerMissing();
  if (missing) {
    console.log(`relay benchmark skipped: ${missing} not installed (apt-get install capnproto libcapnp-dev g++ pkg-config)`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'ipc-trace-relay-bench-'));
  const procs: ChildProcess[] = [];
  try {
    const bin = buildEchoPeer(dir);
    const up = join(dir, 'up.sock');
    const server = spawn(bin, ['server', up], { stdio: 'ignore' });
    procs.push(server);
    await waitForSocket(up, server);
    const routes: { name: string; path: string }[] = [{ name: 'direct', path: up }];
    let socatPid: number | null = null;
    if (spawnSync('sh', ['-c', 'command -v socat']).status === 0) {
      const p = join(dir, 'socat.sock');
      const socat = spawn('socat', [`UNIX-LISTEN:${p},fork`, `UNIX-CONNECT:${up}`], { stdio: 'ignore' });
      procs.push(socat);
      await waitForSocket(p, socat);
      routes.push({ name: 'socat', path: p });
      socatPid = socat.pid!;
    } else console.log('(socat not installed: apt-get install socat to compare)');
    const pids = new Map<string, number>();
    // ipc-trace as it records; with --intercept and no rule (the interceptor frames every connection, ready for rules);
    // with a rule that needs names and matches nothing (every Call waits for the recording worker's names).
    const relays = new Map<string, string>();
    const compare = JSON.parse(process.env.BENCH_COMPARE ?? '[]') as { name: string; main?: string; node?: string[]; relay?: string; env?: Record<string, string> }[];
    const traced: { name: string; extra: string[]; relay: string; main?: string; node?: string[]; env?: Record<string, string> }[] = [
      { name: 'ipc-trace', extra: [], relay: '' },
      { name: 'ipc-trace-js', extra: [], relay: 'js' },
      ...compare.map((c) => ({ extra: [], relay: '', ...c })),
      { name: 'intercept', extra: ['--intercept'], relay: '' },
      { name: 'thread-rule', extra: ['--hold', 'thread:no-such-thread'], relay: '' },
    ];
    const only = process.env.BENCH_ROUTES ? new Set(process.env.BENCH_ROUTES.split(',')) : null;
    for (const { name, extra, relay, main: mainJs, node, env } of traced.filter((t) => !only || only.has(t.name))) {
      const tp = join(dir, `${name}.sock`);
      const trace = spawn(
        process.execPath,
        [...(node ?? []), mainJs ?? join(PACKAGE_ROOT, 'dist/cli/main.js'), '--listen', tp, '--connect', up, '--db', join(dir, `${name}.sqlite`), '--log', join(dir, `${name}.log`), '--schema', ECHO_SCHEMA, '--no-tui', ...extra],
        { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, IPC_TRACE_RELAY: relay, ...env } },
      );
      // The banner says which relay runs.
      let err = '';
      trace.stderr!.on('data', (d: Buffer) => {
        if (relays.has(name)) return;
        err += d.toString();
        const m = /\(relay: (.*?)\), recording/.exec(err);
        if (m && !relays.has(name)) relays.set(name, m[1]!);
      });
      procs.push(trace);
      await waitForSocket(tp, trace);
      routes.push({ name, path: tp });
      pids.set(name, trace.pid!);
    }

    console.log(`relays: ${[...relays].map(([k, v]) => `${k} ${v}`).join('; ')}`);
    console.log(`relay benchmark — C++ Cap'n Proto echo peers over Unix sockets, ${PAYLOAD}-byte payloads; ${CALLS} sequential calls (latency) and ${CALLS} with ${IN_FLIGHT} in flight (calls/s); ${ROUNDS} alternating rounds, medians`);
    const runs = new Map<string, EchoFigures[]>(routes.map((r) => [r.name, []]));
    /** CPU time (ms) of each ipc-trace process's main thread, pump thread and the whole process, over all its rounds. */
    const cpu = new Map<string, Cpu>([...pids.keys()].map((k) => [k, { main: 0, pump: 0, all: 0 }]));
    const socatBefore = socatPid ? withChildrenCpuMs(socatPid) : 0;
    for (let round = 0; round < ROUNDS; round++) {
      for (const r of routes) {
        const pid = pids.get(r.name);
        const before = pid ? cpuMs(pid) : null;
        const f = runEchoClient(bin, r.path, CALLS, IN_FLIGHT, PAYLOAD);
        if (!f.ok) throw new Error(`${r.name}: an echo came back different`);
        runs.get(r.name)!.push(f);
        if (pid && before) {
          const after = cpuMs(pid);
          const c = cpu.get(r.name)!;
          c.main += after.main - before.main;
          c.pump += after.pump - before.pump;
          c.all += after.all - before.all;
        }
      }
    }
    const direct = runs.get('direct')!;
    const d50 = median(direct.map((f) => f.p50));
    const d99 = median(direct.map((f) => f.p99));
    console.log(`${'route'.padEnd(11)} ${'p50 us'.padStart(8)} ${'p99 us'.padStart(8)} ${'+p50'.padStart(7)} ${'+p99'.padStart(7)} ${'calls/s'.padStart(8)}`);
    for (const r of routes) {
      const fs = runs.get(r.name)!;
      const p50 = median(fs.map((f) => f.p50));
      const p99 = median(fs.map((f) => f.p99));
      const add = (x: number, base: number) => (r.name === 'direct' ? '' : `+${(x - base).toFixed(0)}`);
      console.log(
        `${r.name.padEnd(11)} ${p50.toFixed(1).padStart(8)} ${p99.toFixed(1).padStart(8)} ${add(p50, d50).padStart(7)} ${add(p99, d99).padStart(7)} ${median(fs.map((f) => f.rate)).toFixed(0).padStart(8)}`,
      );
    }
    const calls = 2 * CALLS * ROUNDS;
    const per = (ms: number) => (ms / calls * 1000).toFixed(1);
    if (socatPid) {
      await new Promise((r) => setTimeout(r, 300)); // socat reaps its last per-connection child
      console.log(`CPU per 1,000 calls: socat ${per(withChildrenCpuMs(socatPid) - socatBefore)} ms (its per-connection children included)`);
    }
    console.log(`CPU per 1,000 calls (sequential + in flight): ${[...cpu].map(([k, c]) => `${k} main thread ${per(c.main)} ms${c.pump > 0 ? `, pump thread ${per(c.pump)} ms` : ''}, process ${per(c.all)} ms`).join('; ')}`);
    console.log(`(per round: ${routes.map((r) => `${r.name} ${runs.get(r.name)!.map((f) => `${f.p50.toFixed(0)}/${f.p99.toFixed(0)}/${f.rate}`).join(' ')}`).join('; ')}  [p50/p99/calls/s])`);
  } finally {
    for (const p of procs) p.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`relay bench failed: ${(e as Error).message}`);
  process.exit(1);
});
