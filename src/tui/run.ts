// The terminal around the UI: alternate screen, hidden cursor, raw keys
// (ink), and the terminal restored on every way out: q, Ctrl-C (a key in
// raw mode), SIGINT/SIGTERM/SIGHUP, an uncaught error. React runs in production
// mode (set before it loads). NO_COLOR turns colour off.

import chalk from 'chalk';
import type { SessionView } from './view.js';
import { Ui } from './ui.js';

export interface TuiHandle {
  /** Resolves when the user quits (q, Ctrl-C) or a signal arrives. */
  done: Promise<string>;
  /** Puts the terminal back (idempotent). */
  close(): void;
}

const ENTER = '\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J';
const LEAVE = '\x1b[?25h\x1b[?1049l';

/** Whether the UI can run: stdout and stdin are terminals. */
export function tuiPossible(): boolean {
  return process.stdout.isTTY === true && process.stdin.isTTY === true;
}

export async function startTui(view: SessionView): Promise<TuiHandle> {
  process.env.NODE_ENV ??= 'production';
  if ('NO_COLOR' in process.env && process.env.NO_COLOR !== '') chalk.level = 0;
  const React = await import('react');
  const { render } = await import('ink');
  const { App } = await import('./app.js');

  let quit!: (why: string) => void;
  const done = new Promise<string>((r) => (quit = r));
  const ui = new Ui(view, () => quit('quit'));
  const out = process.stdout;
  out.write(ENTER);
  let closed = false;
  const onSignal = (sig: string) => quit(sig);
  const onInt = () => onSignal('SIGINT');
  const onTerm = () => onSignal('SIGTERM');
  // The terminal went away (window closed): stop as for SIGTERM, so the database is still closed properly.
  const onHup = () => onSignal('SIGHUP');
  const restore = () => {
    if (closed) return;
    closed = true;
    try {
      instance.unmount();
    } catch {
      // already unmounted
    }
    try {
      if (process.stdin.isTTY) process.stdin.setRawMode(false);
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
  };
  const onCrash = (e: Error) => {
    restore();
    process.stderr.write(`ipc-trace: internal error: ${e.message.split('\n')[0]}\n`);
    process.exit(1);
  };
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  process.on('SIGHUP', onHup);
  process.on('exit', restore);
  process.on('uncaughtException', onCrash);
  const instance = render(React.createElement(App, { view, ui }), { exitOnCtrlC: false, patchConsole: true, maxFps: 20 } as Parameters<typeof render>[1]);
  return { done, close: restore };
}
