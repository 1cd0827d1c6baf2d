// The decoder against the reference: for every fixture hexlog (real captures
// and synthetic messages), each message's name, text, exception, envelope and
// error state equal capnp-oracle's golden output.
//
// Where they differ by design it is about framing only, and each such place
// is listed below: capnp-oracle frames with its own loop and reads with a
// flat-array reader, so it has neither the live stream reader's limits
// (fewer than 512 segments, at most 8 Mi words; we reject such frames as the
// RPC system does) nor any output for bytes that never complete a frame (we
// report them).

import { describe, it, expect } from 'vitest';
import { goldenCases, readJsonl, ourJsonl } from '../helpers.js';

const KEYS = ['n', 'dir', 'type', 'questionId', 'answerId', 'interfaceId', 'methodId', 'name', 'text', 'exception', 'bootstrap', 'rpc'];

/** Per fixture: frames we reject for the live reader's limits, and reports of bytes that never formed a frame. */
const FRAMING_DIVERGENCES: Record<string, { rejected: RegExp[]; unframed: RegExp[] }> = {
  'synthetic/malformed-segments': { rejected: [/too many segments \(599/, /too many segments \(512/], unframed: [] },
  'synthetic/malformed-hugeframe': {
    rejected: [],
    unframed: [/stream ended inside a rejected message .*too large/, /stream ended inside a segment table|too many segments \(65536/],
  },
  'synthetic/malformed-garbage': { rejected: [], unframed: [/too many segments .*framing lost/] },
  'synthetic/malformed-truncated': { rejected: [], unframed: [/stream ended inside a segment table/, /stream ended inside a message/] },
};

describe('decoder matches capnp-oracle', () => {
  for (const c of goldenCases()) {
    const id = `${c.group}/${c.name}`;
    it(id, () => {
      const golden = readJsonl(c.golden);
      const all = ourJsonl(c);
      const expected = FRAMING_DIVERGENCES[id] ?? { rejected: [], unframed: [] };
      const unframed = all.filter((o) => !('n' in o)).map((o) => String(o.error));
      expect(unframed.length, `unframed: ${unframed.join(' | ')}`).toBe(expected.unframed.length);
      expected.unframed.forEach((re, i) => expect(unframed.find((u) => re.test(u)), String(re)).toBeDefined());
      const ours = all.filter((o) => 'n' in o);
      expect(ours.length).toBe(golden.length);
      const rejected: string[] = [];
      for (let i = 0; i < golden.length; i++) {
        const g = golden[i]!;
        const o = ours[i]!;
        if (o.framing) {
          expect(o.n).toBe(g.n);
          rejected.push(String(o.error));
          continue;
        }
        const pick = (r: Record<string, unknown>) => Object.fromEntries(KEYS.filter((k) => k in r).map((k) => [k, r[k]]));
        expect({ ...pick(o), error: 'error' in o }, `message ${i}`).toEqual({ ...pick(g), error: 'error' in g });
      }
      expect(rejected.length, `rejected: ${rejected.join(' | ')}`).toBe(expected.rejected.length);
      expected.rejected.forEach((re, i) => expect(rejected[i]).toMatch(re));
    });
  }
});
