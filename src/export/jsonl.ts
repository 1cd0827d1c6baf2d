// `export --format jsonl`: one JSON object per call, in the order the calls
// were sent: ids, the waiting and executing threads, times, params/results.

import type { SessionRows } from '../store/reader.js';
import { RowIndex, latencyMs } from '../session/row-index.js';
import { isoTime } from '../log/ipclog.js';

export function* jsonlLines(rows: SessionRows): Generator<string> {
  const ix = new RowIndex(rows.processes, rows.threads);
  for (const c of rows.calls) {
    yield JSON.stringify({
      id: c.id,
      conn: c.conn,
      questionId: c.questionId,
      requestNo: c.requestNo,
      method: c.title,
      target: c.target,
      caller: ix.callerLabel(c),
      callerThread: c.caller,
      executor: ix.executorLabel(c),
      executorThread: c.executor,
      clientProcess: ix.processLabel(c.clientProcess),
      serverProcess: ix.processLabel(c.serverProcess),
      parent: c.parent,
      depth: c.depth,
      status: c.status,
      sent: isoTime(c.sent),
      returned: c.returned === null ? null : isoTime(c.returned),
      latencyMs: latencyMs(c),
      cancelRequested: c.cancelRequested === null ? null : isoTime(c.cancelRequested),
      finished: c.finished === null ? null : isoTime(c.finished),
      params: c.params,
      results: c.results,
      exception: c.exception,
    });
  }
}
