// Frames → decoded messages: the envelope, the RPC message, and for calls and
// their returns the params/results decoded with the method's struct. Returns
// are paired with their Call or Bootstrap by (direction, question id).

import { Framer, Frame, FramerEvent } from './framer.js';
import { WireMessage, DecodeError } from './wire.js';
import { SchemaSet, StructInfo, InterfaceInfo, MethodInfo, Brand } from './schema.js';
import { DStruct, decodeStructAt } from './dynamic.js';
import { RpcMessage, decodeEnvelope, readRpc, Payload, peekQuestion } from './rpc.js';
import { renderStruct } from './text.js';

/** `>`: from the side that connected (A) to the other (B); `<`: back. */
export type Dir = '>' | '<';

export function otherDir(d: Dir): Dir {
  return d === '>' ? '<' : '>';
}

export interface DecodedMessage {
  /** Index across both directions, in arrival order (absent for bytes that never formed a whole frame). */
  n?: number;
  dir: Dir;
  /** The frame (absent for framing errors). */
  frame: Frame | null;
  /** Stream offset of the frame or error in its direction. */
  offset: number;
  /** The RPC message (null when the envelope could not be decoded). */
  rpc: RpcMessage | null;
  /** Call, or Return paired with its call: the method. */
  iface?: InterfaceInfo;
  method?: MethodInfo;
  /** `Iface.method$Params` / `$Results`. */
  name?: string;
  /** Decoded params/results (null content decodes as the empty struct). */
  content?: DStruct;
  /** A Return paired with a Bootstrap. */
  bootstrap?: boolean;
  exception?: string;
  error?: string;
  /** True for errors found by the framer (not a whole message). */
  framingError?: boolean;
}

interface Question {
  bootstrap: boolean;
  iface?: InterfaceInfo;
  method?: MethodInfo;
}

function errorText(e: unknown): string {
  if (e instanceof DecodeError) return e.message;
  if (e instanceof RangeError) return `Message contained out-of-bounds data (${e.message})`;
  return e instanceof Error ? e.message : String(e);
}

export class MessageDecoder {
  private n = 0;
  private readonly questions = new Map<string, Question>();

  constructor(
    readonly schemas: SchemaSet,
    readonly rpcSchemas: SchemaSet,
  ) {}

  /** Decodes one whole frame; never throws. */
  decode(dir: Dir, frame: Frame): DecodedMessage {
    const d: DecodedMessage = { n: this.n++, dir, frame, offset: frame.offset, rpc: null };
    let wire: WireMessage;
    try {
      wire = new WireMessage(frame.segments);
      d.rpc = readRpc(this.rpcSchemas, wire);
    } catch (e) {
      d.error = errorText(e);
      this.registerFromHeader(d.dir, frame);
      return d;
    }
    try {
      this.payload(d, wire);
    } catch (e) {
      d.error = errorText(e);
      delete d.name;
      delete d.content;
    }
    return d;
  }

  /** Turns a framer error into an entry; a rejected whole frame is numbered like a message. */
  framingError(dir: Dir, e: Extract<FramerEvent, { kind: 'error' }>): DecodedMessage {
    const d: DecodedMessage = { dir, frame: null, offset: e.offset, rpc: null, error: e.reason, framingError: true };
    if (e.wholeFrame) d.n = this.n++;
    return d;
  }

  /**
   * A message whose envelope failed to decode may still have asked a
   * question (the reference reads the header before the rest): register it
   * so that its Return is paired.
   */
  private registerFromHeader(dir: Dir, frame: Frame): void {
    try {
      const h = peekQuestion(new WireMessage(frame.segments));
      if (!h) return;
      const m = h.bootstrap ? null : this.schemas.method(h.interfaceId, h.methodId);
      this.questions.set(dir + h.questionId, { bootstrap: h.bootstrap, iface: m?.iface, method: m?.method });
    } catch {
      // the header itself is unreadable: no question was asked
    }
  }

  private payload(d: DecodedMessage, wire: WireMessage): void {
    const r = d.rpc!;
    const key = (dir: Dir, id: number) => dir + id;
    switch (r.type) {
      case 'bootstrap':
        this.questions.set(key(d.dir, r.questionId), { bootstrap: true });
        return;
      case 'call': {
        const m = this.schemas.method(r.interfaceId, r.methodId);
        this.questions.set(key(d.dir, r.questionId), { bootstrap: false, iface: m?.iface, method: m?.method });
        if (!m) return;
        d.iface = m.iface;
        d.method = m.method;
        this.content(d, wire, r.params, m.method.paramId, m.method.paramBrand);
        return;
      }
      case 'return': {
        const k = key(otherDir(d.dir), r.answerId);
        const q = this.questions.get(k);
        if (r.exception) d.exception = r.exception.reason;
        else if (q?.bootstrap && r.results) d.bootstrap = true;
        if (q?.method) {
          d.iface = q.iface;
          d.method = q.method;
          if (r.results) this.content(d, wire, r.results, q.method.resultId, q.method.resultBrand);
        }
        if (q) this.questions.delete(k);
        return;
      }
      default:
        return;
    }
  }

  private content(d: DecodedMessage, wire: WireMessage, p: Payload, structId: string, brand: Brand | null): void {
    const info: StructInfo | undefined = this.schemas.structs.get(structId);
    if (!info) return;
    const ctx = { schemas: this.schemas, msg: wire, capCount: p.capTable.length };
    d.content = decodeStructAt(ctx, p.content?.loc ?? null, p.content?.nest ?? 1, info, brand);
    d.name = info.name;
  }
}

/** Params/results in capnp's text format, or undefined when not decoded. */
export function contentText(d: DecodedMessage, schemas: SchemaSet): string | undefined {
  return d.content ? renderStruct(d.content, schemas) : undefined;
}

/** The whole rpc.Message in text format (payload contents as `<opaque pointer>`), decoded again from the frame. */
export function envelopeText(d: DecodedMessage, rpcSchemas: SchemaSet): string | undefined {
  return d.frame && d.rpc ? renderStruct(decodeEnvelope(rpcSchemas, new WireMessage(d.frame.segments)), rpcSchemas) : undefined;
}

/** Both directions of one connection: chunks in, decoded messages out. */
export class StreamDecoder {
  private readonly framers: Record<Dir, Framer> = { '>': new Framer(), '<': new Framer() };

  constructor(readonly messages: MessageDecoder) {}

  push(dir: Dir, chunk: Uint8Array): DecodedMessage[] {
    return this.collect(dir, this.framers[dir].push(chunk));
  }

  /** Bytes of this direction went missing: stop decoding it. */
  abandon(dir: Dir): void {
    this.framers[dir].abandon();
  }

  end(dir: Dir): DecodedMessage[] {
    return this.collect(dir, this.framers[dir].end());
  }

  private collect(dir: Dir, events: FramerEvent[]): DecodedMessage[] {
    return events.map((e) => (e.kind === 'frame' ? this.messages.decode(dir, e.frame) : this.messages.framingError(dir, e)));
  }
}
