// Between the relay and the pipeline: the relay hands over chunks (the tap)
// and goes on relaying; the recorder queues them and decodes, logs and
// stores in batches, off the relay path. If it falls behind by more than
// its memory budget, chunks are dropped from recording (never from
// relaying) and the gap is recorded.

import type { Dir } from '../decoder/messages.js';
import type { Pipeline, ConnOpen } from './pipeline.js';

type Item =
  | { k: 'open'; info: ConnOpen }
  | { k: 'data'; id: number; dir: Dir; bytes: Uint8Array; time: number }
  | { k: 'end'; id: number; dir: Dir; time: number }
  | { k: 'close'; id: number; time: number; reason: string | null }
  | { k: 'gap'; id: number; dir: Dir; time: number; bytes: number };

export interface RecorderOptions {
  /** Queued bytes beyond which chunks are dropped from recording. */
  maxQueuedBytes?: number;
  /** Runs one batch of pipeline work (e.g. inside a database transaction). */
  batch?: (work: () => void) => void;
  /** Called after every batch (flush the log, write the model, refresh views). */
  afterBatch?: () => void;
}

export class Recorder {
  private queue: Item[] = [];
  private queuedBytes = 0;
  private scheduled = false;
  /** Directions that lost bytes: everything after a gap is not decodable. */
  private readonly gapped = new Map<string, Extract<Item, { k: 'gap' }>>();
  private readonly maxQueuedBytes: number;
  private idle: (() => void)[] = [];
  /** Bytes dropped from recording, in total. */
  droppedBytes = 0;

  constructor(
    private readonly pipeline: Pipeline,
    private readonly opts: RecorderOptions = {},
  ) {
    this.maxQueuedBytes = opts.maxQueuedBytes ?? 64 * 1024 * 1024;
  }

  // ---- the tap: called by the relay; cheap, never throws ----

  open(info: ConnOpen): void {
    this.push({ k: 'open', info });
  }

  data(id: number, dir: Dir, bytes: Uint8Array, time: number): void {
    const key = `${id}${dir}`;
    const gap = this.gapped.get(key);
    if (gap || this.queuedBytes + bytes.length > this.maxQueuedBytes) {
      this.droppedBytes += bytes.length;
      if (gap) gap.bytes += bytes.length;
      else {
        const g: Extract<Item, { k: 'gap' }> = { k: 'gap', id, dir, time, bytes: bytes.length };
        this.gapped.set(key, g);
        this.push(g);
      }
      return;
    }
    this.queuedBytes += bytes.length;
    this.push({ k: 'data', id, dir, bytes, time });
  }

  end(id: number, dir: Dir, time: number): void {
    this.push({ k: 'end', id, dir, time });
  }

  close(id: number, time: number, reason: string | null): void {
    this.push({ k: 'close', id, time, reason });
  }

  /** Resolves once everything queued so far has been processed. */
  drained(): Promise<void> {
    if (this.queue.length === 0 && !this.scheduled) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private push(item: Item): void {
    this.queue.push(item);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  private drain(): void {
    const items = this.queue;
    this.queue = [];
    const work = () => {
      for (const it of items) {
        switch (it.k) {
          case 'open':
            this.pipeline.open(it.info);
            break;
          case 'data':
            this.queuedBytes -= it.bytes.length;
            this.pipeline.chunk(it.id, it.dir, it.bytes, it.time);
            break;
          case 'end':
            this.pipeline.end(it.id, it.dir, it.time);
            break;
          case 'close':
            this.pipeline.close(it.id, it.time, it.reason);
            this.gapped.delete(`${it.id}>`);
            this.gapped.delete(`${it.id}<`);
            break;
          case 'gap':
            // The gap's byte count keeps growing while bytes are dropped; record it as it stands.
            this.pipeline.gap(it.id, it.dir, it.bytes, it.time);
            break;
        }
      }
    };
    try {
      if (this.opts.batch) this.opts.batch(work);
      else work();
      this.opts.afterBatch?.();
    } finally {
      this.scheduled = false;
      if (this.queue.length > 0) {
        this.scheduled = true;
        setImmediate(() => this.drain());
      } else {
        const idle = this.idle;
        this.idle = [];
        for (const f of idle) f();
      }
    }
  }
}
