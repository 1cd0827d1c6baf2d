// The terminal UI's thread (started by run.ts): the session view over the
// database, fed by the recording worker's change feed when live, and the
// ink app drawing it. Keys and the terminal size come in as messages; the
// frames are written to the terminal from here (terminal-lock.ts).

import './production.js';
import { workerOnline } from '../cli/heap.js';
import { parentPort, workerData, MessagePort, Worker } from 'node:worker_threads';
import { EventEmitter } from 'node:events';
import chalk from 'chalk';
import type { UiSpec, ToUi, FromUi } from './run.js';
import type { FeedBatch } from '../session/rows.js';
import { lowerThreadPriority } from '../proxy/priority.js';
import { TerminalLock } from './terminal-lock.js';
import { ASCII_GLYPHS, UNICODE_GLYPHS, setGlyphs } from './glyphs.js';

const { spec, intercept, ascii, columns, rows, colorLevel, feedPort, terminal, fd } = workerData as {
  spec: UiSpec;
  intercept?: boolean;
  /** ASCII until the terminal says it draws a glyph in one column (run.ts asks it). */
  ascii?: boolean;
  columns: number;
  rows: number;
  colorLevel: 0 | 1 | 2 | 3;
  feedPort?: MessagePort;
  terminal: SharedArrayBuffer;
  fd: number;
};
const lock = new TerminalLock(terminal);
const port = parentPort!;
const send = (m: FromUi) => port.postMessage(m);
chalk.level = colorLevel;
if (ascii) setGlyphs(ASCII_GLYPHS);

/** The terminal as ink sees it: written from this thread (the command's thread never waits for a frame). */
class Stdout extends EventEmitter {
  isTTY = true;
  columns = columns;
  rows = rows;
  write(data: string | Uint8Array): boolean {
    lock.write(fd, data);
    return true;
  }
}

/** Keys from the command's thread, as ink reads a raw-mode stdin. */
class Stdin extends EventEmitter {
  isTTY = true;
  private data: string | null = null;
  push(data: string): void {
    this.data = data;
    this.emit('readable');
    this.emit('data', data);
  }
  read(): string | null {
    const d = this.data;
    this.data = null;
    return d;
  }
  setEncoding(): void {}
  setRawMode(): void {}
  resume(): void {}
  pause(): void {}
  ref(): void {}
  unref(): void {}
}

async function main(): Promise<void> {
  // Live: below the relay's thread (and the recorder's); threads started from here inherit it.
  // A replay has no relay to leave the CPU to: its scans (filters, the index) run at full priority.
  if (spec.mode === 'live') lowerThreadPriority(19);
  // Loading ink and React takes most of a second: the first frame is drawn without them
  // (the same lines, written straight to the terminal), and ink takes over when it has loaded.
  const [{ SessionReader }, { SessionView }, { Ui }, { workerIndex }, { secretFields }, { fits, screenLines, Painter }] = await Promise.all([
    import('../store/reader.js'),
    import('./view.js'),
    import('./ui.js'),
    import('./index-client.js'),
    import('../redact/redact.js'),
    import('./screen.js'),
  ]);
  const reader = SessionReader.open(spec.dbPath);
  let dropped = 0;
  const redact = spec.redact ? secretFields(spec.redact) : null;
  // Live, a frame every 100 ms is enough to read and leaves the CPU to the relay; a replay plays smoother.
  const frameMs = spec.mode === 'live' ? 100 : 50;
  const view = new SessionView({ mode: spec.mode, reader, stuckMs: spec.stuckMs, index: workerIndex(spec.dbPath), dropped: () => dropped, indexDelayMs: 300, redact, frameMs });
  if (spec.filter) view.setFilter(spec.filter);
  if (intercept) view.interceptRequest = (request) => send({ k: 'intercept', request });
  view.bottom();
  feedPort?.on('message', (b: FeedBatch) => view.ingest(b));
  if (spec.mode === 'replay') {
    // The log pane's lines, rebuilt from the recorded stream off this thread too.
    // Started after the first frame is drawn.
    view.logComplete = false;
    setTimeout(() => {
      const log = new Worker(new URL('./replay-log-worker.js', import.meta.url), { workerData: { path: spec.dbPath, maxLines: SessionView.LOG_MAX, redact: spec.redact ?? null }, resourceLimits: { maxYoungGenerationSizeMb: 8 } });
      workerOnline(log);
      log.on('message', (m: { lines: string[]; done: boolean }) => view.addLog(m.lines, m.done));
      log.on('error', (e) => view.addLog([`ipc-trace: the log could not be rebuilt: ${e.message}`], true));
      log.unref();
    }, 500);
  }
  const ui = new Ui(view, () => send({ k: 'quit' }));
  // One painter for every frame: ink's first frame only redraws the lines that changed since this one.
  const painter = new Painter();
  if (fits(columns, rows)) lock.write(fd, painter.frame(screenLines(view, ui, columns, rows), columns, rows));
  const [React, { render }, { App }] = await Promise.all([import('react'), import('ink'), import('./app.js')]);
  const stdout = new Stdout();
  const stdin = new Stdin();
  port.on('message', (m: ToUi) => {
    switch (m.k) {
      case 'keys':
        stdin.push(m.data);
        break;
      case 'unicode':
        // The lines again, with the glyphs (the App draws a new frame on a resize; the painter rewrites the lines that changed).
        setGlyphs(UNICODE_GLYPHS);
        stdout.emit('resize');
        break;
      case 'resize':
        stdout.columns = m.columns;
        stdout.rows = m.rows;
        stdout.emit('resize');
        break;
      case 'note':
        view.addLog([`ipc-trace: ${m.line}`], view.logComplete);
        break;
      case 'dropped':
        dropped = m.bytes;
        break;
      case 'held':
        view.setHeld(m.list);
        break;
    }
  });
  render(React.createElement(App, { view, ui, painter }), {
    stdout: stdout as unknown as NodeJS.WriteStream,
    stdin: stdin as unknown as NodeJS.ReadStream,
    stderr: stdout as unknown as NodeJS.WriteStream,
    exitOnCtrlC: false,
    onRender: () => view.frameDrawn(),
    patchConsole: false,
    // The view notifies at most once per frame interval (the feed's batches are coalesced there) and ink draws
    // each at once: its own limit, twice the rate, only keeps a notification a little early from waiting a whole frame.
    maxFps: Math.round(2000 / frameMs),
  });
}

main().catch((e: Error) => send({ k: 'error', message: e.message }));
