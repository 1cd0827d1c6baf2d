// The decoder against the reference: for every fixture hexlog (real captures
// and synthetic messages), each message's name, text, exception, envelope and
// error state equal capnp-oracle's golden output.

import { describe, it, expect } from 'vitest';
import { goldenCases, readJsonl, ourJsonl } from '../helpers.js';

const KEYS = ['n', 'dir', 'type', 'questionId', 'answerId', 'interfaceId', 'methodId', 'name', 'text', 'exception', 'bootstrap', 'rpc'];

/** Fixtures where the live reader's framing limits apply and the oracle (a flat-array reader) has none. */
const FRAMING_LIMIT_CASES = new Set<string>([]);

describe('decoder matches capnp-oracle', () => {
  for (const c of goldenCases()) {
    if (FRAMING_LIMIT_CASES.has(`${c.group}/${c.name}`)) continue;
    it(`${c.group}/${c.name}`, () => {
      const golden = readJsonl(c.golden);
      const ours = ourJsonl(c);
      expect(ours.length).toBe(golden.length);
      for (let i = 0; i < golden.length; i++) {
        const g = golden[i]!;
        const o = ours[i]!;
        const pick = (r: Record<string, unknown>) => Object.fromEntries(KEYS.filter((k) => k in r).map((k) => [k, r[k]]));
        expect({ ...pick(o), error: 'error' in o }, `message ${i}`).toEqual({ ...pick(g), error: 'error' in g });
      }
    });
  }
});
