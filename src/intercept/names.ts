// Where the interceptor learns the names its `thread:` and `proc:` rules (and
// a Return's call, when that call went by before a rule was in force) are
// matched against: the session model's attribution of a call, which needs
// every message of the connection from its start.
//
// The recording worker decodes every message anyway and holds that model, so
// in the recording commands it is the source (WorkerNames, in
// cli/recording.ts): while asked (`want`), it posts after each batch the
// calls of that batch with their names, and how far it has got in the ring.
// The worker sees a message some ms after the relay did, so a decision that
// needs names waits (in its direction's queue) until the worker has applied
// the ring record of that message (`mark` / `reached`): never early, so no
// message is missed because its names came late.
//
// ModelNames runs such a model here, on the bytes the interceptor records,
// synchronously (every mark reached at once): for an interceptor with no
// recording worker (tests, tools).

import type { Dir } from '../decoder/messages.js';
import { MessageDecoder } from '../decoder/messages.js';
import type { SchemaSet } from '../decoder/schema.js';
import { SessionModel } from '../session/model.js';
import { threadLabel } from '../session/records.js';
import type { CallRecord } from '../session/records.js';
import { FrameSplitter, toFrame } from './split.js';

/** What a rule may ask of a call beyond its own message. */
export interface CallNames {
  title: string;
  iface: string | null;
  method: string | null;
  sent: number;
  caller: string | null;
  executor: string | null;
  client: string;
  server: string;
}

export interface NamesSource {
  /** Asks for names (a rule is in force), or stops asking. */
  want(on: boolean): void;
  /** A mark for everything recorded so far: once reached, the names of what was recorded by then are known (or never will be). */
  mark(): number;
  reached(mark: number): boolean;
  /** The names of the call `questionId` sent in `dir` on `conn`, or undefined (not known, or not yet). */
  call(conn: number, dir: Dir, questionId: number): CallNames | undefined;
  /** The interceptor is done with this call (its Return matched). */
  forget?(conn: number, dir: Dir, questionId: number): void;
  /** A message waits for names: get them soon. */
  hurry?(): void;
  /** Called when marks were reached or names came. */
  onUpdate: () => void;
  /** What the interceptor recorded (ModelNames feeds its model with it). */
  recorded?(conn: number, dir: Dir, bytes: Uint8Array, time: number): void;
  opened?(conn: number, time: number, labels: { label?: string; client?: string; server?: string }): void;
  closed?(conn: number, time: number): void;
}

export const namesKey = (conn: number, dir: Dir, questionId: number): string => `${conn}${dir}${questionId}`;

/** The names of a call record, as rules see them. */
export function callNames(c: CallRecord): CallNames {
  return {
    title: c.title, iface: c.iface, method: c.method, sent: c.sent,
    caller: c.caller ? threadLabel(c.caller) : null, executor: c.executor ? threadLabel(c.executor) : null,
    client: c.clientProcess.label, server: c.serverProcess.label,
  };
}

/** A session model of its own, fed synchronously with what the interceptor records. */
export class ModelNames implements NamesSource {
  private readonly model: SessionModel;
  private readonly decoders = new Map<number, { dec: MessageDecoder; split: Record<Dir, FrameSplitter> }>();
  private readonly calls = new Map<string, CallRecord>();
  onUpdate: () => void = () => {};

  constructor(
    private readonly schemas: SchemaSet,
    private readonly rpcSchemas: SchemaSet,
  ) {
    this.model = new SessionModel(schemas, { retainHistory: false, renderText: false });
  }

  want(): void {}
  mark(): number {
    return 0;
  }
  reached(): boolean {
    return true;
  }

  call(conn: number, dir: Dir, questionId: number): CallNames | undefined {
    const c = this.calls.get(namesKey(conn, dir, questionId));
    return c ? callNames(c) : undefined;
  }

  opened(conn: number, time: number, labels: { label?: string; client?: string; server?: string }): void {
    this.model.open(conn, time, labels.label ?? `connection ${conn}`, { client: labels.client, server: labels.server });
    this.decoders.set(conn, { dec: new MessageDecoder(this.schemas, this.rpcSchemas), split: { '>': new FrameSplitter(), '<': new FrameSplitter() } });
  }

  closed(conn: number, time: number): void {
    this.decoders.delete(conn);
    for (const c of this.model.close(conn, time, null)) this.calls.delete(namesKey(c.conn, c.dir, c.questionId));
    for (const [k, c] of this.calls) if (c.conn === conn) this.calls.delete(k);
    this.model.skipDelta();
  }

  recorded(conn: number, dir: Dir, bytes: Uint8Array, time: number): void {
    const d = this.decoders.get(conn);
    if (!d) return;
    const s = d.split[dir];
    let off = s.position;
    for (const f of s.push(bytes)) {
      const u = this.model.message(conn, d.dec.decode(dir, toFrame(f, off)), time);
      off += f.length;
      const c = u.kind === 'call' || u.kind === 'return' || u.kind === 'finish' ? u.call : null;
      if (c) {
        const k = namesKey(c.conn, c.dir, c.questionId);
        if (c.retired) this.calls.delete(k);
        else this.calls.set(k, c);
      }
    }
    if (s.corrupt) s.drain();
    this.model.skipDelta();
    this.model.takeNamings();
  }
}
