// How capabilities cross one connection: the export table (ours, held by the
// peer, reference counted; the same object keeps one id) and the import table
// (the peer's, Release sent when our last reference goes), and the
// translation between capabilities and cap-table descriptors both ways.

import type { Pointer } from 'capnp-es';
import { SchemaSet, StructInfo, Brand } from '../decoder/schema.js';
import type { CapDescriptor } from '../decoder/rpc.js';
import { BrokenHook, Cap, CallRequest, CallResult, Hook, PromiseHook, brokenCap, isCap } from './cap.js';
import { EncodeError, encodeStruct } from './encode.js';
import * as env from './envelope.js';
import { RpcError, toException } from './errors.js';
import { ImportHook, QuestionTarget, RemoteOwner } from './remote.js';
import { Export, ProtocolError, exportedIds, lowestFree } from './tables.js';
import type { Plain } from './values.js';

/** What the tables need from their connection. */
export interface CapTableLink {
  readonly schemas: SchemaSet;
  /** Queues a message for the peer (dropped once the connection is gone). */
  write(bytes: Uint8Array): void;
  isOpen(): boolean;
  sendCall(target: env.Target, req: CallRequest): CallResult;
  /** A capability for the result at `ops` of one of our answers (receiverAnswer). */
  answerCap(questionId: number, ops: number[]): Cap;
}

export class CapTable implements RemoteOwner {
  private readonly exports = new Map<number, Export>();
  private readonly exportByHook = new Map<Hook, number>();
  private readonly imports = new Map<number, ImportHook>();

  constructor(private readonly link: CapTableLink) {}

  get schemas(): SchemaSet {
    return this.link.schemas;
  }

  sendCall(target: env.Target, req: CallRequest): CallResult {
    return this.link.sendCall(target, req);
  }

  /** Calls on a question's results before it returns go here. */
  questionTarget(questionId: number, ops: number[]): QuestionTarget {
    return new QuestionTarget(this, questionId, ops);
  }

  /** A new reference to what export `id` stands for, or null when there is no such export. */
  exported(id: number): Cap | null {
    return this.exports.get(id)?.cap.dup() ?? null;
  }

  /** The import table entry `id`, if any. */
  imported(id: number): ImportHook | null {
    return this.imports.get(id) ?? null;
  }

  /** True when `h` is one of this connection's imports. */
  isOurImport(h: Hook): h is ImportHook {
    return h instanceof ImportHook && h.conn === this;
  }

  /** Encodes a params/results struct into a payload; returns its cap table (exports counted). */
  encodeContent(content: Pointer, info: StructInfo, brand: Brand | null, value: Plain): env.Descriptor[] {
    const descs: env.Descriptor[] = [];
    try {
      encodeStruct(
        {
          schemas: this.schemas,
          capIndex: (v) => {
            if (v === null) return null;
            if (!isCap(v)) throw new EncodeError('expected a capability (Cap) or null');
            if (v.isReleased) throw new EncodeError('a released capability was passed');
            const d = this.descriptorFor(v);
            if (!d) return null;
            descs.push(d);
            return descs.length - 1;
          },
        },
        content,
        info,
        brand,
        value,
      );
    } catch (e) {
      for (const id of exportedIds(descs)) this.releaseExport(id, 1);
      throw e;
    }
    return descs;
  }

  /** How a capability is written for this peer (export refcounts are taken here). */
  descriptorFor(cap: Cap): env.Descriptor | null {
    const h = cap.hook.innermost();
    if (h instanceof ImportHook && h.conn === this) return { kind: 'receiverHosted', id: h.id };
    if (h instanceof BrokenHook) return null;
    if (h instanceof PromiseHook && !h.settled) {
      const t = h.target;
      if (t instanceof QuestionTarget && t.conn === this) return { kind: 'receiverAnswer', questionId: t.questionId, ops: t.ops };
      return { kind: 'senderPromise', id: this.exportHook(h, true) };
    }
    return { kind: 'senderHosted', id: this.exportHook(h, false) };
  }

  private exportHook(h: Hook, promise: boolean): number {
    const known = this.exportByHook.get(h);
    if (known !== undefined) {
      this.exports.get(known)!.refcount++;
      return known;
    }
    const id = lowestFree(this.exports);
    this.exports.set(id, { id, hook: h, cap: Cap.fromHook(h), refcount: 1 });
    this.exportByHook.set(h, id);
    if (promise) void h.whenResolved().then((to) => this.sendResolve(id, h, to));
    return id;
  }

  /** An exported promise resolved: tell the peer what it became. */
  private sendResolve(id: number, promise: Hook, to: Hook): void {
    const e = this.exports.get(id);
    if (!this.link.isOpen() || !e || e.hook !== promise) return;
    if (to instanceof BrokenHook) {
      const x = toException(to.error);
      this.link.write(env.resolveMessage(id, x));
      return;
    }
    const c = Cap.fromHook(to);
    const d = this.descriptorFor(c);
    c.release();
    this.link.write(env.resolveMessage(id, d));
  }

  /** Export refcount down by `n`; the entry goes at zero. */
  releaseExport(id: number, n: number): void {
    const e = this.exports.get(id);
    if (!e) throw new ProtocolError('Tried to release invalid export ID.');
    if (n > e.refcount) throw new ProtocolError("Tried to drop export's refcount below zero.");
    e.refcount -= n;
    if (e.refcount === 0) {
      this.exports.delete(id);
      if (this.exportByHook.get(e.hook) === id) this.exportByHook.delete(e.hook);
      e.cap.release();
    }
  }

  /** The last local reference to an import went: Release it (later, as C++ does). */
  dropImport(h: ImportHook): void {
    if (this.imports.get(h.id) === h) this.imports.delete(h.id);
    const n = h.remoteRefcount;
    h.remoteRefcount = 0;
    if (!this.link.isOpen() || n === 0) return;
    queueMicrotask(() => this.link.write(env.releaseMessage(h.id, n)));
  }

  /** A capability from a received cap table (one new reference). */
  receiveCap(d: CapDescriptor): Cap | null {
    switch (d.kind) {
      case 'senderHosted':
      case 'senderPromise': {
        let h = this.imports.get(d.id);
        if (!h) {
          h = new ImportHook(this, d.id, d.kind === 'senderPromise');
          this.imports.set(d.id, h);
        }
        h.remoteRefcount++;
        return Cap.fromHook(h, null, this.schemas);
      }
      case 'receiverHosted':
        return this.exported(d.id) ?? brokenCap(new RpcError('failed', "invalid 'receiverHosted' export ID"));
      case 'receiverAnswer':
        return this.link.answerCap(d.questionId, d.transform);
      case 'thirdPartyHosted':
        return brokenCap(new RpcError('unimplemented', 'three-party handoff is not supported'));
      default:
        return null;
    }
  }

  /** Reference counts, for tests and tracing. */
  stats(): { exports: { id: number; refcount: number }[]; imports: { id: number; remoteRefcount: number; localRefs: number }[] } {
    return {
      exports: [...this.exports.values()].map((e) => ({ id: e.id, refcount: e.refcount })).sort((a, b) => a.id - b.id),
      imports: [...this.imports.values()].map((i) => ({ id: i.id, remoteRefcount: i.remoteRefcount, localRefs: i.refs })).sort((a, b) => a.id - b.id),
    };
  }

  /** The connection is gone: drop our references to everything exported, forget imports. */
  clear(): void {
    const ex = [...this.exports.values()];
    this.exports.clear();
    this.exportByHook.clear();
    for (const e of ex) e.cap.release();
    this.imports.clear();
  }
}
