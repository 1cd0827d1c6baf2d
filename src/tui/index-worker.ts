// The view's index reads, off the UI thread: the call index, the ids a
// filter matches, per-method statistics. A million-call recording takes
// seconds to scan; the UI keeps drawing meanwhile (view.ts shows the last
// calls first, and the full list when the index arrives).

import { parentPort, workerData } from 'node:worker_threads';
import { SessionReader } from '../store/reader.js';
import { computeStats } from './stats.js';
import { chainsAt, IndexRequest, IndexReply } from './index-client.js';

// Scans read every page once: a small page cache (the default is 16 MB per connection).
const reader = SessionReader.open((workerData as { path: string }).path, { cacheKb: 2048 });
const port = parentPort!;

port.on('message', (m: IndexRequest) => {
  let reply: IndexReply;
  try {
    switch (m.k) {
      case 'all': {
        const ix = reader.callIndex(m.afterId);
        reply = { k: 'all', seq: m.seq, index: ix };
        port.postMessage(reply, [ix.ids.buffer, ix.parents.buffer, ix.sent.buffer, ix.returned.buffer] as ArrayBuffer[]);
        return;
      }
      case 'ids': {
        const ids = reader.callIds(m.filter, m.afterId, m.upToId);
        reply = { k: 'ids', seq: m.seq, ids };
        port.postMessage(reply, [ids.buffer] as ArrayBuffer[]);
        return;
      }
      case 'span':
        reply = { k: 'span', seq: m.seq, span: reader.span() };
        port.postMessage(reply);
        return;
      case 'chains':
        reply = { k: 'chains', seq: m.seq, report: chainsAt(reader, m.q) };
        port.postMessage(reply);
        return;
      case 'stats':
        reply = { k: 'stats', seq: m.seq, rows: computeStats(reader, m.q) };
        port.postMessage(reply);
        return;
    }
  } catch (e) {
    port.postMessage({ k: 'error', seq: m.seq, message: (e as Error).message } satisfies IndexReply);
  }
});
