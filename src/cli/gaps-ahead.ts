// Gaps written ahead of the backlog. While recording is behind, the ring
// holds a backlog of data, and the relay, finding no room, drops what comes
// next and reports it as gap records behind that backlog. Read in order, those
// gap records would reach the database only once the whole backlog is
// recorded (seconds on a busy machine), so a killed process would lose, as
// well as the backlog, every byte dropped meanwhile without a trace. Instead
// each batch looks ahead in the ring (headers only) and writes the gaps it
// finds at once (Store.gapAhead): a killed process then loses the backlog
// only. The gap rows move after the chunks of their direction recorded later
// (the database stays in stream order at every commit), and into their place
// when the stream reaches them.

import type { RingReader } from '../session/ring.js';
import { KIND } from '../session/ring.js';
import type { Recording } from './recording.js';

/**
 * How many records one transaction looks ahead at, at most (headers only,
 * about 1-3 ms per 70,000 once compiled). A backlog of small chunks is many
 * records (8 MiB of 100-byte chunks: 70,000), and the gaps are at its end: a
 * few thousand per look took half a second of batches to get there.
 */
const AHEAD_RECORDS = 1 << 17;

export class GapsAhead {
  /** Ring records (by count) whose gap is written ahead. */
  private readonly written = new Set<number>();

  constructor(
    private readonly reader: RingReader,
    private readonly recording: Recording,
  ) {}

  /**
   * Inside a batch's transaction, once its items are applied: writes the gaps
   * of the records ahead of those read, for connections whose open is
   * recorded (others wait their turn).
   */
  write(): void {
    const { reader, recording } = this;
    reader.lookAhead(AHEAD_RECORDS, (r, count) => {
      if (r.kind !== KIND.gap || !recording.pipeline.isOpen(r.conn)) return;
      recording.store.gapAhead(r.conn, r.dir, reader.number(r), r.time);
      this.written.add(count);
    });
  }

  /** Whether the gap record just read (its count) was written ahead: its item then says so (`ahead`). Asked once per record. */
  reached(count: number): boolean {
    return this.written.delete(count);
  }
}
