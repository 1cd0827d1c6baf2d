// Recording off the relay's thread. The relay's tap hands each chunk to
// RecorderClient, which copies it into a batch posted to a worker thread
// once per event-loop turn; the worker decodes, logs and stores. The relay
// never waits: if the worker falls behind by more than the memory budget,
// chunks are dropped from recording (never from relaying) and the gap is
// recorded.

import { Worker } from 'node:worker_threads';
import type { Dir } from '../decoder/messages.js';
import type { ConnOpen } from './pipeline.js';
import type { FeedBatch } from './rows.js';

export type RecordItem =
  | { k: 'open'; info: ConnOpen }
  | { k: 'data'; id: number; dir: Dir; bytes: Uint8Array; time: number }
  | { k: 'end'; id: number; dir: Dir; time: number }
  | { k: 'close'; id: number; time: number; reason: string | null }
  | { k: 'gap'; id: number; dir: Dir; time: number; bytes: number };

/** Messages from the worker. */
export type WorkerReply =
  | { k: 'ack'; bytes: number }
  | { k: 'ready'; dbPath: string }
  | { k: 'done'; droppedBytes: number }
  | { k: 'error'; message: string; user: boolean }
  | { k: 'feed'; batch: FeedBatch };

export interface RecorderClientOptions {
  maxQueuedBytes?: number;
}

export class RecorderClient {
  private batch: RecordItem[] = [];
  private transfer: ArrayBuffer[] = [];
  private scheduled = false;
  private inFlight = 0;
  private readonly maxQueuedBytes: number;
  /** Directions that lost bytes: nothing after a gap can be framed, so the rest is not recorded. */
  private readonly gapped = new Set<string>();
  /** Gap records in the batch not posted yet, by direction: later drops add to them. */
  private readonly pendingGaps = new Map<string, Extract<RecordItem, { k: 'gap' }>>();
  droppedBytes = 0;

  constructor(
    private readonly worker: Worker,
    opts: RecorderClientOptions = {},
  ) {
    this.maxQueuedBytes = opts.maxQueuedBytes ?? 64 * 1024 * 1024;
    worker.on('message', (m: WorkerReply) => {
      if (m.k === 'ack') this.inFlight -= m.bytes;
    });
  }

  open(info: ConnOpen): void {
    this.push({ k: 'open', info });
  }

  data(id: number, dir: Dir, bytes: Uint8Array, time: number): void {
    const key = `${id}${dir}`;
    if (this.gapped.has(key) || this.inFlight + bytes.length > this.maxQueuedBytes) {
      this.droppedBytes += bytes.length;
      // One gap record per direction, counting what was dropped until its batch leaves
      // (the total goes to the session's meta at the end).
      const pending = this.pendingGaps.get(key);
      if (pending) pending.bytes += bytes.length;
      else if (!this.gapped.has(key)) {
        const g: Extract<RecordItem, { k: 'gap' }> = { k: 'gap', id, dir, time, bytes: bytes.length };
        this.gapped.add(key);
        this.pendingGaps.set(key, g);
        this.push(g);
      }
      return;
    }
    const copy = new Uint8Array(bytes); // own buffer, transferred to the worker without a second copy
    this.inFlight += copy.length;
    this.transfer.push(copy.buffer as ArrayBuffer);
    this.push({ k: 'data', id, dir, bytes: copy, time });
  }

  end(id: number, dir: Dir, time: number): void {
    this.push({ k: 'end', id, dir, time });
  }

  close(id: number, time: number, reason: string | null): void {
    this.gapped.delete(`${id}>`);
    this.gapped.delete(`${id}<`);
    this.push({ k: 'close', id, time, reason });
  }

  /** Posts what is batched now (also done automatically once per event-loop turn). */
  flush(): void {
    this.scheduled = false;
    if (this.batch.length === 0) return;
    const items = this.batch;
    const transfer = this.transfer;
    this.batch = [];
    this.transfer = [];
    this.pendingGaps.clear();
    this.worker.postMessage({ k: 'batch', items }, transfer);
  }

  private push(item: RecordItem): void {
    this.batch.push(item);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }
}
