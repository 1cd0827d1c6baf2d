import { describe, it, expect, afterEach, vi } from 'vitest';
import { loadSchemaBundle, rpcSchemaSet } from '../../src/decoder/sources.js';
import { callMessage, finishMessage, returnResultsMessage } from '../../src/rpc/envelope.js';
import { Interceptor, Intervention, InterceptSink, BACKLOG_HIGH } from '../../src/intercept/engine.js';
import { parseRule, parseRuleLine, RuleError } from '../../src/intercept/rules.js';
import { FrameSplitter } from '../../src/intercept/split.js';
import { ModelNames } from '../../src/intercept/names.js';
import type { CallNames, NamesSource } from '../../src/intercept/names.js';
import { controlCommand } from '../../src/intercept/control.js';
import { MessageDecoder } from '../../src/decoder/messages.js';
import { Framer } from '../../src/decoder/framer.js';
import type { Dir } from '../../src/decoder/messages.js';
import { Pipeline } from '../../src/session/pipeline.js';
import { callRow } from '../../src/session/rows.js';
import { outstandingCalls } from '../../src/chains/outstanding.js';
import { parseHexlog } from '../../src/decoder/hexlog.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const schemas = loadSchemaBundle([], []).set;
const rpc = rpcSchemaSet();

function methodId(ifaceName: string, method: string): { iface: string; id: number } {
  for (const i of schemas.interfaces.values()) {
    if (i.name !== ifaceName) continue;
    const m = i.methods.find((x) => x.name === method);
    if (m) return { iface: i.id, id: m.ordinal };
  }
  throw new Error(`no ${ifaceName}.${method}`);
}

const empty = () => [];
function call(q: number, iface: string, method: string, target: { kind: 'importedCap'; id: number } | { kind: 'promisedAnswer'; questionId: number; ops: number[] } = { kind: 'importedCap', id: 0 }): Uint8Array {
  const m = methodId(iface, method);
  return callMessage(q, m.iface, m.id, target, empty).bytes;
}
const ret = (q: number) => returnResultsMessage(q, empty, { releaseParamCaps: false, noFinishNeededIfNoCaps: false }).bytes;

/** A sink that collects what went out and what was recorded, decoded. */
class Wire implements InterceptSink {
  out: Record<Dir, Uint8Array[]> = { '>': [], '<': [] };
  rec: Record<Dir, Uint8Array[]> = { '>': [], '<': [] };
  ended: Dir[] = [];
  closedWith: string | null = null;
  write(dir: Dir, b: Uint8Array) {
    this.out[dir].push(Uint8Array.from(b));
  }
  end(dir: Dir) {
    this.ended.push(dir);
  }
  close(reason: string) {
    this.closedWith = reason;
  }
  record(dir: Dir, b: Uint8Array) {
    this.rec[dir].push(Uint8Array.from(b));
  }
  /** The messages that went out in `dir`, as (type, question) pairs. */
  sent(dir: Dir, which: 'out' | 'rec' = 'out'): string[] {
    const f = new Framer();
    const d = new MessageDecoder(schemas, rpc);
    const res: string[] = [];
    for (const chunk of this[which][dir]) {
      for (const ev of f.push(chunk)) {
        if (ev.kind !== 'frame') continue;
        const m = d.decode(dir, ev.frame);
        const r = m.rpc!;
        if (r.type === 'call') res.push(`call ${r.questionId} ${m.method?.name}`);
        else if (r.type === 'return') res.push(`return ${r.answerId}${r.exception ? ` exception ${r.exception.type}: ${r.exception.reason}` : ''}${r.releaseParamCaps ? '' : ' keep-params'}`);
        else if (r.type === 'finish') res.push(`finish ${r.questionId}`);
        else res.push(r.type);
      }
    }
    return res;
  }
}

function setup(rules: string[]) {
  const events: Intervention[] = [];
  const eng = new Interceptor(schemas, rpc, rules.map((l) => parseRuleLine(l)!), (e) => events.push(e));
  const wire = new Wire();
  const conn = eng.connection(1, wire);
  return { eng, wire, conn, events };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('rules', () => {
  it('parses actions, delays and fail reasons; rejects bad ones with one line', () => {
    expect(parseRule('delay', 'method:getBalances=250ms').delayMs).toBe(250);
    expect(parseRule('delay', 'method:x=2s').delayMs).toBe(2000);
    expect(parseRule('fail', 'method:getBalances=boom now').reason).toBe('boom now');
    expect(() => parseRule('delay', 'method:x')).toThrow(RuleError);
    expect(() => parseRule('hold', 'method:(')).toThrow(/hold rule/);
    expect(() => parseRule('pause', 'x')).toThrow(/unknown rule action/);
    expect(() => parseRule('fail', 'return & method:x')).toThrow(/only Calls/);
    expect(parseRuleLine('# comment')).toBeNull();
    expect(parseRuleLine('   ')).toBeNull();
  });
});

describe('splitter', () => {
  it('gives back every byte as whole frames, whatever the chunking', () => {
    const stream = Buffer.concat([call(1, 'Chain', 'getHeight'), ret(7), finishMessage(3), call(2, 'ChainNotifications', 'blockConnected')]);
    for (const step of [1, 3, 7, 64, stream.length]) {
      const s = new FrameSplitter();
      const frames: Uint8Array[] = [];
      for (let i = 0; i < stream.length; i += step) frames.push(...s.push(stream.subarray(i, i + step)));
      expect(frames.length).toBe(4);
      expect(Buffer.concat(frames).equals(stream)).toBe(true);
      expect(s.buffered).toBe(0);
    }
  });

  it('never waits on a frame announcing more segments than a receiver takes (split across chunks)', () => {
    // 600 segments: the table alone is 2,408 bytes, longer than any a valid message has.
    const table = Buffer.alloc(4 + 4 * 600 + 4);
    table.writeUInt32LE(599, 0);
    const stream = Buffer.concat([table, call(1, 'Chain', 'getHeight')]);
    const s = new FrameSplitter();
    const frames: Uint8Array[] = [];
    for (let i = 0; i < stream.length; i += 100) frames.push(...s.push(stream.subarray(i, i + 100)));
    expect(Buffer.concat(frames).equals(stream)).toBe(true);
    expect(s.buffered).toBe(0);
  });
});

describe('interceptor', () => {
  it('passes everything through when nothing matches', () => {
    const { wire, conn, events } = setup(['hold method:blockConnected']);
    conn.data('>', Buffer.concat([call(1, 'Chain', 'getHeight'), call(2, 'Chain', 'getHeight')]), 0);
    conn.data('<', ret(1), 0);
    expect(wire.sent('>')).toEqual(['call 1 getHeight', 'call 2 getHeight']);
    expect(wire.sent('<')).toEqual(['return 1 keep-params']);
    expect(events).toEqual([]);
  });

  it('a held Call holds everything behind it in its direction, not the other direction; release lets them go in order', () => {
    const { eng, wire, conn, events } = setup(['hold method:blockConnected']);
    conn.data('>', Buffer.concat([call(1, 'Chain', 'getHeight'), call(2, 'ChainNotifications', 'blockConnected'), call(3, 'Chain', 'getHeight')]), 0);
    conn.data('<', ret(1), 0);
    expect(wire.sent('>')).toEqual(['call 1 getHeight']);
    expect(wire.sent('<')).toEqual(['return 1 keep-params']);
    // Recorded as the sender wrote it, held or not.
    expect(wire.sent('>', 'rec')).toEqual(['call 1 getHeight', 'call 2 blockConnected', 'call 3 getHeight']);
    const held = eng.heldList();
    expect(held.map((h) => [h.title, h.questionId, h.behindMessages])).toEqual([['ChainNotifications.blockConnected', 2, 1]]);
    expect(held[0]!.behindBytes).toBe(call(3, 'Chain', 'getHeight').length);
    expect(held[0]!.behindCalls.map((c) => c.questionId)).toEqual([3]);
    conn.end('>');
    expect(wire.ended).toEqual([]); // EOF waits behind the hold too
    expect(eng.release(held[0]!.id)).toBe(1);
    expect(wire.sent('>')).toEqual(['call 1 getHeight', 'call 2 blockConnected', 'call 3 getHeight']);
    expect(wire.ended).toEqual(['>']);
    expect(events.map((e) => e.kind)).toEqual(['hold', 'release']);
    expect(events[0]!.text).toMatch(/^hold #\d+ call ChainNotifications.blockConnected \(question 2\)/);
  });

  it('holds Returns with the return word, each held in order behind the one before', () => {
    const { eng, wire, conn } = setup(['hold return & method:getHeight']);
    conn.data('>', Buffer.concat([call(1, 'Chain', 'getHeight'), call(2, 'Chain', 'getHeight')]), 0);
    expect(wire.sent('>')).toEqual(['call 1 getHeight', 'call 2 getHeight']); // calls pass
    conn.data('<', Buffer.concat([ret(1), ret(2)]), 0);
    expect(wire.sent('<')).toEqual([]);
    // Both match: both held, in order (the second behind the first).
    expect(eng.heldList().map((h) => [h.kind, h.questionId, h.behindMessages])).toEqual([['return', 1, 1], ['return', 2, 0]]);
    expect(eng.release(eng.heldList()[0]!.id)).toBe(1);
    expect(wire.sent('<')).toEqual(['return 1 keep-params']);
    expect(eng.release('all')).toBe(1);
    expect(wire.sent('<')).toEqual(['return 1 keep-params', 'return 2 keep-params']);
  });

  it('step releases one message and holds exactly the next match of its rule, even once the rule is dropped', () => {
    const { eng, wire, conn, events } = setup(['hold method:blockConnected']);
    conn.data('>', call(1, 'ChainNotifications', 'blockConnected'), 0);
    const [first] = eng.heldList();
    eng.removeRule(eng.ruleList[0]!.id); // no rule any more: a release would let everything go
    expect(eng.step()).toBe(first!.id);
    expect(wire.sent('>')).toEqual(['call 1 blockConnected']);
    conn.data('>', Buffer.concat([call(2, 'Chain', 'getHeight'), call(3, 'ChainNotifications', 'blockConnected'), call(4, 'ChainNotifications', 'blockConnected')]), 0);
    // The next match is held (and what follows it), not the call before it.
    expect(wire.sent('>')).toEqual(['call 1 blockConnected', 'call 2 getHeight']);
    expect(eng.heldList().map((h) => [h.questionId, h.behindMessages])).toEqual([[3, 1]]);
    // Released, the one after it goes on: the step held exactly one.
    expect(eng.release('all')).toBe(1);
    expect(wire.sent('>')).toEqual(['call 1 blockConnected', 'call 2 getHeight', 'call 3 blockConnected', 'call 4 blockConnected']);
    expect(eng.passive).toBe(true);
    conn.data('>', call(5, 'ChainNotifications', 'blockConnected'), 0);
    expect(eng.heldList()).toEqual([]);
    expect(events.map((e) => e.kind)).toEqual(['hold', 'release', 'hold', 'release']);
    expect(eng.step()).toBeNull();
  });

  it("the control socket's step [ID] and list speak the one held-message sentence", () => {
    const { eng, wire, conn } = setup(['hold method:blockConnected']);
    conn.data('>', Buffer.concat([call(1, 'ChainNotifications', 'blockConnected'), call(2, 'Chain', 'getHeight')]), 0);
    const id = eng.heldList()[0]!.id;
    expect(controlCommand(eng, 'list')).toMatch(new RegExp(`^#${id} c1 > call ChainNotifications\\.blockConnected \\(question 1\\) held \\S+, 1 message\\(s\\) / \\d+ bytes behind it \\(hold method:blockConnected\\)$`));
    expect(controlCommand(eng, 'step 999')).toBe('error: nothing held as #999');
    expect(controlCommand(eng, 'step x')).toMatch(/^error: step takes a held message number/);
    expect(controlCommand(eng, `step ${id}`)).toBe(`released #${id}; the next match of its rule is held`);
    expect(wire.sent('>')).toEqual(['call 1 blockConnected', 'call 2 getHeight']);
    expect(controlCommand(eng, 'step')).toBe('error: nothing held');
  });

  it('fail: the callee never sees the Call or its Finish; the caller gets an exception Return numbered with its question', () => {
    const { wire, conn, events } = setup(['fail method:getBalances=no balances today']);
    conn.data('>', Buffer.concat([call(4, 'Wallet', 'getBalances'), call(5, 'Chain', 'getHeight')]), 0);
    expect(wire.sent('>')).toEqual(['call 5 getHeight']);
    expect(wire.sent('<')).toEqual(['return 4 exception failed: no balances today']);
    // A Call pipelined on the failed answer fails the same way.
    conn.data('>', call(6, 'Wallet', 'getBalances', { kind: 'promisedAnswer', questionId: 4, ops: [0] }), 0);
    expect(wire.sent('<')).toEqual(['return 4 exception failed: no balances today', 'return 6 exception failed: no balances today']);
    conn.data('>', Buffer.concat([finishMessage(4), finishMessage(6), finishMessage(5)]), 0);
    expect(wire.sent('>')).toEqual(['call 5 getHeight', 'finish 5']);
    // The recording has the caller's messages and the made-up Returns.
    expect(wire.sent('>', 'rec')).toEqual(['call 4 getBalances', 'call 5 getHeight', 'call 6 getBalances', 'finish 4', 'finish 6', 'finish 5']);
    expect(wire.sent('<', 'rec')).toEqual(wire.sent('<'));
    expect(events.map((e) => [e.kind, e.questionId])).toEqual([['fail', 4], ['fail', 6]]);
    expect(events[0]!.text).toContain('injected exception');
  });

  it('fails a held Call on demand; the Return waits behind what is held in its own direction', () => {
    const { eng, wire, conn } = setup(['hold method:getBalances', 'hold return & method:getHeight']);
    conn.data('<', call(1, 'Chain', 'getHeight'), 0);
    conn.data('>', ret(1), 0); // held: '>' is now blocked
    conn.data('>', call(2, 'Wallet', 'getBalances'), 0);
    const [r, c] = eng.heldList();
    expect([r!.kind, c!.kind]).toEqual(['return', 'call']);
    expect(eng.fail(c!.id, 'x')).toBe(true);
    expect(wire.sent('>')).toEqual([]);
    expect(wire.sent('<')).toEqual(['call 1 getHeight', 'return 2 exception failed: x']);
    eng.release(r!.id);
    expect(wire.sent('>')).toEqual(['return 1 keep-params']);
    expect(eng.heldList()).toEqual([]);
  });

  it('delay holds a Call (and what follows) for the given time', () => {
    vi.useFakeTimers();
    const { wire, conn, events } = setup(['delay method:getBalances=300ms']);
    const t0 = performance.timeOrigin + performance.now();
    conn.data('>', Buffer.concat([call(1, 'Wallet', 'getBalances'), call(2, 'Chain', 'getHeight')]), t0);
    expect(wire.sent('>')).toEqual([]);
    vi.advanceTimersByTime(250);
    expect(wire.sent('>')).toEqual([]);
    vi.advanceTimersByTime(100);
    expect(wire.sent('>')).toEqual(['call 1 getBalances', 'call 2 getHeight']);
    expect(events.map((e) => e.kind)).toEqual(['delay']);
  });

  it('disconnect closes the connection at the matching message, which is not forwarded', () => {
    const { eng, wire, conn, events } = setup(['disconnect method:getBalances', 'hold method:getHeight']);
    conn.data('>', call(1, 'Chain', 'getHeight'), 0);
    expect(eng.heldList().length).toBe(1);
    conn.data('<', call(2, 'Wallet', 'getBalances'), 0);
    expect(wire.closedWith).toMatch(/disconnect rule/);
    expect(wire.sent('<')).toEqual([]);
    expect(eng.heldList()).toEqual([]);
    expect(events.map((e) => e.kind)).toEqual(['hold', 'disconnect']);
  });
});

describe('no rule in force', () => {
  it('relays chunks as they come; a rule added mid-frame takes effect from the next whole frame, byte for byte', () => {
    const { eng, wire, conn } = setup([]);
    expect(eng.passive).toBe(true);
    const a = call(1, 'Chain', 'getHeight');
    const b = call(2, 'ChainNotifications', 'blockConnected');
    const c = call(3, 'ChainNotifications', 'blockConnected');
    const stream = Buffer.concat([a, b, c]);
    const cut = a.length + 5; // in the middle of b's segment table
    conn.data('>', stream.subarray(0, cut), 0);
    expect(Buffer.concat(wire.out['>']).equals(stream.subarray(0, cut))).toBe(true); // passed on at once
    eng.addRule(parseRule('hold', 'method:blockConnected'));
    conn.data('>', stream.subarray(cut), 0);
    // b's rest goes on undecoded (its start already went); c is the first frame the rule sees.
    expect(wire.sent('>')).toEqual(['call 1 getHeight', 'call 2 blockConnected']);
    expect(eng.heldList().map((h) => h.questionId)).toEqual([3]);
    eng.release('all');
    expect(Buffer.concat(wire.out['>']).equals(stream)).toBe(true);
    expect(Buffer.concat(wire.rec['>']).equals(stream)).toBe(true);
  });

  it('a rule dropped while part of a frame waits to be framed: that frame still goes on whole, then chunks go as they come', () => {
    const { eng, wire, conn } = setup(['hold method:blockConnected']);
    const stream = Buffer.concat([call(1, 'Chain', 'getHeight'), call(2, 'Chain', 'getHeight'), call(3, 'Chain', 'getHeight')]);
    conn.data('>', stream.subarray(0, 30), 0);
    eng.removeRule(eng.ruleList[0]!.id);
    conn.data('>', stream.subarray(30, 130), 0);
    conn.data('>', stream.subarray(130), 0);
    expect(Buffer.concat(wire.out['>']).equals(stream)).toBe(true);
    expect(Buffer.concat(wire.rec['>']).equals(stream)).toBe(true);
  });

  it('an injected Return waits for the rest of a frame passed through in its direction', () => {
    const { eng, wire, conn } = setup([]);
    const r = ret(9);
    conn.data('<', r.subarray(0, 10), 0);
    eng.addRule(parseRule('fail', 'method:getBalances'));
    conn.data('>', call(4, 'Wallet', 'getBalances'), 0);
    expect(wire.sent('<')).toEqual([]); // not in the middle of the Return being passed through
    conn.data('<', r.subarray(10), 0);
    expect(wire.sent('<')).toEqual(['return 9 keep-params', 'return 4 exception failed: ipc-trace: injected failure']);
  });
});

/** The sink of a recording: what it records goes through a session pipeline, as the recorder's would. */
function recordingSetup(rules: string[]) {
  const { eng, wire, events } = setup([]);
  for (const r of rules) eng.addRule(parseRuleLine(r)!);
  const p = new Pipeline(schemas, rpc, []);
  p.open({ id: 2, time: 0, label: 'test' });
  const conn = eng.connection(2, {
    write: (d, b) => wire.write(d, b),
    end: (d) => wire.end(d),
    close: (r) => wire.close(r),
    record: (d, b, t) => p.chunk(2, d, b, t),
  });
  const call = (q: number) => p.model.calls.find((c) => c.questionId === q)!;
  return { eng, wire, events, conn, p, call };
}

describe('the recording: each side as it saw it', () => {
  it('a held Return leaves its call outstanding (chains sees the caller waiting) until it is released', () => {
    const { eng, wire, conn, p, call: recorded } = recordingSetup(['hold return & method:getHeight']);
    conn.data('>', call(1, 'Chain', 'getHeight'), 10);
    conn.data('<', ret(1), 20);
    expect(wire.sent('<')).toEqual([]);
    expect(eng.heldList().map((h) => h.kind)).toEqual(['return']);
    const c = recorded(1);
    expect(c.status).toBe('pending');
    expect(p.model.outstanding.has(c.id)).toBe(true);
    expect(outstandingCalls([callRow(c)], [], 30).map((o) => o.row.title)).toEqual(['Chain.getHeight']);
    eng.release('all');
    expect(wire.sent('<')).toEqual(['return 1 keep-params']);
    expect(c.status).toBe('returned');
    // Returned when the caller got it, not when it reached ipc-trace.
    expect(c.returned!).toBeGreaterThan(20);
    expect(outstandingCalls([callRow(c)], [], c.returned! + 1)).toEqual([]);
  });

  it('a held Call and the Calls queued behind it are outstanding from when their caller sent them', () => {
    const { eng, wire, conn, call: recorded } = recordingSetup(['hold method:getBalances']);
    conn.data('>', Buffer.concat([call(1, 'Wallet', 'getBalances'), call(3, 'Chain', 'getHeight')]), 10);
    expect(wire.sent('>')).toEqual([]);
    expect([recorded(1).status, recorded(1).sent, recorded(3).status, recorded(3).sent]).toEqual(['pending', 10, 'pending', 10]);
    eng.release('all');
    expect(wire.sent('>')).toEqual(['call 1 getBalances', 'call 3 getHeight']);
    expect(recorded(1).sent).toBe(10);
  });

  it('a delayed Return shifts the latency the recording measures', () => {
    vi.useFakeTimers();
    const { conn, call: recorded } = recordingSetup(['delay return & method:getHeight=300ms']);
    const t0 = performance.timeOrigin + performance.now();
    conn.data('<', call(2, 'Chain', 'getHeight'), t0);
    conn.data('>', ret(2), t0 + 1);
    expect(recorded(2).status).toBe('pending'); // delayed: the caller has not got it
    vi.advanceTimersByTime(350);
    expect(recorded(2).status).toBe('returned');
    expect(recorded(2).returned! - recorded(2).sent).toBeGreaterThanOrEqual(300);
  });

  it('a failed Call: the caller sent it and got the injected Return; the callee saw neither', () => {
    const { wire, conn, call: recorded } = recordingSetup(['fail method:getBalances=nope']);
    conn.data('>', call(4, 'Wallet', 'getBalances'), 5);
    conn.data('>', finishMessage(4), 6);
    expect(wire.sent('>')).toEqual([]);
    expect(recorded(4)).toMatchObject({ status: 'exception', exception: 'failed: nope', retired: true });
  });
});

describe('rules match the names the session has', () => {
  const capture = parseHexlog(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'captures', 'mining-01.hexlog'), 'utf8'));
  /** Feeds the capture through an interceptor, chunk by chunk, as it was read. */
  function feed(rules: string[]) {
    const { eng, wire, conn } = setup(rules);
    for (const c of capture.chunks) conn.data(c.dir, c.bytes, 0);
    return { eng, wire };
  }

  it('thread: matches the calling thread (from ThreadMap.makeThread and the Context)', () => {
    const { eng } = feed(['hold thread:bitcoin-mine-te & method:waitTipChanged']);
    const titles = eng.heldList().map((h) => h.title);
    expect(titles.length).toBeGreaterThan(0);
    expect(new Set(titles)).toEqual(new Set(['Mining.waitTipChanged']));
    // A thread the connection does not have matches nothing.
    expect(feed(['hold thread:b-scheduler & method:waitTipChanged']).eng.heldList()).toEqual([]);
    // The executing thread counts too: the node's worker made for the client thread.
    expect(feed(['hold thread:from & method:getTip']).eng.heldList().map((h) => h.title)).toEqual(['Mining.getTip']);
  });

  it('text: matches the params as the log renders them', () => {
    expect(feed(['hold text:bitcoin-mine-test & method:makeThread']).eng.heldList().map((h) => h.title)).toEqual(['ThreadMap.makeThread']);
    expect(feed(['hold text:nosuchname & method:makeThread']).eng.heldList()).toEqual([]);
  });

  it('proc: matches the processes named from thread names', () => {
    const { eng } = feed(['hold proc:bitcoin-mine-test & method:getTip']);
    expect(eng.heldList().map((h) => h.title)).toEqual(['Mining.getTip']);
    expect(feed(['hold proc:bitcoin-wallet']).eng.heldList()).toEqual([]);
  });
});

describe('names that come late (from the recording worker)', () => {
  const capture = parseHexlog(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'captures', 'mining-01.hexlog'), 'utf8'));

  /** A names source that applies what was recorded only when told to (as the worker does, some ms later). */
  class LateNames implements NamesSource {
    private readonly inner = new ModelNames(schemas, rpc);
    private readonly waiting: [number, Dir, Uint8Array, number][] = [];
    private recordedCount = 0;
    private applied = 0;
    hurried = 0;
    onUpdate: () => void = () => {};
    want(): void {}
    mark(): number {
      return this.recordedCount;
    }
    reached(mark: number): boolean {
      return this.applied >= mark;
    }
    call(conn: number, dir: Dir, q: number): CallNames | undefined {
      return this.inner.call(conn, dir, q);
    }
    hurry(): void {
      this.hurried++;
    }
    recorded(conn: number, dir: Dir, bytes: Uint8Array, time: number): void {
      this.recordedCount++;
      this.waiting.push([conn, dir, Uint8Array.from(bytes), time]);
    }
    opened(conn: number, time: number, labels: { label?: string }): void {
      this.inner.opened(conn, time, labels);
    }
    closed(conn: number, time: number): void {
      this.inner.closed(conn, time);
    }
    /** Applies everything recorded so far; true if there was something. */
    catchUp(): boolean {
      if (this.waiting.length === 0) return false;
      for (const w of this.waiting.splice(0)) this.inner.recorded(...w);
      this.applied = this.recordedCount;
      this.onUpdate();
      return true;
    }
  }

  function run(rules: string[], late: boolean) {
    const names = late ? new LateNames() : undefined;
    const eng = new Interceptor(schemas, rpc, rules.map((l) => parseRuleLine(l)!), () => {}, names);
    const wire = new Wire();
    const conn = eng.connection(1, wire);
    for (const c of capture.chunks) conn.data(c.dir, c.bytes, 0);
    return { eng, wire, names };
  }
  const held = (eng: Interceptor) => eng.heldList().map((h) => `${h.dir} ${h.kind} ${h.title} ${h.questionId}`);

  it('a thread:/proc: rule waits for them and then holds exactly what it holds when they are known at once', () => {
    for (const rule of ['hold thread:bitcoin-mine-te & method:waitTipChanged', 'hold proc:bitcoin-mine-test & method:getTip', 'hold thread:from & method:getTip']) {
      const now = run([rule], false);
      expect(held(now.eng).length, rule).toBeGreaterThan(0);
      const late = run([rule], true);
      // Nothing decided yet: the first call the rule may concern waits, and everything behind it in its direction.
      expect(held(late.eng), rule).toEqual([]);
      expect(late.wire.sent('>').length, rule).toBeLessThan(now.wire.sent('>').length + now.eng.heldList().length);
      expect(late.names!.hurried, rule).toBeGreaterThan(0);
      let rounds = 0;
      while (late.names!.catchUp()) rounds++;
      expect(rounds, rule).toBeGreaterThan(0);
      expect(held(late.eng), rule).toEqual(held(now.eng));
      expect(late.wire.sent('>'), rule).toEqual(now.wire.sent('>'));
      expect(late.wire.sent('<'), rule).toEqual(now.wire.sent('<'));
    }
  });

  it('a rule on what the message itself says decides at once, without waiting for names', () => {
    const late = run(['hold method:waitTipChanged'], true);
    expect(held(late.eng)).toEqual(held(run(['hold method:waitTipChanged'], false).eng));
    expect(late.names!.hurried).toBe(0);
  });

  it('a message waiting for names goes on as soon as the rule it waited for is dropped', () => {
    const late = run(['hold thread:bitcoin-mine-te & method:waitTipChanged'], true);
    expect(held(late.eng)).toEqual([]);
    const all = run([], false);
    expect(late.wire.sent('>')).not.toEqual(all.wire.sent('>'));
    late.eng.removeRule(late.eng.ruleList[0]!.id);
    expect(late.wire.sent('>')).toEqual(all.wire.sent('>'));
    expect(late.wire.sent('<')).toEqual(all.wire.sent('<'));
  });

  it('a Return whose Call went by before the rule gets its method from the names source', () => {
    const { eng, wire, conn } = setup([]);
    conn.data('>', call(1, 'Chain', 'getHeight'), 0);
    eng.addRule(parseRule('hold', 'return & method:getHeight'));
    conn.data('<', ret(1), 0);
    expect(eng.heldList().map((h) => `${h.kind} ${h.title}`)).toEqual(['return Chain.getHeight']);
    expect(wire.sent('<')).toEqual([]);
  });
});

describe('malformed frames and backpressure', () => {
  // One segment of 2^32-1 words; a table of 2^31 segments (what random bytes usually look like).
  for (const [what, hex] of [['a huge segment', '00000000ffffffff0102030405060708'], ['a huge segment table', 'ffffff7f0102030405060708']] as const) {
    for (const rules of [['hold method:blockConnected'], []]) {
      it(`${what}, ${rules.length ? 'a rule in force' : 'no rule'}: recorded and passed on unchanged, nothing waits for it or keeps it`, () => {
        const { wire, conn, events } = setup(rules);
        const garbage = Buffer.concat([Buffer.from(hex, 'hex'), Buffer.alloc(200000, 0x5a)]);
        const stream = Buffer.concat([call(1, 'Chain', 'getHeight'), garbage]);
        conn.data('>', stream.subarray(0, 30), 0);
        conn.data('>', stream.subarray(30, 100000), 0);
        conn.data('>', stream.subarray(100000), 0);
        conn.data('>', call(2, 'ChainNotifications', 'blockConnected'), 0);
        const all = Buffer.concat([stream, call(2, 'ChainNotifications', 'blockConnected')]);
        expect(Buffer.concat(wire.out['>']).equals(all)).toBe(true);
        expect(Buffer.concat(wire.rec['>']).equals(all)).toBe(true);
        expect(events.map((e) => e.kind)).toEqual(['unframed']);
        expect(conn.dirs['>'].splitter.buffered).toBe(0);
      });
    }
  }

  it('pauses reading the sender while more than a bound waits behind a hold, resumes once released', () => {
    const { eng, conn } = setup(['hold method:blockConnected']);
    const pauses: [Dir, boolean][] = [];
    (conn as unknown as { sink: InterceptSink }).sink.pause = (d, on) => pauses.push([d, on]);
    conn.data('>', call(1, 'ChainNotifications', 'blockConnected'), 0);
    const small = call(2, 'Chain', 'getHeight');
    let sent = 0;
    while (pauses.length === 0 && sent < 100000) {
      conn.data('>', small, 0);
      sent++;
    }
    expect(pauses).toEqual([['>', true]]);
    const h = eng.heldList()[0]!;
    expect(h.behindMessages).toBeLessThanOrEqual(BACKLOG_HIGH.messages + 1);
    conn.data('<', ret(1), 0); // the other direction is not paused
    expect(pauses).toEqual([['>', true]]);
    eng.release('all');
    expect(pauses).toEqual([['>', true], ['>', false]]);
  });
});
