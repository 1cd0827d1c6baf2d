// The recorder's rate as the store sees it, for `npm run soak` (step 1) and
// `npm run bench`: many short connections replaying the bundled captures go
// through a Recording (pipeline, session model, store) in-process on one
// core, in batches as the recording worker takes them; the rate is measured
// per segment of the session, so a recorder that slows down as the session
// grows shows. Then the replay rate of the database it wrote.

import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseHexlog } from '../decoder/hexlog.js';
import { Framer } from '../decoder/framer.js';
import { PACKAGE_ROOT } from '../decoder/sources.js';
import { Recording } from '../cli/recording.js';
import { ByteWriter } from '../cli/output.js';
import { replayInto } from '../cli/replay.js';
import { filteredLogSinks } from '../filter/log.js';
import { SessionReader } from '../store/reader.js';
import type { RecordItem } from '../session/recorder.js';
import { childrenCpuMs } from '../proxy/proc-stat.js';

interface Capture {
  chunks: { dir: '>' | '<'; bytes: Uint8Array }[];
  messages: number;
}

/** A capture as one connection's chunks, and how many messages it holds. */
function capture(name: string): Capture {
  const h = parseHexlog(readFileSync(join(PACKAGE_ROOT, 'test/fixtures/captures', `${name}.hexlog`), 'latin1'));
  let messages = 0;
  for (const d of ['>', '<'] as const) {
    const f = new Framer();
    for (const c of h.chunks) if (c.dir === d) for (const e of f.push(c.bytes)) if (e.kind === 'frame') messages++;
  }
  return { chunks: h.chunks.map((c) => ({ dir: c.dir as '>' | '<', bytes: c.bytes })), messages };
}

/** CPU time of this process (ms): on a shared machine, steadier than the clock. */
export const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

export interface RecordingRate {
  messages: number;
  conns: number;
  /** Messages per second of each tenth of the session, by the clock and by CPU time. */
  rates: number[];
  cpuRates: number[];
  /** RSS (MB) after each tenth. */
  rss: number[];
  /** Bytes recorded (the chunks), and the database's size once closed. */
  wireBytes: number;
  dbBytes: number;
}

/** Records about `total` messages into a new database `db`. */
export function recordingRate(db: string, total: number): RecordingRate {
  const segment = total / 10;
  const sessions = ['cli-01', 'cli-02', 'cli-03', 'cli-04', 'cli-05', 'cli-06', 'cli-01', 'cli-02', 'mining-01', 'template-01'].map(capture);
  const rec = new Recording({ db, schemaFiles: [], importDirs: [], maxChars: Infinity, command: 'rate', printLog: false });
  const now = () => performance.timeOrigin + performance.now();
  let messages = 0;
  let conns = 0;
  let wireBytes = 0;
  // Times a day back: the recording's time-order window releases every event at once.
  let t = Date.now() - 86_400_000;
  const out: RecordingRate = { messages: 0, conns: 0, rates: [], cpuRates: [], rss: [], wireBytes: 0, dbBytes: 0 };
  let segStart = now();
  let segCpu = cpuMs();
  let segMessages = 0;
  let batch: RecordItem[] = [];
  const flush = () => {
    rec.process(batch);
    batch = [];
  };
  while (messages < total) {
    const s = sessions[conns % sessions.length]!;
    const id = ++conns;
    batch.push({ k: 'open', info: { id, time: t, label: `rate #${id}` } });
    for (const c of s.chunks) {
      batch.push({ k: 'data', id, dir: c.dir, bytes: c.bytes, time: (t += 0.01) });
      wireBytes += c.bytes.length;
    }
    batch.push({ k: 'close', id, time: t, reason: null });
    messages += s.messages;
    segMessages += s.messages;
    if (batch.length >= 2000) flush();
    if (segMessages >= segment) {
      flush();
      out.rates.push((segMessages / (now() - segStart)) * 1000);
      out.cpuRates.push((segMessages / (cpuMs() - segCpu)) * 1000);
      out.rss.push(process.memoryUsage().rss / 2 ** 20);
      segStart = now();
      segCpu = cpuMs();
      segMessages = 0;
    }
  }
  flush();
  rec.finish(0);
  return { ...out, messages, conns, wireBytes, dbBytes: statSync(db).size };
}

/**
 * Replays a session database through the decoder, model and log, the log
 * written to /dev/null as `replay --no-tui` writes it to stdout: messages per
 * second, by the clock and per CPU second.
 */
export function replayRate(db: string): { messages: number; seconds: number; cpuSeconds: number; logBytes: number } {
  const reader = SessionReader.open(db);
  const messages = reader.query('SELECT count(*) AS n FROM message_rows')[0]!.n as number;
  const fd = openSync('/dev/null', 'w');
  const out = new ByteWriter(fd);
  let logBytes = 0;
  const t0 = performance.now();
  const c0 = cpuMs();
  replayInto(reader, filteredLogSinks({ k: 'all' }, (l) => {
    logBytes += l.length + 1;
    out.line(l);
  }));
  out.flush();
  const r = { messages, seconds: (performance.now() - t0) / 1000, cpuSeconds: (cpuMs() - c0) / 1000, logBytes };
  closeSync(fd);
  reader.close();
  return r;
}

/** The goal for replay (issue 8): messages per second, from the CLI, by the clock. */
export const REPLAY_GOAL = 100_000;

/** CPU seconds of this process's children that have been waited for (Linux: /proc), or null. */
function childrenCpuSeconds(): number | null {
  const ms = childrenCpuMs();
  return ms === null ? null : ms / 1000;
}

/**
 * `ipc-trace replay DB --no-tui > /dev/null` as a user runs it: messages per
 * second of wall clock from launch to exit, and the CPU seconds of the whole
 * process (every thread) where the system tells them.
 */
export function replayCliRate(db: string): { messages: number; seconds: number; cpuSeconds: number | null; status: number | null } {
  const reader = SessionReader.open(db);
  const messages = reader.query('SELECT count(*) AS n FROM message_rows')[0]!.n as number;
  reader.close();
  const c0 = childrenCpuSeconds();
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(PACKAGE_ROOT, 'dist/cli/main.js'), 'replay', db, '--no-tui'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const seconds = (performance.now() - t0) / 1000;
  const c1 = childrenCpuSeconds();
  return { messages, seconds, cpuSeconds: c0 !== null && c1 !== null ? c1 - c0 : null, status: r.status };
}

/** Lines for `runs` CLI replays of `db`, each against the goal. */
export function replayCliFigures(db: string, runs: number): { lines: string[]; ok: boolean } {
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  const lines: string[] = [];
  let ok = true;
  let best = 0;
  for (let i = 0; i < runs; i++) {
    const r = replayCliRate(db);
    ok &&= r.status === 0;
    best = Math.max(best, r.messages / r.seconds);
    const cpu = r.cpuSeconds !== null ? `, ${r.cpuSeconds.toFixed(2)} CPU s in all threads` : '';
    lines.push(`ipc-trace replay --no-tui > /dev/null, ${fmt(r.messages)} messages: ${r.seconds.toFixed(2)} s = ${fmt(r.messages / r.seconds)} msg/s${cpu}${r.status === 0 ? '' : ` (exit ${r.status})`}`);
  }
  lines.push(`best of ${runs}: ${fmt(best)} msg/s against the goal of ${fmt(REPLAY_GOAL)}: ${best >= REPLAY_GOAL ? 'met' : 'not met'}`);
  return { lines, ok };
}
