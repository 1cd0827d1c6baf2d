// The terminal around the UI, on the command's own thread: alternate screen,
// hidden cursor, raw keys, and the terminal restored on every way out (q,
// Ctrl-C as a key, SIGINT/SIGTERM/SIGHUP, an error in the UI, exit).
//
// The UI itself (the session view, ink, React) runs in a worker thread
// (ui-worker.ts): drawing a frame takes tens of milliseconds, and the
// command's thread runs the relay, which must never wait for it. This thread
// only passes keys and the terminal size in; the worker writes the frames to
// the terminal itself (terminal-lock.ts), at a lower priority; a live
// recording's change feed goes from the recording worker to the UI worker
// directly (a MessagePort), never through here.

import { workerOnline } from '../cli/heap.js';
import { Worker, MessagePort } from 'node:worker_threads';
import chalk from 'chalk';
import { TerminalLock } from './terminal-lock.js';
import { G, GLYPH_PROBE, UNICODE_GLYPHS, ProbeReader } from './glyphs.js';
import type { Mode } from './view.js';
import type { HeldInfo } from '../intercept/engine.js';

export interface UiSpec {
  mode: Mode;
  dbPath: string;
  /** Age after which an outstanding call counts as stuck (--stuck). */
  stuckMs: number;
  /** An initial filter (replay --filter). */
  filter?: string;
  /** replay --redact: mask these secret fields besides the default ones (null: no redaction). */
  redact?: string[] | null;
}

/** Messages to the UI worker. */
export type ToUi =
  | { k: 'keys'; data: string }
  /** The terminal draws a glyph in one column (GLYPH_PROBE's answer): the UTF-8 glyphs from now on. */
  | { k: 'unicode' }
  | { k: 'resize'; columns: number; rows: number }
  | { k: 'note'; line: string }
  | { k: 'dropped'; bytes: number }
  /** What the interceptor holds now (sessions with intercept rules). */
  | { k: 'held'; list: HeldInfo[] };

/** Messages from the UI worker. */
export type FromUi = { k: 'quit' } | { k: 'error'; message: string } | { k: 'intercept'; request: string };

/** The interceptor as the UI uses it: its held list, and requests in the control socket's words. */
export interface UiIntercept {
  held(): HeldInfo[];
  request(line: string): string;
  /** Called with a listener for changes (new holds, releases). */
  onChange(cb: () => void): void;
}

export interface TuiHandle {
  /** Resolves when the user quits (q, Ctrl-C), a signal arrives, or the UI fails. */
  done: Promise<string>;
  /** A line for the log pane (what the command would print on stderr). */
  note(line: string): void;
  /** Puts the terminal back and stops the UI (idempotent). */
  close(): void;
}

const ENTER = '\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J';
const LEAVE = '\x1b[?25h\x1b[?1049l';

/** Whether the UI can run: stdout and stdin are terminals. */
export function tuiPossible(): boolean {
  return process.stdout.isTTY === true && process.stdin.isTTY === true;
}

export function startTui(spec: UiSpec, opts: { feedPort?: MessagePort; dropped?: () => number; intercept?: UiIntercept } = {}): TuiHandle {
  if ('NO_COLOR' in process.env && process.env.NO_COLOR !== '') chalk.level = 0;
  const out = process.stdout;
  const stdin = process.stdin;
  let quit!: (why: string) => void;
  const done = new Promise<string>((r) => (quit = r));
  // The alternate screen first: the worker writes the frames to the terminal itself (terminal-lock.ts).
  out.write(ENTER);
  // Ask the terminal how wide a glyph is, when the locale says UTF-8 (the answer comes with the keys);
  // the UI draws ASCII until it has the answer.
  let probe = G === UNICODE_GLYPHS ? new ProbeReader() : null;
  if (probe) out.write(GLYPH_PROBE);
  const probeTimer = probe ? setTimeout(() => endProbe(), 10000) : null;
  probeTimer?.unref();
  const lock = new TerminalLock();
  const worker = new Worker(new URL('./ui-worker.js', import.meta.url), {
    workerData: { spec, intercept: opts.intercept !== undefined, ascii: probe !== null, columns: out.columns || 80, rows: out.rows || 24, colorLevel: chalk.level, feedPort: opts.feedPort, terminal: lock.buffer, fd: out.fd ?? 1 },
    transferList: opts.feedPort ? [opts.feedPort] : [],
    env: { ...process.env, NODE_ENV: process.env.NODE_ENV ?? 'production' },
    // A small young generation: the feed's garbage is collected often and cheaply, and the heap stays small.
    resourceLimits: { maxYoungGenerationSizeMb: 8 },
  });
  workerOnline(worker);
  const post = (m: ToUi) => worker.postMessage(m);
  let closed = false;
  worker.on('message', (m: FromUi) => {
    if (closed) return;
    if (m.k === 'quit') quit('quit');
    else if (m.k === 'intercept' && opts.intercept) post({ k: 'note', line: opts.intercept.request(m.request) });
    else if (m.k === 'error') {
      restore();
      process.stderr.write(`ipc-trace: terminal UI failed: ${m.message}\n`);
      quit('error');
    }
  });
  worker.on('error', (e) => {
    restore();
    process.stderr.write(`ipc-trace: terminal UI failed: ${e.message.split('\n')[0]}\n`);
    quit('error');
  });
  /** No answer any more (or given up on): what was held back as its possible start was a key. */
  function endProbe(): void {
    const held = probe?.flush();
    probe = null;
    if (held && !closed) post({ k: 'keys', data: held });
  }
  const onKeys = (d: Buffer | string) => {
    let data = d.toString();
    if (probe) {
      const r = probe.read(data);
      data = r.keys;
      if (r.column !== null) {
        probe = null;
        if (r.column === 2) post({ k: 'unicode' });
      } else if (r.held) {
        // The rest of an answer comes within milliseconds; an Escape key alone must not wait for it.
        const p = probe;
        setTimeout(() => {
          const key = p.flush();
          if (key && !closed) post({ k: 'keys', data: key });
        }, 50).unref();
      }
    }
    if (data) post({ k: 'keys', data });
  };
  const onResize = () => post({ k: 'resize', columns: out.columns || 80, rows: out.rows || 24 });
  const onInt = () => quit('SIGINT');
  const onTerm = () => quit('SIGTERM');
  // The terminal went away (window closed): stop as for SIGTERM, so the database is still closed properly.
  const onHup = () => quit('SIGHUP');
  const onCrash = (e: Error) => {
    restore();
    process.stderr.write(`ipc-trace: internal error: ${e.message.split('\n')[0]}\n`);
    process.exit(1);
  };
  const dropTimer = opts.dropped ? setInterval(() => post({ k: 'dropped', bytes: opts.dropped!() }), 1000) : null;
  dropTimer?.unref();
  // The held list: at every change, and each second (ages, what is queued behind).
  const ic = opts.intercept;
  const postHeld = () => {
    if (!closed && ic) post({ k: 'held', list: ic.held() });
  };
  ic?.onChange(postHeld);
  const heldTimer = ic ? setInterval(postHeld, 1000) : null;
  heldTimer?.unref();

  function restore(): void {
    if (closed) return;
    closed = true;
    if (dropTimer) clearInterval(dropTimer);
    if (heldTimer) clearInterval(heldTimer);
    // No frame after this (nor half of one before the terminal is given back).
    lock.close();
    void worker.terminate();
    stdin.off('data', onKeys);
    out.off('resize', onResize);
    try {
      if (stdin.isTTY) stdin.setRawMode(false);
      stdin.pause();
    } catch {
      // not a terminal any more
    }
    try {
      out.write(LEAVE);
    } catch {
      // no terminal any more
    }
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    process.off('SIGHUP', onHup);
    process.off('exit', restore);
    process.off('uncaughtException', onCrash);
  }

  if (stdin.isTTY) stdin.setRawMode(true);
  stdin.on('data', onKeys);
  stdin.resume();
  out.on('resize', onResize);
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  process.on('SIGHUP', onHup);
  process.on('exit', restore);
  process.on('uncaughtException', onCrash);
  return { done, note: (line) => post({ k: 'note', line }), close: restore };
}
