// The interceptor: holds, delays, fails or cuts matching messages on the wire.
//
// The relay hands it every chunk of an intercepted connection (both
// directions) instead of writing it on; the interceptor splits the stream into
// frames (split.ts). While no rule is in force that is all it does (chunks go
// on as they come). While one is, it decodes each frame as it arrives,
// matches the rules and decides when its bytes go out (sink.write). The names
// rules may need (caller and executing threads, processes, as the recording's
// model has them; the call of a Return whose Call went by unframed) come from
// a NamesSource (names.ts): the recording worker's model. A message whose
// match depends on names not known yet waits in its direction's queue until
// they are (the names source has applied that message's record). A
// direction is an ordered stream: a held or delayed message holds everything behind it in that
// direction of that connection, as a slow socket would (reading from its
// sender pauses once what waits behind a hold passes a bound); other
// connections and the other direction flow on.
//
// Recorded (sink.record) as each side saw it: a Call when it arrives (its
// caller waits from then on, held or not), everything else when it is
// forwarded to its receiver (a held Return leaves its call outstanding until
// it is released), the hold itself as an intervention when it arrives.
//
// fail: the Call is never forwarded; a Return with an exception (answerId =
// the question) goes back to the caller instead, and the caller's later Finish
// for that question (which the callee never knew) is swallowed, as are Calls
// pipelined on the failed question's answer (failed the same way). The
// recording has the Call, the made-up Return and the Finish: the caller's view.
//
// A frame announcing a length no receiver reads loses the framing: it and
// everything after it in that direction go on as they are (recorded, and an
// `unframed` intervention says so).

import { formatDuration } from '../mp/concepts.js';
import { now } from '../proxy/splice.js';
import { MessageDecoder, otherDir } from '../decoder/messages.js';
import type { Dir } from '../decoder/messages.js';
import type { SchemaSet } from '../decoder/schema.js';
import type { CallRow } from '../session/rows.js';
import { renderStruct } from '../decoder/text.js';
import type { FilterContext } from '../filter/match.js';
import { filterTerms } from '../filter/fold.js';
import { FrameSplitter, toFrame } from './split.js';
import { exceptionReturn } from './inject.js';
import { compileRule, decide, MessageKind, MessageView, Rule } from './rules.js';
import { ModelNames } from './names.js';
import type { CallNames, NamesSource } from './names.js';

/** Reading from a direction's sender pauses while more than this waits behind a hold (bytes, messages)… */
export const BACKLOG_HIGH = { bytes: 1024 * 1024, messages: 512 };
/** …and resumes once it is down to this. */
export const BACKLOG_LOW = { bytes: 256 * 1024, messages: 128 };

export interface InterceptSink {
  /** Sends bytes on in `dir` (to that direction's receiver). */
  write(dir: Dir, bytes: Uint8Array): void;
  /** EOF in `dir`, once everything before it is out. */
  end(dir: Dir): void;
  /** Closes the connection (a disconnect rule). */
  close(reason: string): void;
  /** Records bytes of `dir` (the recorder's tap). */
  record(dir: Dir, bytes: Uint8Array, time: number): void;
  /** Stops (true) or resumes reading from `dir`'s sender: too much waits behind a hold. */
  pause?(dir: Dir, on: boolean): void;
}

export type InterventionKind = 'hold' | 'release' | 'delay' | 'fail' | 'disconnect' | 'unframed';

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

/** A held (or delayed) message's own facts, the same inside the engine and out. */
interface HeldMessage {
  id: number;
  dir: Dir;
  kind: MessageKind;
  title: string;
  questionId: number;
  since: number;
  /** For a delayed message: when it goes. */
  until: number | null;
}

/** A message held (or delayed) at the head of, or inside, a direction's queue, as the engine reports it. */
export interface HeldInfo extends HeldMessage {
  conn: number;
  rule: string;
  /** Messages and bytes waiting behind it in its direction (including frames not complete yet). */
  behindMessages: number;
  behindBytes: number;
  /** The Calls among them (question id and arrival time): calls the hold keeps from their callee. */
  behindCalls: { questionId: number; time: number }[];
}

/** The one sentence for a held message (`ipc-trace release --list`, the terminal UI): `#ID cN DIR kind Title (question Q) held 1.2s, M message(s) / B bytes behind it (rule)`. */
export function heldLine(h: HeldInfo, now: number): string {
  return `#${h.id} c${h.conn} ${h.dir} ${h.kind} ${h.title} (question ${h.questionId}) held ${formatDuration(now - h.since, true)}, ${h.behindMessages} message(s) / ${h.behindBytes} bytes behind it (${h.rule})`;
}

interface Entry {
  bytes: Uint8Array;
  held: Held | null;
  /** Already recorded (a Call, when it arrived; bytes passed on unframed): not again when it goes out. */
  recorded: boolean;
  /** Made up by ipc-trace (a Return): must not go out in the middle of a frame passed through. */
  injected?: boolean;
  /** For a Call: its question and arrival time. */
  call?: { questionId: number; time: number };
  /** Not matched yet: its names are not known yet. */
  pending?: Pending;
}

/** A Call or Return as far as the interceptor knows it by itself, waiting for names. */
interface Pending {
  kind: MessageKind;
  questionId: number;
  /** The direction its Call went. */
  callDir: Dir;
  title: string;
  iface: string | null;
  method: string | null;
  /** Params or results as text, null when not decoded. */
  text: string | null;
  exception: boolean;
  /** When its Call was sent, as seen here (null: the Call went by unframed, before a rule). */
  sent: number | null;
  time: number;
  /** The names source's mark once this message was recorded (or arrived). */
  mark: number;
}

/** A held message inside the engine: its connection and rule as objects. */
interface Held extends HeldMessage {
  conn: ConnIntercept;
  rule: Rule;
  released: boolean;
  /** A Call (failable). */
  call: boolean;
}

interface DirState {
  splitter: FrameSplitter;
  queue: Entry[];
  /** Bytes in `queue`. */
  queuedBytes: number;
  /** Stream bytes sent on or queued so far (ahead of the frames handled while chunks went on as they came). */
  sent: number;
  /** The framing was lost (a corrupt frame length): bytes go on as they come, unframed. */
  raw: boolean;
  /** Reading from this direction's sender is paused (backlog behind a hold). */
  paused: boolean;
  ended: boolean;
  endSent: boolean;
  timer: NodeJS.Timeout | null;
  /** Questions of this direction failed by ipc-trace: their Finish is swallowed. */
  failed: Map<number, string>;
}

/** A one-shot hold armed by step: the next message matching `rule` is held, whether the rule is still in force or not. */
interface StepArm {
  rule: Rule;
  match: (m: MessageView) => boolean;
}

export class Interceptor {
  private rules: { rule: Rule; match: (m: MessageView) => boolean }[] = [];
  private readonly conns = new Map<number, ConnIntercept>();
  private nextHeld = 1;
  private armed: StepArm[] = [];
  /** Held messages in the order they were held. */
  readonly held = new Map<number, Held>();
  /** Called after anything changed (rules, held messages): the UI's and control socket's cue. */
  onChange: () => void = () => {};
  /** Called when `passive` may have changed (the exec relay's mode switch). */
  private readonly modeWatchers = new Set<() => void>();
  /** Where the names of calls come from (the recording worker's model, or a model of its own). */
  readonly source: NamesSource;
  /** The names of the call a rule is being matched against: thread ids 1 (caller) and 2 (executor), process ids 1 (client) and 2 (server). */
  private current: CallNames | null = null;
  private readonly names: FilterContext = {
    threadLabel: (id) => (id === 1 ? this.current?.caller : id === 2 ? this.current?.executor : null) ?? undefined,
    processLabel: (id) => (id === 1 ? this.current?.client : id === 2 ? this.current?.server : undefined),
    now: 0,
  };

  constructor(
    readonly schemas: SchemaSet,
    readonly rpcSchemas: SchemaSet,
    rules: Rule[],
    /** Every intervention, in order (the recorder and the log). */
    readonly onEvent: (e: Intervention) => void,
    source?: NamesSource,
  ) {
    this.source = source ?? new ModelNames(schemas, rpcSchemas);
    this.source.onUpdate = () => {
      for (const c of [...this.conns.values()]) c.retry();
    };
    for (const r of rules) this.addRule(r);
  }

  /** Some rule in force (or armed step) has a text: term: params and results are rendered for it. */
  wantsText = false;

  addRule(rule: Rule): void {
    this.rules.push({ rule, match: compileRule(rule, this.names) });
    this.changed();
  }

  removeRule(id: number): boolean {
    const n = this.rules.length;
    this.rules = this.rules.filter((r) => r.rule.id !== id);
    this.changed();
    return this.rules.length !== n;
  }

  /** No rule, no step armed and nothing held: connections relay chunks as they come (framed only, to know where whole messages start). */
  get passive(): boolean {
    return this.rules.length === 0 && this.armed.length === 0 && this.held.size === 0;
  }

  get ruleList(): Rule[] {
    return this.rules.map((r) => r.rule);
  }

  /** Calls `fn` whenever `passive` may have changed; returns the unsubscribe. */
  watchMode(fn: () => void): () => void {
    this.modeWatchers.add(fn);
    return () => this.modeWatchers.delete(fn);
  }

  /** Starts intercepting a connection (both directions); `names` are its processes when the transport knows them. */
  connection(id: number, sink: InterceptSink, names: { label?: string; client?: string; server?: string } = {}): ConnIntercept {
    this.source.opened?.(id, now(), names);
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

  /** The session is stopping: no rule any more, nothing armed, everything held goes on. Returns how many were held. */
  disarm(): number {
    this.rules = [];
    this.armed = [];
    return this.release('all');
  }

  /**
   * Releases held message `id` (default: the oldest) and holds the next
   * message matching its rule, exactly that one, even if the rule was
   * dropped meanwhile. Returns the id released, or null when nothing is held.
   */
  step(id?: number): number | null {
    const h = id === undefined ? this.held.values().next().value : this.held.get(id);
    if (!h) return null;
    this.armed.push({ rule: h.rule, match: compileRule(h.rule, this.names) });
    this.releaseOne(h, 'release');
    return h.id;
  }

  /** Answers held Call `id` with an exception instead of forwarding it. */
  fail(id: number, reason: string): boolean {
    const h = this.held.get(id);
    if (!h || !h.call) return false;
    this.held.delete(id);
    h.conn.drop(h);
    h.conn.failCall(h.dir, h.questionId, h.title, reason, now(), h.id);
    h.conn.flush(h.dir);
    this.changed();
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
    this.changed();
  }

  /** Rules or held messages changed. */
  private changed(): void {
    const text = (r: Rule) => filterTerms(r.expr).some((x) => x.k === 'text');
    this.wantsText = this.rules.some((r) => text(r.rule)) || this.armed.some((a) => text(a.rule));
    this.source.want(!this.passive);
    // A message waiting for names may not need them any more (its rule dropped).
    for (const c of [...this.conns.values()]) c.retry();
    this.onChange();
    for (const w of this.modeWatchers) w();
  }

  /**
   * @internal The rule a message matches (an armed step first, used up by
   * it), matched against its call's names; 'wait' when that depends on
   * names not known yet (a rule before the one that matches, or that one).
   */
  match(m: MessageView, names: CallNames | null): Rule | null | 'wait' {
    this.current = names;
    try {
      for (let i = 0; i < this.armed.length; i++) {
        const r = decide(this.armed[i]!.match, m);
        if (r === 'unknown') return 'wait';
        if (r) {
          const [a] = this.armed.splice(i, 1);
          // Used up: if nothing else holds the connection now, it may go back to relaying as it comes.
          queueMicrotask(() => this.changed());
          return a!.rule;
        }
      }
      for (const r of this.rules) {
        const d = decide(r.match, m);
        if (d === 'unknown') return 'wait';
        if (d) return r.rule;
      }
      return null;
    } finally {
      this.current = null;
    }
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
    this.source.closed?.(c.id, now());
    for (const h of [...this.held.values()]) if (h.conn === c) this.held.delete(h.id);
    this.changed();
  }
}

function emptyDir(): DirState {
  return { splitter: new FrameSplitter(), queue: [], queuedBytes: 0, sent: 0, raw: false, paused: false, ended: false, endSent: false, timer: null, failed: new Map() };
}

/** One intercepted connection. */
export class ConnIntercept {
  readonly dirs: Record<Dir, DirState> = { '>': emptyDir(), '<': emptyDir() };
  /**
   * Decodes the frames matched against rules, pairing Returns with the Calls
   * it saw (and when). Dropped whenever a frame goes by undecoded (question
   * ids are reused meanwhile): a Return whose Call it did not see gets its
   * call from the names source.
   */
  private decoder: { dec: MessageDecoder; asked: Map<string, number> } | null = null;
  private closed = false;

  constructor(
    private readonly engine: Interceptor,
    readonly id: number,
    private readonly sink: InterceptSink,
  ) {}

  /** Records bytes of `dir` (and tells the names source). */
  private record(dir: Dir, bytes: Uint8Array, time: number): void {
    this.sink.record(dir, bytes, time);
    this.engine.source.recorded?.(this.id, dir, bytes, time);
  }

  /** Nothing queued, held or owed in either direction: chunks may go on as they come. */
  get idle(): boolean {
    return this.engine.passive && this.canPass(this.dirs['>']) && this.canPass(this.dirs['<']);
  }

  /** Nothing queued, no Finish to swallow, and every byte received sent on (no part of a frame waits in the splitter). */
  private canPass(d: DirState): boolean {
    return d.queue.length === 0 && d.failed.size === 0 && d.sent >= d.splitter.position + d.splitter.buffered;
  }

  /** A chunk read from `dir`'s sender, for the interceptor to send on. */
  data(dir: Dir, chunk: Uint8Array, time: number): void {
    if (this.closed) return;
    const d = this.dirs[dir];
    const passing = this.engine.passive && this.canPass(d);
    if (passing) {
      this.record(dir, chunk, time);
      this.sink.write(dir, chunk);
      d.sent += chunk.length;
    }
    this.take(dir, chunk, time, passing);
    if (!passing) this.flush(dir, time);
  }

  /**
   * A chunk `dir`'s sender wrote that was already sent on (the exec shim
   * relaying by itself while no rule is in force): recorded and framed,
   * nothing else.
   */
  passed(dir: Dir, chunk: Uint8Array, time: number): void {
    if (this.closed) return;
    this.record(dir, chunk, time);
    this.dirs[dir].sent += chunk.length;
    this.take(dir, chunk, time, true);
  }

  /** Frames and (unless `sentOn`) decodes and queues a chunk. */
  private take(dir: Dir, chunk: Uint8Array, time: number, sentOn: boolean): void {
    const d = this.dirs[dir];
    if (d.raw) {
      if (!sentOn) {
        this.record(dir, chunk, time);
        this.enqueue(d, { bytes: chunk, held: null, recorded: true });
      }
      return;
    }
    let off = d.splitter.position;
    for (const bytes of d.splitter.push(chunk)) {
      const end = off + bytes.length;
      if (end > d.sent) {
        if (off < d.sent) {
          // The rest of a frame whose start went on before a rule was in force: out first, as it is.
          this.decoder = null;
          const tail = bytes.subarray(d.sent - off);
          this.record(dir, tail, time);
          d.queue.unshift({ bytes: tail, held: null, recorded: true });
          d.queuedBytes += tail.length;
          d.sent = end;
        } else {
          d.sent = end;
          this.frame(dir, bytes, off, time);
        }
      } else this.decoder = null; // went on as it came, undecoded
      off = end;
      if (this.closed) return;
    }
    if (d.splitter.corrupt) {
      d.raw = true;
      const at = d.splitter.position;
      const rest = d.splitter.drain();
      this.engine.onEvent({
        time, conn: this.id, dir, kind: 'unframed', held: null, questionId: null, title: '',
        text: `unframed: the frame at byte ${at} announces more than a receiver reads; the rest of this direction goes on as it comes, unframed`,
      });
      if (at + rest.length > d.sent) {
        const fresh = rest.subarray(Math.max(0, d.sent - at));
        d.sent = at + rest.length;
        this.record(dir, fresh, time);
        this.enqueue(d, { bytes: fresh, held: null, recorded: true });
      }
    }
  }

  /** EOF from `dir`'s sender: passed on once the queue is empty. */
  end(dir: Dir): void {
    this.dirs[dir].ended = true;
    this.flush(dir);
  }

  /** EOF from `dir`'s sender, already passed on (the exec shim relaying by itself). */
  endPassed(dir: Dir): void {
    this.dirs[dir].ended = true;
    this.dirs[dir].endSent = true;
  }

  /** The connection closed: held messages of it are gone. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const d of Object.values(this.dirs)) if (d.timer) clearTimeout(d.timer);
    this.engine.dropConn(this);
  }

  private enqueue(d: DirState, e: Entry): void {
    d.queue.push(e);
    d.queuedBytes += e.bytes.length;
  }

  /** @internal Takes held message `h` out of its queue (failed instead of forwarded). */
  drop(h: Held): void {
    const d = this.dirs[h.dir];
    const i = d.queue.findIndex((e) => e.held === h);
    if (i < 0) return;
    d.queuedBytes -= d.queue[i]!.bytes.length;
    d.queue.splice(i, 1);
  }

  private frame(dir: Dir, bytes: Uint8Array, off: number, time: number): void {
    const d = this.dirs[dir];
    const dc = (this.decoder ??= { dec: new MessageDecoder(this.engine.schemas, this.engine.rpcSchemas), asked: new Map() });
    const m = dc.dec.decode(dir, toFrame(bytes, off));
    const r = m.rpc;
    if (r?.type === 'finish' && d.failed.has(r.questionId)) {
      // The callee never knew this question; the caller sent it (recorded, the caller's view).
      d.failed.delete(r.questionId);
      this.record(dir, bytes, time);
      return;
    }
    const title = m.iface && m.method ? `${m.iface.name}.${m.method.name}` : r?.type === 'call' ? `${r.interfaceId}@${r.methodId}` : '?';
    if (r?.type === 'call') this.record(dir, bytes, time); // the caller waits from now on
    if (r?.type === 'call' && r.target.kind === 'promisedAnswer' && d.failed.has(r.target.questionId)) {
      this.failCall(dir, r.questionId, title, d.failed.get(r.target.questionId)!, time, null);
      return;
    }
    if (r?.type !== 'call' && r?.type !== 'return') {
      this.enqueue(d, { bytes, held: null, recorded: false });
      return;
    }
    const kind: MessageKind = r.type;
    const questionId = r.type === 'call' ? r.questionId : r.answerId;
    const callDir = kind === 'call' ? dir : otherDir(dir);
    let sent: number | null = time;
    if (kind === 'call') dc.asked.set(dir + questionId, time);
    else {
      sent = dc.asked.get(callDir + questionId) ?? null;
      dc.asked.delete(callDir + questionId);
    }
    const p: Pending = {
      kind, questionId, callDir, title, iface: m.iface?.name ?? null, method: m.method?.name ?? null,
      // The params or results as text, rendered only while a rule has a text: term.
      text: m.content && this.engine.wantsText ? renderStruct(m.content, this.engine.schemas) : null,
      exception: r.type === 'return' && r.exception !== null, sent, time, mark: this.engine.source.mark(),
    };
    const e: Entry = { bytes, held: null, recorded: kind === 'call', call: kind === 'call' ? { questionId, time } : undefined };
    this.enqueue(d, e);
    const rule = this.matchPending(p);
    if (rule === 'wait') {
      e.pending = p;
      this.engine.source.hurry?.();
    } else this.decided(dir, e, p, rule);
  }

  /** Message `e` is matched: it gets what `rule` says, and a Return's call is done with. */
  private decided(dir: Dir, e: Entry, p: Pending, rule: Rule | null): void {
    if (p.kind === 'return') this.engine.source.forget?.(this.id, p.callDir, p.questionId);
    if (rule) this.apply(dir, e, p, rule);
  }

  /** The rule pending message `p` matches, with the names known now ('wait': they are not yet). */
  private matchPending(p: Pending): Rule | null | 'wait' {
    const src = this.engine.source;
    // Before the source has applied this message, what it has under this question may be an earlier call's.
    const reached = src.reached(p.mark);
    const names = reached ? (src.call(this.id, p.callDir, p.questionId) ?? null) : null;
    // The call as seen here, or (a Return whose Call went by undecoded) as the names source has it.
    if (p.sent === null && names) Object.assign(p, { title: names.title, iface: names.iface, method: names.method, sent: names.sent });
    const row = callView(this.id, p.callDir, p.kind, p.title, p.iface, p.method, p.questionId, p.sent ?? p.time, p.time, p.exception, names);
    if (p.kind === 'call') row.params = p.text;
    else if (p.sent !== null) row.results = p.text;
    const unknown = reached ? undefined : { names: true, call: p.sent === null };
    return this.engine.match({ kind: p.kind, call: row, unknown }, names);
  }

  /** Names came: messages waiting for them are matched, in order, and what can go goes. */
  retry(): void {
    for (const dir of ['>', '<'] as const) {
      const d = this.dirs[dir];
      let any = false;
      for (const e of [...d.queue]) {
        const p = e.pending;
        if (!p) continue;
        const rule = this.matchPending(p);
        if (rule === 'wait') break;
        delete e.pending;
        any = true;
        this.decided(dir, e, p, rule);
        if (this.closed) return;
      }
      if (any) this.flush(dir);
    }
  }

  /** Does what `rule` says to queued message `e`. */
  private apply(dir: Dir, e: Entry, p: Pending, rule: Rule): void {
    const d = this.dirs[dir];
    const { kind, title, questionId, time } = p;
    const what = `${kind} ${title} (question ${questionId})`;
    const ev = (k: InterventionKind, text: string, held: number | null = null) =>
      this.engine.onEvent({ time, conn: this.id, dir, kind: k, held, questionId, title, text });
    switch (rule.action) {
      case 'disconnect':
        ev('disconnect', `disconnect at ${kind} ${title} (question ${questionId}) by rule '${rule.text}'`);
        this.close();
        this.sink.close(`ipc-trace: disconnect rule '${rule.text}'`);
        return;
      case 'fail': {
        const i = d.queue.indexOf(e);
        if (i >= 0) {
          d.queue.splice(i, 1);
          d.queuedBytes -= e.bytes.length;
        }
        this.failCall(dir, questionId, title, rule.reason, time, null, rule);
        return;
      }
      case 'delay': {
        const h = this.engine.newHeld({ conn: this, dir, kind, title, questionId, since: time, until: time + rule.delayMs, rule, call: kind === 'call' });
        e.held = h;
        ev('delay', `delay ${what} by ${formatDuration(rule.delayMs, true)} (rule '${rule.text}')`, h.id);
        return;
      }
      case 'hold': {
        const h = this.engine.newHeld({ conn: this, dir, kind, title, questionId, since: time, until: null, rule, call: kind === 'call' });
        e.held = h;
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
    // The other direction's decoder must see the Return too (it pairs Returns with questions); the names source sees it recorded.
    if (this.decoder) {
      this.decoder.dec.decode(back, toFrame(bytes, -1));
      this.decoder.asked.delete(dir + questionId);
    }
    const b = this.dirs[back];
    this.enqueue(b, { bytes, held: null, recorded: false, injected: true });
    this.flush(back, time);
  }

  /** Writes out the queue of `dir` up to its first message still held or delayed; records what goes out (the receiver's view). */
  flush(dir: Dir, time?: number): void {
    if (this.closed) return;
    const d = this.dirs[dir];
    const out: Uint8Array[] = [];
    let at = time;
    while (d.queue.length > 0) {
      const e = d.queue[0]!;
      if (e.injected && d.sent > d.splitter.position && !d.raw) break; // after the rest of the frame being passed through
      if (e.pending) break; // not matched yet: its names are to come
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
      if (!e.recorded) this.record(dir, e.bytes, (at ??= now()));
      out.push(e.bytes);
      d.queuedBytes -= e.bytes.length;
      d.queue.shift();
    }
    if (out.length === 1) this.sink.write(dir, out[0]!);
    else if (out.length > 1) this.sink.write(dir, Buffer.concat(out));
    if (d.ended && d.queue.length === 0 && !d.endSent) {
      d.endSent = true;
      this.sink.end(dir);
    }
    this.backpressure(dir);
  }

  /** Pauses reading from `dir`'s sender while too much waits in its queue, as a slow socket would; resumes once drained. */
  private backpressure(dir: Dir): void {
    const d = this.dirs[dir];
    if (!d.paused && (d.queuedBytes > BACKLOG_HIGH.bytes || d.queue.length > BACKLOG_HIGH.messages)) {
      d.paused = true;
      this.sink.pause?.(dir, true);
    } else if (d.paused && d.queuedBytes <= BACKLOG_LOW.bytes && d.queue.length <= BACKLOG_LOW.messages) {
      d.paused = false;
      this.sink.pause?.(dir, false);
    }
  }
}

/** A CallRow-like view of a message, for the rules: its call's threads and processes (if known) are ids 1 (caller, client) and 2 (executor, server) of the matching context. */
function callView(conn: number, dir: Dir, kind: MessageKind, title: string, iface: string | null, method: string | null, questionId: number, sent: number, time: number, exception: boolean, names: CallNames | null): CallRow {
  return {
    id: 0, conn, dir, questionId, interfaceId: '', methodId: 0, iface, method, title, target: '',
    hasContext: false, caller: names?.caller != null ? 1 : null, executor: names?.executor != null ? 2 : null, clientProcess: names ? 1 : 0, serverProcess: names ? 2 : 0, parent: null, depth: 0,
    status: kind === 'call' ? 'pending' : exception ? 'exception' : 'returned', exception: null, requestNo: null,
    sent, returned: kind === 'call' ? null : time, cancelRequested: null, finished: null, params: null, results: null, retired: false,
  } as CallRow;
}
