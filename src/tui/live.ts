// A live recording in the terminal UI: the view reads the session database
// the recording worker writes (rows by id, through the reader) and follows
// the worker's change feed (new and changed rows, log lines). The commands
// (demo, proxy, exec) race `done` with their own ways of ending, then stop
// recording exactly as without the UI, then close the UI.

import type { RecordingHandle } from '../cli/recording.js';
import { SessionReader } from '../store/reader.js';
import { SessionView } from './view.js';
import { tuiPossible } from './run.js';
import { workerIndex } from './index-client.js';

export interface LiveUi {
  /** Resolves when the user quits (q, Ctrl-C) or SIGINT/SIGTERM arrives. */
  done: Promise<string>;
  /** A line for the log pane (what the command would print on stderr). */
  note(line: string): void;
  /** Restores the terminal and closes the reader (idempotent). */
  close(): void;
}

/** Whether a recording command opens the UI: a terminal, no --no-tui, no --log - (the log on stdout). */
export function wantsTui(options: Record<string, unknown>): boolean {
  return !options['no-tui'] && options.log !== '-' && tuiPossible();
}

export async function openLiveUi(recording: RecordingHandle, stuckMs: number): Promise<LiveUi> {
  const reader = SessionReader.open(recording.dbPath);
  const view = new SessionView({ mode: 'live', reader, stuckMs, index: workerIndex(recording.dbPath), dropped: () => recording.client.droppedBytes });
  recording.onFeed((batch) => view.ingest(batch));
  const { startTui } = await import('./run.js');
  const tui = await startTui(view);
  let closed = false;
  return {
    done: tui.done,
    note: (line) => view.addLog([`ipc-trace: ${line}`], true),
    close: () => {
      if (closed) return;
      closed = true;
      tui.close();
      view.close();
      reader.close();
    },
  };
}
