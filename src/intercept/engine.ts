// The interceptor: holds, delays, fails or cuts matching messages on the wire.
//
// The relay hands it every chunk of an intercepted connection (both
// directions) instead of writing it on; the interceptor splits the stream into
// frames (split.ts), records each frame as it arrives (the recording shows each
// direction as its sender wrote it, plus the Returns ipc-trace made up),
// decodes its envelope and method, matches the rules and decides when its
// bytes go out (sink.write). A direction is an ordered stream: a held or
// delayed message holds everything behind it in that direction of that
// connection, as a slow socket would; other connections and the other
// direction flow on.
//
// fail: the Call is never forwarded; a Return with an exception (answerId =
// the question) goes back to the caller instead, and the caller's later Finish
// for that question (which the callee never knew) is swallowed, as are Calls
// pipelined on the failed question's answer (failed the same way).

import { formatDuration } from '../mp/concepts.js';
import { now } from '../proxy/splice.js';
import { MessageDecoder, otherDir } from '../decoder/messages.js';
import type { Dir } from '../decoder/messages.js';
import type { SchemaSet } from '../decoder/schema.js';
import type { CallRow } from '../session/rows.js';
import { FrameSplitter, toFrame } from './split.js';
import { exceptionReturn } from './inject.js';
import { compileRule, MessageKind, MessageView, Rule } from './rules.js';

export interface InterceptSink {
  /** Sends bytes on in `dir` (to that direction's receiver). */
  write(dir: Dir, bytes: Uint8Array): void;
  /** EOF in `dir`, once everything before it is out. */
  end(dir: Dir): void;
  /** Closes the connection (a disconnect rule). */
  close(reason: string): void;
  /** Records bytes of `dir` (the recorder's tap). */
  record(dir: Dir, bytes: Uint8Array, time: number): void;
}

export type InterventionKind = 'hold' | 'release' | 'delay' | 'fail' | 'disconnect';

/** One thing the interceptor did: recorded in the session and printed in the log as `IPC wire TEXT`. */
export interface Intervention {
  time: number;
  conn: number;
  dir: Dir;
  kind: InterventionKind;
  /** Held message id (hold/release/delay/fail of a held message). */
  held: number | null;
  /** The Call's question id (or a Return's answer id). */
  questionId: number | null;
  title: string;
  /** The log line's text after `IPC wire `. */
  text: string;
}

/** A message held (or delayed) at the head of, or inside, a direction's queue. */
export interface HeldInfo {
  id: number;
  conn: number;
  dir: Dir;
  kind: MessageKind;
  title: string;
  questionId: number;
  since: number;
  /** For a delayed message: when it goes. */
  until: number | null;
  rule: string;
  /** Messages and bytes waiting behind it in its direction (including frames not complete yet). */
  behindMessages: number;
  behindBytes: number;
  /** The Calls among them (question id and arrival time): calls the hold keeps from their callee. */
  behindCalls: { questionId: number; time: number }[];
}

interface Entry {
  bytes: Uint8Array;
  held: Held | null;
  /** Made up by ipc-trace (a Return): must not go out in the middle of a frame passed through. */
  injected?: boolean;
  /** For a Call: its question and arrival time. */
  call?: { questionId: number; time: number };
}

interface Held {
  id: number;
  conn: ConnIntercept;
  dir: Dir;
  kind: MessageKind;
  title: string;
  questionId: number;
  since: number;
  until: number | null;
  rule: Rule;
  released: boolean;
  /** A Call (failable). */
  call: boolean;
}

interface DirState {
  splitter: FrameSplitter;
  queue: Entry[];
  ended: boolean;
  endSent: boolean;
  timer: NodeJS.Timeout | null;
  /** Questions of this direction failed by ipc-trace: their Finish is swallowed. */
  failed: Map<number, string>;
}


export class Interceptor {
  private rules: { rule: Rule; match: (m: MessageView) => boolean }[] = [];
  private readonly conns = new Map<number, ConnIntercept>();
  private nextHeld = 1;
  /** Held messages in the order they were held. */
  readonly held = new Map<number, Held>();
  /** Called after anything changed (rules, held messages): the UI's and control socket's cue. */
  onChange: () => void = () => {};

  constructor(
    readonly schemas: SchemaSet,
    readonly rpcSchemas: SchemaSet,
    rules: Rule[],
    /** Every intervention, in order (the recorder and the log). */
    readonly onEvent: (e: Intervention) => void,
  ) {
    for (const r of rules) this.addRule(r);
  }

  addRule(rule: Rule): void {
    this.rules.push({ rule, match: compileRule(rule) });
    this.onChange();
  }

  removeRule(id: number): boolean {
    const n = this.rules.length;
    this.rules = this.rules.filter((r) => r.rule.id !== id);
    this.onChange();
    return this.rules.length !== n;
  }

  /** No rule and nothing held: connections relay chunks as they come (boundaries counted, nothing decoded). */
  get passive(): boolean {
    return this.rules.length === 0 && this.held.size === 0;
  }

  get ruleList(): Rule[] {
    return this.rules.map((r) => r.rule);
  }

  /** Starts intercepting a connection (both directions). */
  connection(id: number, sink: InterceptSink): ConnIntercept {
    const c = new ConnIntercept(this, id, sink);
    this.conns.set(id, c);
    return c;
  }

  /** The messages held now, oldest first, with what waits behind each. */
  heldList(): HeldInfo[] {
    return [...this.held.values()].map((h) => {
      const d = h.conn.dirs[h.dir];
      const i = d.queue.findIndex((e) => e.held === h);
      let bytes = d.splitter.buffered;
      const behindCalls: { questionId: number; time: number }[] = [];
      for (let k = i + 1; k < d.queue.length; k++) {
        const e = d.queue[k]!;
        bytes += e.bytes.length;
        if (e.call) behindCalls.push(e.call);
        else if (e.held?.call) behindCalls.push({ questionId: e.held.questionId, time: e.held.since });
      }
      return {
        id: h.id, conn: h.conn.id, dir: h.dir, kind: h.kind, title: h.title, questionId: h.questionId, since: h.since, until: h.until,
        rule: h.rule.text, behindMessages: i < 0 ? 0 : d.queue.length - i - 1, behindBytes: bytes, behindCalls,
      };
    });
  }

  /** Releases held message `id` (or all); returns how many. */
  release(id: number | 'all'): number {
    const hs = id === 'all' ? [...this.held.values()] : [this.held.get(id)].filter((h): h is Held => h !== undefined);
    for (const h of hs) this.releaseOne(h, 'release');
    return hs.length;
  }

  /** The session is stopping: no rule any more, everything held goes on. Returns how many were held. */
  disarm(): number {
    this.rules = [];
    return this.release('all');
  }

  /** Releases the oldest held message (the rules stay: the next match is held again). */
  step(): number {
    const first = this.held.values().next();
    if (first.done) return 0;
    this.releaseOne(first.value, 'release');
    return 1;
  }

  /** Answers held Call `id` with an exception instead of forwarding it. */
  fail(id: number, reason: string): boolean {
    const h = this.held.get(id);
    if (!h || !h.call) return false;
    this.held.delete(id);
    const d = h.conn.dirs[h.dir];
    d.queue = d.queue.filter((e) => e.held !== h);
    h.conn.failCall(h.dir, h.questionId, h.title, reason, now(), h.id);
    h.conn.flush(h.dir);
    this.onChange();
    return true;
  }

  private releaseOne(h: Held, kind: InterventionKind): void {
    if (h.released) return;
    h.released = true;
    this.held.delete(h.id);
    const t = now();
    this.onEvent({
      time: t, conn: h.conn.id, dir: h.dir, kind, held: h.id, questionId: h.questionId, title: h.title,
      text: `release #${h.id} ${h.kind} ${h.title} (question ${h.questionId}) after ${formatDuration(t - h.since, true)}`,
    });
    h.conn.flush(h.dir);
    this.onChange();
  }

  /** @internal the first rule a message matches. */
  match(m: MessageView): Rule | null {
    for (const r of this.rules) if (r.match(m)) return r.rule;
    return null;
  }

  /** @internal */
  newHeld(h: Omit<Held, 'id' | 'released'>): Held {
    const held: Held = { ...h, id: this.nextHeld++, released: false };
    if (h.until === null) this.held.set(held.id, held);
    return held;
  }

  /** @internal */
  dropConn(c: ConnIntercept): void {
    this.conns.delete(c.id);
    for (const h of [...this.held.values()]) if (h.conn === c) this.held.delete(h.id);
    this.onChange();
  }
}

function emptyDir(): DirState {
  return { splitter: new FrameSplitter(), queue: [], ended: false, endSent: false, timer: null, failed: new Map() };
}

/** One intercepted connection. */
export class ConnIntercept {
  readonly dirs: Record<Dir, DirState> = { '>': emptyDir(), '<': emptyDir() };
  private readonly decoder: MessageDecoder;
  private closed = false;

  constructor(
    private readonly engine: Interceptor,
    readonly id: number,
    private readonly sink: InterceptSink,
  ) {
    this.decoder = new MessageDecoder(engine.schemas, engine.rpcSchemas);
  }

  /** A chunk read from `dir`'s sender. */
  data(dir: Dir, chunk: Uint8Array, time: number): void {
    if (this.closed) return;
    const d = this.dirs[dir];
    if (this.engine.passive && d.queue.length === 0 && d.failed.size === 0 && d.splitter.buffered === 0) {
      d.splitter.pass(chunk);
      this.sink.record(dir, chunk, time);
      this.sink.write(dir, chunk);
      return;
    }
    if (d.splitter.midFrame) {
      // The rest of a frame whose start went out before a rule was in force: out first, undecoded.
      const [tail, rest] = d.splitter.takeTail(chunk);
      if (tail.length > 0) {
        this.sink.record(dir, tail, time);
        d.queue.unshift({ bytes: tail, held: null });
      }
      chunk = rest;
    }
    const offset = d.splitter.position;
    let off = offset;
    for (const bytes of d.splitter.push(chunk)) {
      this.sink.record(dir, bytes, time);
      this.frame(dir, bytes, off, time);
      off += bytes.length;
      if (this.closed) return;
    }
    this.flush(dir);
  }

  /** EOF from `dir`'s sender: passed on once the queue is empty. */
  end(dir: Dir): void {
    this.dirs[dir].ended = true;
    this.flush(dir);
  }

  /** The connection closed: held messages of it are gone. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const d of Object.values(this.dirs)) if (d.timer) clearTimeout(d.timer);
    this.engine.dropConn(this);
  }

  private frame(dir: Dir, bytes: Uint8Array, offset: number, time: number): void {
    const d = this.dirs[dir];
    const m = this.decoder.decode(dir, toFrame(bytes, offset));
    const r = m.rpc;
    if (r?.type === 'finish' && d.failed.has(r.questionId)) {
      d.failed.delete(r.questionId);
      return; // the callee never knew this question
    }
    if (r?.type === 'call' && r.target.kind === 'promisedAnswer' && d.failed.has(r.target.questionId)) {
      const title = m.iface && m.method ? `${m.iface.name}.${m.method.name}` : `${r.interfaceId}@${r.methodId}`;
      this.failCall(dir, r.questionId, title, d.failed.get(r.target.questionId)!, time, null);
      return;
    }
    if (r?.type !== 'call' && r?.type !== 'return') {
      d.queue.push({ bytes, held: null });
      return;
    }
    const kind: MessageKind = r.type;
    const title = m.iface && m.method ? `${m.iface.name}.${m.method.name}` : r.type === 'call' ? `${r.interfaceId}@${r.methodId}` : '?';
    const questionId = r.type === 'call' ? r.questionId : r.answerId;
    const rule = this.engine.match({ kind, call: callView(this.id, dir, kind, title, m.iface?.name ?? null, m.method?.name ?? null, questionId, time, r.type === 'return' && r.exception !== null) });
    if (!rule) {
      d.queue.push({ bytes, held: null, call: kind === 'call' ? { questionId, time } : undefined });
      return;
    }
    const what = `${kind} ${title} (question ${questionId})`;
    const ev = (k: InterventionKind, text: string, held: number | null = null) =>
      this.engine.onEvent({ time, conn: this.id, dir, kind: k, held, questionId, title, text });
    switch (rule.action) {
      case 'disconnect':
        ev('disconnect', `disconnect at ${kind} ${title} (question ${questionId}) by rule '${rule.text}'`);
        this.close();
        this.sink.close(`ipc-trace: disconnect rule '${rule.text}'`);
        return;
      case 'fail':
        this.failCall(dir, questionId, title, rule.reason, time, null, rule);
        return;
      case 'delay': {
        const h = this.engine.newHeld({ conn: this, dir, kind, title, questionId, since: time, until: time + rule.delayMs, rule, call: kind === 'call' });
        d.queue.push({ bytes, held: h });
        ev('delay', `delay ${what} by ${formatDuration(rule.delayMs, true)} (rule '${rule.text}')`, h.id);
        return;
      }
      case 'hold': {
        const h = this.engine.newHeld({ conn: this, dir, kind, title, questionId, since: time, until: null, rule, call: kind === 'call' });
        d.queue.push({ bytes, held: h });
        ev('hold', `hold #${h.id} ${what} (rule '${rule.text}')`, h.id);
        this.engine.onChange();
        return;
      }
    }
  }

  /** @internal Swallows Call `questionId` of `dir` and sends the caller an exception Return. */
  failCall(dir: Dir, questionId: number, title: string, reason: string, time: number, held: number | null, rule?: Rule): void {
    const d = this.dirs[dir];
    d.failed.set(questionId, reason);
    const back = otherDir(dir);
    const bytes = exceptionReturn(questionId, reason);
    this.engine.onEvent({
      time, conn: this.id, dir, kind: 'fail', held, questionId, title,
      text: `injected exception for call ${title} (question ${questionId})${held !== null ? ` held as #${held}` : ''}: "${reason}"${rule ? ` (rule '${rule.text}')` : ''}`,
    });
    this.sink.record(back, bytes, time);
    // The decoder of the other direction must see the Return too (it pairs Returns with questions).
    this.decoder.decode(back, toFrame(bytes, -1));
    this.dirs[back].queue.push({ bytes, held: null, injected: true });
    this.flush(back);
  }

  /** Writes out the queue of `dir` up to its first message still held or delayed. */
  flush(dir: Dir): void {
    if (this.closed) return;
    const d = this.dirs[dir];
    const out: Uint8Array[] = [];
    while (d.queue.length > 0) {
      const e = d.queue[0]!;
      if (e.injected && d.splitter.midFrame) break; // after the rest of the frame being passed through
      const h = e.held;
      if (h && !h.released) {
        if (h.until === null) break;
        const wait = h.until - now();
        if (wait > 0) {
          if (!d.timer) {
            d.timer = setTimeout(() => {
              d.timer = null;
              this.flush(dir);
            }, wait);
          }
          break;
        }
        h.released = true;
      }
      out.push(e.bytes);
      d.queue.shift();
    }
    if (out.length === 1) this.sink.write(dir, out[0]!);
    else if (out.length > 1) this.sink.write(dir, Buffer.concat(out));
    if (d.ended && d.queue.length === 0 && !d.endSent) {
      d.endSent = true;
      this.sink.end(dir);
    }
  }
}

/** A CallRow-like view of one message for the filter language (names only: no threads on the relay side). */
function callView(conn: number, dir: Dir, kind: MessageKind, title: string, iface: string | null, method: string | null, questionId: number, time: number, exception: boolean): CallRow {
  return {
    id: 0, conn, dir: kind === 'call' ? dir : otherDir(dir), questionId, interfaceId: '', methodId: 0, iface, method, title, target: '',
    hasContext: false, caller: null, executor: null, clientProcess: 0, serverProcess: 0, parent: null, depth: 0,
    status: kind === 'call' ? 'pending' : exception ? 'exception' : 'returned', exception: null, requestNo: null,
    sent: time, returned: kind === 'call' ? null : time, cancelRequested: null, finished: null, params: null, results: null, retired: false,
  } as CallRow;
}
