// Builds a recording's -debug=ipc-style log for the replay UI's log pane off
// the UI thread: the recorded stream through the pipeline and the log
// formatter (as `ipc-trace replay --no-tui` does), posted in batches.

import { parentPort, workerData } from 'node:worker_threads';
import { SessionReader } from '../store/reader.js';
import { IpcLog } from '../log/ipclog.js';
import { replayInto } from '../cli/replay.js';
import { rowLogLines } from '../log/rowlog.js';
import { redactText, secretFields } from '../redact/redact.js';

const { path, maxLines, redact: extra } = workerData as { path: string; maxLines: number; redact: string[] | null };
const fields = extra ? secretFields(extra) : null;
const redact = fields ? (t: string) => redactText(t, fields) : null;
const reader = SessionReader.open(path);
// The pane shows a line's start (a terminal's width): params/results cut at 1,000 characters keep its memory small.
const maxChars = Math.min(1000, Number(reader.metaValue('max_chars') ?? 'Infinity'));
let batch: string[] = [];
let sent = 0;
const flush = (done: boolean) => {
  parentPort!.postMessage({ lines: batch, done });
  sent += batch.length;
  batch = [];
};
class Enough extends Error {}
try {
  if (!reader.hasStream()) {
    // A session without recorded traffic (imported, merged): its calls' lines from its rows,
    // for as many calls as the pane keeps lines (never the whole of a large session in memory).
    const rows = {
      meta: reader.meta(),
      processes: reader.processes(),
      threads: reader.threads(),
      caps: reader.caps(),
      calls: reader.callPage(0, Math.min(2000, Math.ceil(maxLines / 5))),
      connections: reader.connections(),
      span: reader.span(),
    };
    for (const l of rowLogLines(rows, { maxChars, redact })) {
      batch.push(l);
      if (batch.length >= 2000) flush(false);
      if (sent + batch.length >= maxLines) throw new Enough();
    }
  } else replayInto(reader, [
    new IpcLog((l) => {
      batch.push(l);
      if (batch.length >= 2000) flush(false);
      if (sent + batch.length >= maxLines) throw new Enough();
    }, maxChars, redact),
  ]);
} catch (e) {
  if (!(e instanceof Enough)) batch.push(`ipc-trace: the log could not be rebuilt: ${(e as Error).message}`);
}
flush(true);
reader.close();
