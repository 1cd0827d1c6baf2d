// RecorderClient, the relay side of recording: chunks are copied into batches
// for the worker; past the memory budget a direction stops being recorded and
// one gap record says how much was dropped.

import { it, expect } from 'vitest';
import { EventEmitter } from 'node:events';
import type { Worker } from 'node:worker_threads';
import { RecorderClient, RecordItem } from '../../src/session/recorder.js';

class FakeWorker extends EventEmitter {
  posted: RecordItem[][] = [];
  postMessage(m: { k: 'batch'; items: RecordItem[] }): void {
    this.posted.push(m.items);
  }
}

it('drops a direction once over budget, records one gap, and keeps the other direction', () => {
  const w = new FakeWorker();
  const r = new RecorderClient(w as unknown as Worker, { maxQueuedBytes: 100 });
  const chunk = (n: number) => new Uint8Array(n).fill(7);
  r.open({ id: 1, time: 0, label: 't' });
  r.data(1, '>', chunk(60), 1);
  r.data(1, '>', chunk(60), 2); // over budget: dropped, gap starts
  r.data(1, '>', chunk(10), 3); // same direction, same batch: added to the gap
  r.data(1, '<', chunk(30), 4); // within budget
  r.flush();
  const items = w.posted[0]!;
  expect(items.map((i) => i.k)).toEqual(['open', 'data', 'gap', 'data']);
  expect(items[2]).toMatchObject({ k: 'gap', id: 1, dir: '>', bytes: 70 });
  // The relayed buffer is not handed over: the worker gets its own copy.
  const sent = chunk(5);
  w.emit('message', { k: 'ack', bytes: 90 });
  r.data(1, '>', sent, 5); // the direction stays dropped after the gap
  r.data(1, '<', sent, 6);
  r.flush();
  expect(w.posted[1]!.map((i) => i.k)).toEqual(['data']);
  const copy = (w.posted[1]![0] as Extract<RecordItem, { k: 'data' }>).bytes;
  expect(copy).toEqual(sent);
  expect(copy.buffer).not.toBe(sent.buffer);
  expect(r.droppedBytes).toBe(75);
  // A new connection id is recorded again.
  r.close(1, 7, null);
  r.data(2, '>', chunk(5), 8);
  r.flush();
  expect(w.posted[2]!.map((i) => i.k)).toEqual(['close', 'data']);
});
