// The recording pipeline: socket chunks → frames → decoded messages →
// session model → sinks (log, store, TUI). Live traffic and replayed frames
// go through the same path.

import { MessageDecoder, StreamDecoder, DecodedMessage, Dir } from '../decoder/messages.js';
import type { SchemaSet } from '../decoder/schema.js';
import { SessionModel, Update } from './model.js';
import type { CallRecord, ConnRecord, ProcessRecord } from './records.js';
import type { Intervention } from '../intercept/engine.js';

export interface ConnOpen {
  id: number;
  time: number;
  label: string;
  /** Process names when the transport knows them (e.g. exec children). */
  client?: string;
  server?: string;
}

export interface Sink {
  open?(conn: ConnRecord, info: ConnOpen): void;
  /** Raw bytes as they crossed the socket (before framing). */
  chunk?(conn: number, dir: Dir, bytes: Uint8Array, time: number): void;
  message?(conn: ConnRecord, d: DecodedMessage, update: Update, time: number): void;
  end?(conn: ConnRecord, dir: Dir, time: number): void;
  close?(conn: ConnRecord, time: number, reason: string | null, interrupted: CallRecord[]): void;
  /** A placeholder process (`client#1`) got its real name from a thread name (said once, before the message that told it). */
  processNamed?(conn: ConnRecord, was: string, process: ProcessRecord, time: number): void;
  /** Bytes the recorder could not keep up with (not decoded; relayed all the same). `accounted`: the store wrote its rows ahead (Store.gapAhead). */
  gap?(conn: ConnRecord, dir: Dir, bytes: number, time: number, accounted?: boolean): void;
  /** Something the interceptor did on the wire (hold, release, delay, injected exception, disconnect). */
  intervention?(conn: ConnRecord, ev: Intervention): void;
}

export class Pipeline {
  readonly model: SessionModel;
  private readonly streams = new Map<number, StreamDecoder>();
  private readonly decoders = new Map<number, MessageDecoder>();

  constructor(
    readonly schemas: SchemaSet,
    readonly rpcSchemas: SchemaSet,
    private readonly sinks: Sink[],
    opts: { retainHistory?: boolean } = {},
  ) {
    this.model = new SessionModel(schemas, opts);
  }

  /** Adds a sink after the others. */
  addSink(s: Sink): void {
    this.sinks.push(s);
  }

  open(info: ConnOpen): void {
    const rec = this.model.open(info.id, info.time, info.label, { client: info.client, server: info.server });
    const md = new MessageDecoder(this.schemas, this.rpcSchemas);
    this.decoders.set(info.id, md);
    this.streams.set(info.id, new StreamDecoder(md));
    for (const s of this.sinks) s.open?.(rec, info);
  }

  chunk(id: number, dir: Dir, bytes: Uint8Array, time: number): void {
    const stream = this.streams.get(id);
    if (!stream) return;
    for (const s of this.sinks) s.chunk?.(id, dir, bytes, time);
    this.deliver(id, stream.push(dir, bytes), time);
  }

  /** End of one direction (EOF). */
  end(id: number, dir: Dir, time: number): void {
    const stream = this.streams.get(id);
    if (!stream) return;
    this.deliver(id, stream.end(dir), time);
    const rec = this.model.conn(id)!;
    for (const s of this.sinks) s.end?.(rec, dir, time);
  }

  close(id: number, time: number, reason: string | null): void {
    const stream = this.streams.get(id);
    if (!stream) return;
    this.deliver(id, [...stream.end('>'), ...stream.end('<')], time);
    const interrupted = this.model.close(id, time, reason);
    const rec = this.model.conn(id)!;
    for (const s of this.sinks) s.close?.(rec, time, reason, interrupted);
    this.streams.delete(id);
    this.decoders.delete(id);
  }

  gap(id: number, dir: Dir, bytes: number, time: number, accounted = false): void {
    const rec = this.model.conn(id);
    if (!rec) return;
    this.streams.get(id)?.abandon(dir);
    for (const s of this.sinks) s.gap?.(rec, dir, bytes, time, accounted);
  }

  /** The connection is open (opened and not closed yet). */
  isOpen(id: number): boolean {
    return this.streams.has(id);
  }

  intervention(ev: Intervention): void {
    const rec = this.model.conn(ev.conn);
    if (!rec) return;
    for (const s of this.sinks) s.intervention?.(rec, ev);
  }

  private deliver(id: number, ds: DecodedMessage[], time: number): void {
    if (ds.length === 0) return;
    const rec = this.model.conn(id)!;
    for (const d of ds) {
      const u = this.model.message(id, d, time);
      for (const n of this.model.takeNamings()) {
        for (const s of this.sinks) s.processNamed?.(this.model.conn(n.conn) ?? rec, n.was, n.process, time);
      }
      for (const s of this.sinks) s.message?.(rec, d, u, time);
    }
  }
}
