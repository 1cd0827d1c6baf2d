// The names thread:/proc: rules are matched against, from the recording
// worker's model (RecordingHandle.names): the same decisions as with a model
// of the interceptor's own, though they come some ms after the messages.

import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers.js';
import { loadSchemaBundle, rpcSchemaSet } from '../../src/decoder/sources.js';
import { parseHexlog } from '../../src/decoder/hexlog.js';
import { Interceptor } from '../../src/intercept/engine.js';
import type { InterceptSink } from '../../src/intercept/engine.js';
import { parseRuleLine } from '../../src/intercept/rules.js';
import type { Dir } from '../../src/decoder/messages.js';

const dir = mkdtempSync(join(tmpdir(), 'ipt-names-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const schemas = loadSchemaBundle([], []).set;
const rpc = rpcSchemaSet();
const capture = parseHexlog(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'captures', 'mining-01.hexlog'), 'utf8'));

const held = (eng: Interceptor) => eng.heldList().map((h) => `${h.dir} ${h.kind} ${h.title} ${h.questionId}`);

describe('names from the recording worker', () => {
  it('thread: and proc: rules hold what they hold with names known at once; what waits for names goes on once they come', async () => {
    const { RecordingHandle } = (await import(join(ROOT, 'dist/cli/recording.js'))) as typeof import('../../src/cli/recording.js');
    for (const rule of ['hold thread:bitcoin-mine-te & method:waitTipChanged', 'hold proc:bitcoin-mine-test & method:getTip']) {
      // Names known at once: a model of the interceptor's own.
      const mine = new Interceptor(schemas, rpc, [parseRuleLine(rule)!], () => {});
      const c0 = mine.connection(1, { write() {}, end() {}, close() {}, record() {} });
      for (const c of capture.chunks) c0.data(c.dir, c.bytes, 0);
      const want = held(mine);
      expect(want.length, rule).toBeGreaterThan(0);

      const h = await RecordingHandle.start({ db: join(dir, `${want.length}-${rule.length}.sqlite`), schemaFiles: [], importDirs: [], maxChars: Infinity, command: 'test', printLog: false });
      try {
        const tap = h.tap();
        const eng = new Interceptor(schemas, rpc, [parseRuleLine(rule)!], () => {}, h.names());
        const out: Record<Dir, number> = { '>': 0, '<': 0 };
        const sink: InterceptSink = {
          write: (d, b) => (out[d] += b.length),
          end() {},
          close() {},
          record: (d, b, t) => tap.data(1, d, Buffer.from(b), t),
        };
        tap.open({ id: 1, time: Date.now(), listen: 'test', upstream: 'test' });
        const conn = eng.connection(1, sink);
        for (const c of capture.chunks) conn.data(c.dir, c.bytes, Date.now());
        const until = Date.now() + 20000;
        while (Date.now() < until && held(eng).length < want.length) await new Promise((r) => setTimeout(r, 20));
        expect(held(eng), rule).toEqual(want);
        // Everything up to the first held message in each direction went on.
        eng.release('all');
        eng.removeRule(eng.ruleList[0]!.id);
        const total = (d: Dir) => capture.chunks.filter((c) => c.dir === d).reduce((a, c) => a + c.bytes.length, 0);
        while (Date.now() < until && (out['>'] < total('>') || out['<'] < total('<'))) await new Promise((r) => setTimeout(r, 20));
        expect(out).toEqual({ '>': total('>'), '<': total('<') });
      } finally {
        await h.finish();
      }
    }
  });
});
