// Terminal UI benchmark (printed, not asserted), each figure against the goal
// of issue 9:
//  1. frame render time while a synthetic feed delivers 10,000 messages/s to
//     a live view: the UI's own path (ink rendering the screen as the UI
//     worker does, one frame per view notification), measured from the
//     notification to the frame written;
//  2. a recording of 1,000,000 calls (generated once), opened by the real
//     `ipc-trace replay DB` in a terminal (tmux): time from launch to the first
//     frame, to the whole index read, per filter (until the filtered window
//     shows, and until its match count is complete), and the process's RSS
//     (now and peak);
//  3. the relay's round-trip latency with the UI open against --no-tui: the
//     proxies run at once in tmux, to the same echo server, and are measured
//     in rotating rounds, so that the machine's load falls on each; the goal
//     is judged on the median over rounds of their ratio, printed beside the
//     same ratio of a second --no-tui proxy (the noise floor).
//
// Environment: BENCH_TUI_CALLS (default 1000000), BENCH_TUI_DB (reuse a
// generated recording, or generate it there), BENCH_TUI_LAUNCHES (first
// frames timed, default 3), BENCH_TUI_SECONDS (feed
// duration, default 8), BENCH_ROUNDTRIPS (per round, default 1000),
// BENCH_ROUNDS (default 30), BENCH_TUI_PARTS (default big,feed,relay),
// BENCH_TUI_FRAMES=1 (print every frame measured: pane, wall and CPU ms).

import '../tui/production.js';
import { execFileSync, spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import React from 'react';
import { render } from 'ink';
import chalk from 'chalk';
import { SessionReader } from '../store/reader.js';
import { SessionView } from '../tui/view.js';
import { Ui } from '../tui/ui.js';
import { Screen } from '../tui/app.js';
import { workerIndex } from '../tui/index-client.js';
import { writeSyntheticSession, syntheticCalls, syntheticLabels } from './synthetic-session.js';
import { emptyDelta, CallRow } from '../session/rows.js';
import { PACKAGE_ROOT } from '../decoder/sources.js';
import { ECHO_SERVER, frames, pct, roundTrips, startChild } from './relay-client.js';

const dir = mkdtempSync(join(tmpdir(), 'ipc-trace-bench-tui-'));
const W = 160;
const H = 48;
const MAIN = join(PACKAGE_ROOT, 'dist', 'cli', 'main.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const hasTmux = spawnSync('sh', ['-c', 'command -v tmux']).status === 0;

/** One figure against its goal: `name  value (goal …) met|SHORT`. */
function goal(name: string, value: number, unit: string, max: number, note = ''): void {
  const ok = value <= max;
  console.log(`  ${name.padEnd(58)} ${value.toFixed(unit === 'ms' || unit === 'MB' ? 0 : 2).padStart(8)} ${unit.padEnd(3)} (goal ≤ ${max} ${unit}) ${ok ? 'met' : 'SHORT'}${note ? '  ' + note : ''}`);
}

/** This thread's CPU time so far (ms), from the kernel's scheduler statistics (Linux), or NaN. */
function threadCpuMs(): number {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return NaN;
  }
}

/** The terminal as ink sees it in the UI worker: every write counted, the time of the last one kept. */
class Terminal extends EventEmitter {
  isTTY = true;
  columns = W;
  rows = H;
  bytes = 0;
  lastWrite = 0;
  lastWriteCpu = 0;
  write(data: string | Uint8Array): boolean {
    this.bytes += data.length;
    this.lastWrite = performance.now();
    this.lastWriteCpu = threadCpuMs();
    return true;
  }
}

/** 1. Frames while the feed delivers 10,000 messages/s (5,000 calls and 5,000 returns). */
async function feedBench(): Promise<void> {
  const seconds = Number(process.env.BENCH_TUI_SECONDS ?? 8);
  const path = join(dir, 'live.sqlite');
  writeSyntheticSession(path, { calls: 0 });
  const reader = SessionReader.open(path);
  // As the UI worker makes it (ui-worker.ts): live, a frame per 100 ms at most, the chains analysis in a worker.
  const view = new SessionView({ mode: 'live', reader, stuckMs: 5000, frameMs: 100, index: workerIndex(path) });
  const ui = new Ui(view, () => {});
  const term = new Terminal();
  // Colours as in a terminal (tmux: 256 colours), whatever this process's stdout is.
  chalk.level = 2;
  // A frame: from the view's notification (the first listener) to the last write of the frame.
  // Its CPU time too (this thread's): on a loaded machine the wall time also counts waiting for a core.
  const times: number[] = [];
  const cpu: number[] = [];
  let notified = -1;
  let notifiedCpu = 0;
  // The first second is left out: JavaScript is compiled as it runs, and the first frames are drawn by colder code.
  let measureFrom = Infinity;
  const closeFrame = () => {
    if (notified >= measureFrom && term.lastWrite > notified) {
      times.push(term.lastWrite - notified);
      cpu.push(term.lastWriteCpu - notifiedCpu);
      if (process.env.BENCH_TUI_FRAMES) console.log(`frame ${view.pane} wall ${(term.lastWrite - notified).toFixed(1)} cpu ${(term.lastWriteCpu - notifiedCpu).toFixed(1)}`);
    }
    notified = -1;
  };
  view.subscribe(() => {
    closeFrame();
    notified = performance.now();
    notifiedCpu = threadCpuMs();
  });
  const ink = render(React.createElement(Screen, { view, ui, width: W, height: H }), {
    stdout: term as unknown as NodeJS.WriteStream,
    stdin: new EventEmitter() as unknown as NodeJS.ReadStream,
    exitOnCtrlC: false,
    patchConsole: false,
    maxFps: 20,
    // As the UI worker: the view learns what a frame costs (and draws less often under heavy traffic).
    onRender: () => view.frameDrawn(),
  });
  const start = Date.now();
  const labels = syntheticLabels(start);
  view.ingest({ delta: { ...emptyDelta(), processes: labels.processes, threads: labels.threads, connections: [labels.conn] }, lines: [] });
  const gen = syntheticCalls({ calls: seconds * 5000 + 5000, rate: 5000, start, seed: 2 });
  let queue: CallRow[] = [];
  let waiting: CallRow[] = [];
  let messages = 0;
  let calls = 0;
  const ingestTimes: number[] = [];
  const feedStart = Date.now();
  measureFrom = performance.now() + 1000;
  // Every 10 ms, the calls due by then at 5,000 calls/s (each a Call and a Return message):
  // when a frame held the thread up, the next batch is bigger, as the feed queues up behind it.
  const feed = setInterval(() => {
    const due = Math.floor(((Date.now() - feedStart) / 1000) * 5000) - calls;
    if (due <= 0) return;
    while (queue.length < due) {
      const n = gen.next();
      if (n.done) break;
      queue.push(...n.value);
    }
    const now = Date.now();
    // Sent one after the other within the batch; returned in the next one.
    const sent = queue.splice(0, due).map((c, i) => ({ ...c, sent: now - 10 + (i * 10) / due, returned: null, status: 'pending' as const, results: null, finished: null }));
    const back = waiting.map((c) => ({ ...c, returned: now, finished: now, status: 'returned' as const }));
    waiting = sent;
    calls += sent.length;
    const t0 = performance.now();
    view.ingest({ delta: { ...emptyDelta(), calls: [...back, ...sent] }, lines: sent.map((c) => `${c.title} sent`) });
    ingestTimes.push(performance.now() - t0);
    messages += sent.length + back.length;
  }, 10);
  const panes = ['calls', 'threads', 'chains', 'log'] as const;
  const t0 = Date.now();
  for (let k = 0; Date.now() - t0 < seconds * 1000; k++) {
    view.setPane(panes[k % panes.length]!);
    await sleep(seconds * 250);
  }
  clearInterval(feed);
  await sleep(200);
  closeFrame();
  ink.unmount();
  const rate = messages / ((Date.now() - t0) / 1000);
  console.log(
    `feed: ${rate.toFixed(0)} messages/s for ${seconds} s (${view.totalCalls} calls), ${W}x${H}, calls/threads/chains/log panes in turn: ` +
      `${times.length} frames after the first second (${(times.length / (seconds - 1)).toFixed(1)}/s), p50 ${pct(times, 50).toFixed(1)} ms, max ${Math.max(...times).toFixed(1)} ms, ` +
      `${(term.bytes / 1e3 / seconds).toFixed(0)} KB/s written; feed batch ingest p99 ${pct(ingestTimes, 99).toFixed(2)} ms`,
  );
  goal('frame render p99 at 10,000 messages/s', pct(times, 99), 'ms', 30, `CPU time p50 ${pct(cpu, 50).toFixed(1)} ms, p99 ${pct(cpu, 99).toFixed(1)} ms`);
  view.close();
  reader.close();
}

// ---- the real UI in tmux ----

class TmuxUi {
  readonly session = `ipc-trace-bench-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
  pid = 0;
  constructor(command: string) {
    execFileSync('tmux', ['new-session', '-d', '-s', this.session, '-x', String(W), '-y', String(H), `exec env -u CI ${command}`]);
    this.pid = Number(execFileSync('tmux', ['display-message', '-p', '-t', this.session, '#{pane_pid}']).toString().trim());
  }
  screen(): string {
    const r = spawnSync('tmux', ['capture-pane', '-p', '-t', this.session]);
    return r.status === 0 ? r.stdout.toString() : '';
  }
  keys(...k: string[]): void {
    execFileSync('tmux', ['send-keys', '-t', this.session, ...k]);
  }
  text(s: string): void {
    execFileSync('tmux', ['send-keys', '-t', this.session, '-l', s]);
  }
  /** Polls the screen until `ok` holds; the ms it took from `since`, or throws after `limitMs`. */
  async until(ok: (screen: string) => boolean, since: number, limitMs = 60000): Promise<number> {
    for (;;) {
      const s = this.screen();
      if (ok(s)) return performance.now() - since;
      if (performance.now() - since > limitMs) throw new Error(`timed out waiting for the UI; screen:\n${s}`);
      await sleep(5);
    }
  }
  /** The process's resident memory now and at its peak (MB), from /proc. */
  rss(): { now: number; peak: number } {
    const st = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(st)?.[1] ?? NaN);
    return { now: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
  }
  close(): void {
    spawnSync('tmux', ['kill-session', '-t', this.session]);
  }
}

const CALL_ROW = /\d\d:\d\d:\d\d\.\d{3} c\d/;
const tabLine = (s: string) => s.split('\n').find((l) => /\[1 Calls\]/.test(l)) ?? '';

/** 2. A million-call recording in the real UI: first frame, whole index, filters, memory. */
async function bigBench(): Promise<void> {
  const calls = Number(process.env.BENCH_TUI_CALLS ?? 1000000);
  let path = process.env.BENCH_TUI_DB;
  if (!path || !existsSync(path)) {
    path = path ?? join(dir, 'big.sqlite');
    const t = Date.now();
    writeSyntheticSession(path, { calls });
    console.log(`generated ${path}: ${calls} calls in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  }
  if (!hasTmux) {
    console.log('recording in the UI: skipped (tmux not installed: apt-get install tmux)');
    return;
  }
  console.log(`${calls}-call recording, \`ipc-trace replay\` in tmux ${W}x${H}:`);
  // The first frame of a few launches (the median: one launch on a busy machine says little).
  const launches = Number(process.env.BENCH_TUI_LAUNCHES ?? 3);
  const firsts: number[] = [];
  for (let i = 1; i < launches; i++) {
    const t = performance.now();
    const one = new TmuxUi(`${process.execPath} ${MAIN} replay ${path}`);
    try {
      firsts.push(await one.until((s) => s.includes('REPLAY') && CALL_ROW.test(s), t));
      one.keys('q');
      await sleep(300);
    } finally {
      one.close();
    }
  }
  const t0 = performance.now();
  const ui = new TmuxUi(`${process.execPath} ${MAIN} replay ${path}`);
  try {
    firsts.push(await ui.until((s) => s.includes('REPLAY') && CALL_ROW.test(s), t0));
    goal(`first frame (from launch), median of ${firsts.length}`, pct(firsts, 50), 'ms', 1000, `each: ${firsts.map((x) => x.toFixed(0)).join(', ')} ms`);
    const full = await ui.until((s) => CALL_ROW.test(s) && !tabLine(s).includes('reading the index'), t0);
    const rss0 = ui.rss();
    console.log(`  whole index read ${full.toFixed(0)} ms from launch`);
    let prev = '';
    for (const f of ['method:getBalances', 'thread:b-httpworker.0 & !status:returned', 'slow:>100ms', 'proc:wallet & (status:exception | status:canceled)', 'text:"call 12345\\b"', 'text:balance']) {
      ui.keys('f');
      for (let i = 0; i < prev.length; i++) ui.keys('BSpace');
      ui.text(f);
      // Typed (the prompt shows it): the time runs from Enter.
      await ui.until((s) => s.split('\n').some((l) => l.startsWith('filter: ') && l.includes(f)), performance.now());
      const t = performance.now();
      ui.keys('Enter');
      const shown = (s: string) => tabLine(s).includes(`filter: ${f}`) && !tabLine(s).includes('filtering') && (CALL_ROW.test(s) || s.includes('no calls match'));
      const window = await ui.until(shown, t);
      const counted = await ui.until((s) => shown(s) && / \d+ of \d+ calls/.test(tabLine(s)), t);
      const n = / (\d+) of \d+ calls/.exec(tabLine(ui.screen()))?.[1] ?? '?';
      goal(`filter ${f} (${n} calls): window`, window, 'ms', 1000, `count ${counted.toFixed(0)} ms`);
      prev = f;
    }
    const rss = ui.rss();
    goal('RSS with the index read', rss0.now, 'MB', 300);
    goal('RSS after the filters (peak)', rss.peak, 'MB', 300, `now ${rss.now.toFixed(0)} MB`);
    ui.keys('q');
    await sleep(300);
  } finally {
    ui.close();
  }
}

/**
 * 3. The relay's round trips with the UI open and with --no-tui. Three
 * proxies to one echo server, all in tmux (the same terminal, so that only
 * the UI differs): the UI open, and two with --no-tui. The second --no-tui
 * is the control: its ratio to the first is what the machine's noise alone
 * makes of two identical proxies. Each round measures all three back to back
 * (in rotating order); the figures are the median over rounds of each
 * round's ratio, with their spread.
 */
async function relayBench(): Promise<void> {
  if (!hasTmux) {
    console.log('relay with the UI: skipped (tmux not installed: apt-get install tmux)');
    return;
  }
  const msgs = frames();
  const N = Number(process.env.BENCH_ROUNDTRIPS ?? 1000);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 30);
  const echoSock = join(dir, 'echo.sock');
  const echo = await startChild(process.execPath, ['-e', ECHO_SERVER, echoSock], 'ipc');
  const names = ['--no-tui', 'UI open', '--no-tui (control)'] as const;
  type Name = (typeof names)[number];
  const proxies = names.map((name, i) => {
    const sock = join(dir, `relay${i}.sock`);
    const args = `--listen ${sock} --connect ${echoSock} --db ${join(dir, `relay${i}.sqlite`)}`;
    const tmux = new TmuxUi(`${process.execPath} ${MAIN} ${args}${name === 'UI open' ? '' : ` --no-tui --log ${join(dir, `relay${i}.log`)}`}`);
    return { name, sock, tmux };
  });
  const result = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<Name, number[]>;
  // Per round: the UI open and the control, each against --no-tui, at p50 and p99.
  const ratios = { ui: { p50: [] as number[], p99: [] as number[] }, control: { p50: [] as number[], p99: [] as number[] } };
  try {
    await proxies[1]!.tmux.until((s) => s.includes('LIVE'), performance.now(), 20000);
    for (const p of proxies) {
      for (let i = 0; i < 100 && !existsSync(p.sock); i++) await sleep(100);
      await roundTrips(p.sock, msgs, 300);
    }
    for (let r = 0; r < rounds; r++) {
      const round = {} as Record<Name, number[]>;
      for (let k = 0; k < proxies.length; k++) {
        const p = proxies[(r + k) % proxies.length]!;
        result[p.name].push(...(round[p.name] = await roundTrips(p.sock, msgs, N)));
      }
      for (const q of [50, 99] as const) {
        const base = pct(round['--no-tui'], q);
        ratios.ui[`p${q}`].push(pct(round['UI open'], q) / base);
        ratios.control[`p${q}`].push(pct(round['--no-tui (control)'], q) / base);
      }
    }
    proxies[1]!.tmux.keys('q');
    await sleep(500);
  } finally {
    for (const p of proxies) p.tmux.close();
    echo.kill();
  }
  console.log(`relay round trips, ${rounds} rounds of ${N} per proxy, the three proxies in turn (all in tmux):`);
  for (const [name, lat] of Object.entries(result)) {
    console.log(`  ${name.padEnd(18)} p50 ${pct(lat, 50).toFixed(1).padStart(7)} us  p99 ${pct(lat, 99).toFixed(1).padStart(7)} us`);
  }
  const spread = (x: number[]) => `quartiles ${pct(x, 25).toFixed(2)}–${pct(x, 75).toFixed(2)}, range ${Math.min(...x).toFixed(2)}–${Math.max(...x).toFixed(2)}`;
  for (const q of ['p50', 'p99'] as const) {
    console.log(`  control / --no-tui ${q} (the noise floor): median ×${pct(ratios.control[q], 50).toFixed(2)}, ${spread(ratios.control[q])}`);
    goal(`relay round trip ${q}, UI open / --no-tui (median of rounds)`, pct(ratios.ui[q], 50), 'x', 1.1, spread(ratios.ui[q]));
  }
}

async function main_(): Promise<void> {
  console.log(`ipc-trace terminal UI benchmark — Node ${process.version}, NODE_ENV=${process.env.NODE_ENV}`);
  const parts = (process.env.BENCH_TUI_PARTS ?? 'big,feed,relay').split(',');
  if (parts.includes('big')) await bigBench();
  if (parts.includes('feed')) await feedBench();
  if (parts.includes('relay')) await relayBench();
  rmSync(dir, { recursive: true, force: true });
}

main_().then(
  () => process.exit(0),
  (e) => {
    console.error(`bench failed: ${(e as Error).message}`);
    rmSync(dir, { recursive: true, force: true });
    process.exit(1);
  },
);
