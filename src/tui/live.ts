// A live recording in the terminal UI. The UI runs in its own thread
// (run.ts, ui-worker.ts); the recording worker posts its change feed there
// through a MessageChannel made before the recording starts. The commands
// (demo, proxy, exec) race `done` with their own ways of ending, close the
// UI, and stop recording exactly as without it.

import { MessageChannel, MessagePort } from 'node:worker_threads';
import type { RecordingHandle } from '../cli/recording.js';
import { startTui, tuiPossible, TuiHandle, UiIntercept } from './run.js';
import type { Interceptor } from '../intercept/engine.js';
import { controlCommand } from '../intercept/control.js';

export type LiveUi = TuiHandle;

/** Whether a recording command opens the UI: a terminal, no --no-tui, no --log - (the log on stdout). */
export function wantsTui(options: Record<string, unknown>): boolean {
  return !options['no-tui'] && options.log !== '-' && tuiPossible();
}

/** The channel the recording worker posts its change feed to, and the UI reads it from. */
export interface FeedChannel {
  /** For RecordingOptions.feedPort. */
  recorder: MessagePort;
  ui: MessagePort;
}

export function feedChannel(): FeedChannel {
  const c = new MessageChannel();
  return { recorder: c.port1, ui: c.port2 };
}

export function openLiveUi(recording: RecordingHandle, stuckMs: number, feed: FeedChannel, interceptor?: Interceptor): LiveUi {
  const intercept: UiIntercept | undefined = interceptor && {
    held: () => interceptor.heldList(),
    request: (line) => controlCommand(interceptor, line),
    onChange: (cb) => {
      const prev = interceptor.onChange;
      interceptor.onChange = () => {
        prev();
        cb();
      };
    },
  };
  return startTui({ mode: 'live', dbPath: recording.dbPath, stuckMs }, { feedPort: feed.ui, dropped: () => recording.client.droppedBytes, intercept });
}
