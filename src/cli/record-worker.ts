// The recording worker thread: receives batches of relay events, feeds them
// through the pipeline into the store and the log, acknowledges the bytes.

import { parentPort, workerData } from 'node:worker_threads';
import { Recording, RecordingOptions } from './recording.js';
import type { RecordItem, WorkerReply } from '../session/recorder.js';
import { UserError } from '../decoder/sources.js';

const port = parentPort!;
const reply = (m: WorkerReply) => port.postMessage(m);

let recording: Recording;
try {
  const opts = workerData as RecordingOptions;
  // The change feed beyond the store goes to the starting thread (the terminal UI) when asked for.
  recording = new Recording(opts, opts.feed ? [(batch) => reply({ k: 'feed', batch })] : []);
  reply({ k: 'ready', dbPath: recording.dbPath });
} catch (e) {
  reply({ k: 'error', message: (e as Error).message, user: e instanceof UserError });
  process.exit(0);
}

port.on('message', (m: { k: 'batch'; items: RecordItem[] } | { k: 'finish'; droppedBytes: number }) => {
  try {
    if (m.k === 'batch') {
      const bytes = recording.process(m.items);
      reply({ k: 'ack', bytes });
    } else {
      recording.finish(m.droppedBytes);
      reply({ k: 'done', droppedBytes: m.droppedBytes });
      port.close();
    }
  } catch (e) {
    reply({ k: 'error', message: (e as Error).message, user: e instanceof UserError });
  }
});
