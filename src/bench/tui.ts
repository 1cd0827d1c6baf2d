// Terminal UI benchmark (printed, not asserted):
//  1. frame render time (ink, the calls pane with header and footer) while a
//     synthetic feed delivers 10,000 messages/s to a live view;
//  2. a recording of 1,000,000 calls (generated once): time to the first
//     frame, until the whole index is read, per filter, and the RSS;
//  3. the relay's round-trip latency with the UI open (in tmux, when
//     installed) against --no-tui.
//
// Environment: BENCH_TUI_CALLS (default 1000000), BENCH_TUI_DB (reuse a
// generated recording), BENCH_TUI_SECONDS (feed duration, default 8),
// BENCH_ROUNDTRIPS (default 2000), BENCH_TUI_PARTS (default big,feed,relay).

process.env.NODE_ENV ??= 'production';

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import React from 'react';
import { renderToString } from 'ink';
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
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mb = () => (process.memoryUsage().rss / 1e6).toFixed(0);

function frame(view: SessionView, ui: Ui): number {
  const t0 = performance.now();
  renderToString(React.createElement(Screen, { view, ui, width: W, height: H }), { columns: W });
  return performance.now() - t0;
}

/** 1. Frames while the feed delivers 10,000 messages/s (5,000 calls and 5,000 returns). */
async function feedBench(): Promise<void> {
  const seconds = Number(process.env.BENCH_TUI_SECONDS ?? 8);
  const path = join(dir, 'live.sqlite');
  writeSyntheticSession(path, { calls: 0 });
  const reader = SessionReader.open(path);
  const view = new SessionView({ mode: 'live', reader, stuckMs: 5000 });
  const ui = new Ui(view, () => {});
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
  const times: number[] = [];
  const panes = ['calls', 'threads', 'chains', 'log'] as const;
  const t0 = Date.now();
  let k = 0;
  while (Date.now() - t0 < seconds * 1000) {
    await sleep(50);
    if (k % 40 === 0) view.setPane(panes[(k / 40) % panes.length]!);
    k++;
    times.push(frame(view, ui));
  }
  clearInterval(feed);
  const rate = messages / ((Date.now() - t0) / 1000);
  console.log(
    `feed: ${rate.toFixed(0)} messages/s for ${seconds} s (${view.totalCalls} calls); frame render (${W}x${H}, calls/threads/chains/log panes) ` +
      `p50 ${pct(times, 50).toFixed(1)} ms, p99 ${pct(times, 99).toFixed(1)} ms, max ${Math.max(...times).toFixed(1)} ms over ${times.length} frames; ` +
      `feed batch ingest p99 ${pct(ingestTimes, 99).toFixed(2)} ms; RSS ${mb()} MB`,
  );
  reader.close();
}

/** 2. A million-call recording: first frame, whole index, filters, memory. */
async function bigBench(): Promise<void> {
  const calls = Number(process.env.BENCH_TUI_CALLS ?? 1000000);
  let path = process.env.BENCH_TUI_DB;
  if (!path || !existsSync(path)) {
    path = path ?? join(dir, 'big.sqlite');
    const t = Date.now();
    writeSyntheticSession(path, { calls });
    console.log(`generated ${path}: ${calls} calls in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  }
  const rss0 = Number(mb());
  const t0 = performance.now();
  const reader = SessionReader.open(path);
  const view = new SessionView({ mode: 'replay', reader, stuckMs: 5000, index: workerIndex(path) });
  const ui = new Ui(view, () => {});
  frame(view, ui);
  const first = performance.now() - t0;
  await view.settled();
  const full = performance.now() - t0;
  frame(view, ui);
  console.log(
    `${view.totalCalls} calls: first frame ${first.toFixed(0)} ms; whole index read (in its worker) ${full.toFixed(0)} ms; RSS ${mb()} MB (before opening ${rss0} MB)`,
  );
  for (const f of ['method:getBalances', 'thread:b-httpworker.0 & !status:returned', 'slow:>100ms', 'proc:wallet & (status:exception | status:canceled)', 'text:"call 12345\\b"']) {
    const t = performance.now();
    view.setFilter(f);
    // The filter's scan only (settled() would also wait for the chains analysis the frames ask for).
    while (view.filtering) await sleep(2);
    frame(view, ui);
    console.log(`  filter ${f.padEnd(48)} ${String(view.count).padStart(8)} calls in ${(performance.now() - t).toFixed(0)} ms`);
  }
  view.setFilter('');
  await view.settled();
  let t = performance.now();
  view.stats();
  await view.settled();
  console.log(`  stats (per method, ${view.stats().length} methods) in ${(performance.now() - t).toFixed(0)} ms`);
  const steps: number[] = [];
  for (let i = 0; i < 20; i++) {
    t = performance.now();
    view.step(false);
    frame(view, ui);
    steps.push(performance.now() - t);
  }
  console.log(`  time cursor step + frame: p50 ${pct(steps, 50).toFixed(0)} ms, max ${Math.max(...steps).toFixed(0)} ms; RSS ${mb()} MB`);
  view.close();
  reader.close();
}

/** 3. The relay's round trips with the UI open (tmux) and with --no-tui. */
async function relayBench(): Promise<void> {
  if (spawnSync('sh', ['-c', 'command -v tmux']).status !== 0) {
    console.log('relay with the UI: skipped (tmux not installed: apt-get install tmux)');
    return;
  }
  const main = join(PACKAGE_ROOT, 'dist', 'cli', 'main.js');
  const msgs = frames();
  const N = Number(process.env.BENCH_ROUNDTRIPS ?? 2000);
  const echoSock = join(dir, 'echo.sock');
  const echo = await startChild(process.execPath, ['-e', ECHO_SERVER, echoSock], 'ipc');
  const result: Record<string, number[]> = {};
  // Without the UI.
  const plain = join(dir, 'plain.sock');
  const p = await startChild(process.execPath, [main, '--listen', plain, '--connect', echoSock, '--db', join(dir, 'plain.sqlite'), '--log', join(dir, 'plain.log'), '--no-tui'], 'stderr');
  await roundTrips(plain, msgs, 300);
  result['--no-tui'] = await roundTrips(plain, msgs, N);
  p.kill('SIGINT');
  // With the UI, in a terminal (tmux), calls pane following.
  const ui = join(dir, 'ui.sock');
  const session = `ipc-trace-bench-${process.pid}`;
  execFileSync('tmux', ['new-session', '-d', '-s', session, '-x', '160', '-y', '48', `env -u CI node ${main} --listen ${ui} --connect ${echoSock} --db ${join(dir, 'ui.sqlite')}; sleep 5`]);
  try {
    for (let i = 0; i < 100 && !existsSync(ui); i++) await sleep(100);
    await roundTrips(ui, msgs, 300);
    result['UI open'] = await roundTrips(ui, msgs, N);
    execFileSync('tmux', ['send-keys', '-t', session, 'q']);
    await sleep(1000);
  } finally {
    spawnSync('tmux', ['kill-session', '-t', session]);
  }
  echo.kill();
  const base = pct(result['--no-tui']!, 50);
  for (const [name, lat] of Object.entries(result)) {
    console.log(
      `relay round trip ${name.padEnd(9)} p50 ${pct(lat, 50).toFixed(1).padStart(7)} us  p99 ${pct(lat, 99).toFixed(1).padStart(7)} us  (${((pct(lat, 50) / base - 1) * 100).toFixed(1)}% vs --no-tui at p50)`,
    );
  }
}

async function main_(): Promise<void> {
  console.log(`ipc-trace terminal UI benchmark — Node ${process.version}`);
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
