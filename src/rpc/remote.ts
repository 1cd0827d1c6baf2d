// Capabilities the peer hosts, as seen from our side of a connection: an
// entry of the import table (the peer exported it to us), and the target of
// calls pipelined on one of our questions that has not returned yet.

import { SchemaSet } from '../decoder/schema.js';
import { BrokenHook, Cap, CallRequest, CallResult, Hook, PipelineTarget } from './cap.js';
import type { Target } from './envelope.js';

/** What import hooks need from their connection. */
export interface RemoteOwner {
  readonly schemas: SchemaSet;
  sendCall(target: Target, req: CallRequest): CallResult;
  dropImport(h: ImportHook): void;
}

/** A capability the peer hosts (an entry of our import table). */
export class ImportHook extends Hook {
  readonly kind = 'import';
  /** How many times the peer has sent us this capability (what Release must give back). */
  remoteRefcount = 0;
  private resolution: Cap | Error | null = null;
  private waiters: (() => void)[] = [];

  constructor(
    readonly conn: RemoteOwner,
    readonly id: number,
    /** A senderPromise: the peer will Resolve it. */
    readonly isPromise: boolean,
  ) {
    super();
  }

  get schemas(): SchemaSet {
    return this.conn.schemas;
  }

  call(req: CallRequest): CallResult {
    if (this.resolution instanceof Cap) return this.resolution.hook.call(req);
    if (this.resolution instanceof Error) return new BrokenHook(this.resolution).call();
    return this.conn.sendCall({ kind: 'importedCap', id: this.id }, req);
  }

  override innermost(): Hook {
    if (this.resolution instanceof Cap) return this.resolution.hook.innermost();
    if (this.resolution instanceof Error) return new BrokenHook(this.resolution);
    return this;
  }

  override whenResolved(): Promise<Hook> {
    if (!this.isPromise || this.resolution !== null) return Promise.resolve(this.innermost());
    return new Promise<void>((r) => this.waiters.push(r)).then(() => this.innermost().whenResolved());
  }

  /** A Resolve arrived for this promise. */
  resolveTo(to: Cap | Error): void {
    if (this.resolution !== null) {
      if (to instanceof Cap) to.release();
      return;
    }
    this.resolution = to;
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  protected override dropped(): void {
    if (this.resolution instanceof Cap) this.resolution.release();
    this.conn.dropImport(this);
  }
}

/** Where calls on a not-yet-returned question's results go: a promisedAnswer target. */
export class QuestionTarget implements PipelineTarget {
  constructor(
    readonly conn: RemoteOwner,
    readonly questionId: number,
    readonly ops: number[],
  ) {}
  call(req: CallRequest): CallResult {
    return this.conn.sendCall({ kind: 'promisedAnswer', questionId: this.questionId, ops: this.ops }, req);
  }
}
