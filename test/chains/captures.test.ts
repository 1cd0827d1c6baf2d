// Chains on real Bitcoin Core traffic (test/fixtures/captures, fed through
// the session model as the recorder does): long-polls (Mining.waitTipChanged,
// BlockTemplate.waitNext) outstanding for long are listed as stuck, never as
// a deadlock; and no moment of any capture has a wait-for cycle, even with
// every outstanding call taken as hung.

import { describe, it, expect } from 'vitest';
import { join } from 'node:path';
import { ROOT, goldenCases, schemaSetFromCgr } from '../helpers.js';
import { feedHexlog } from '../session/feed.js';
import { modelRows } from './build.js';
import { analyzeChains, formatChains } from '../../src/chains/chains.js';
import { Pipeline } from '../../src/session/pipeline.js';
import { rpcSchemaSet } from '../../src/decoder/sources.js';

const CAP = join(ROOT, 'test/fixtures/captures');

/** The session of a capture with its last `title` call still outstanding (the connection open), as a long-poll looks while it waits. */
function longPoll(hexlog: string, title: string) {
  const rows = modelRows(feedHexlog(join(CAP, hexlog), []).model);
  const polls = rows.calls.filter((c) => c.title === title);
  expect(polls.length).toBeGreaterThan(1);
  const last = polls[polls.length - 1]!;
  last.returned = null;
  last.status = 'pending';
  for (const c of rows.connections) c.closed = null;
  return { rows, last };
}

describe('long-polls in real traffic', () => {
  for (const [hexlog, title] of [
    ['mining-01.hexlog', 'Mining.waitTipChanged'],
    ['template-01.hexlog', 'BlockTemplate.waitNext'],
  ] as const) {
    it(`lists a ${title} outstanding for 30 s as stuck, not as a deadlock`, () => {
      const { rows, last } = longPoll(hexlog, title);
      const r = analyzeChains({ ...rows, at: last.sent + 30000 });
      expect(r.deadlocks).toEqual([]);
      expect(r.outstanding).toBe(1);
      expect(r.stuck.map((s) => [s.call, s.stuck, s.hung])).toEqual([[last.id, true, true]]);
      expect(r.chains[0]!.waiter.label).toMatch(/^bitcoin-mine-test-\d+\/bitcoin-mine-te-\d+$/);
      expect(r.stuck[0]!.blocked.thread.label).toMatch(/ \(from bitcoin-mine-test-\d+\/bitcoin-mine-te-\d+\)$/);
      const text = formatChains(r, { when: 'now' });
      expect(text.split('\n')[0]).toBe('No deadlock; 1 outstanding call');
      expect(text).toContain(`waits 30.0s on ${title} [call ${last.id}]`);
    });
  }
});

describe('real captures', () => {
  const everythingHung = { limitFor: () => -1 };
  const sessions = goldenCases()
    .filter((c) => c.group === 'captures' && !c.name.startsWith('mpexample'))
    .map((c) => ({ name: c.name, model: () => feedHexlog(c.hexlog, [], schemaSetFromCgr(c.cgr)).model }));
  // mpexample spawns mpcalculator and mpprinter: three processes in one session.
  sessions.push({
    name: 'mpexample',
    model: () => {
      const schemas = schemaSetFromCgr(join(ROOT, 'test/golden/captures/mpexample.cgr'));
      const p = new Pipeline(schemas, rpcSchemaSet(), []);
      feedHexlog(join(CAP, 'mpexample-mpcalculator-01.hexlog'), [], schemas, 1, p);
      feedHexlog(join(CAP, 'mpexample-mpprinter-01.hexlog'), [], schemas, 2, p);
      return p.model;
    },
  });

  it('have no wait-for cycle at any moment, even taking every outstanding call as hung', () => {
    let moments = 0;
    let outstanding = 0;
    for (const s of sessions) {
      const rows = modelRows(s.model());
      for (const c of rows.calls) {
        const r = analyzeChains({ ...rows, at: c.sent, limits: everythingHung });
        expect(r.deadlocks, `${s.name} at call ${c.id}`).toEqual([]);
        moments++;
        outstanding += r.outstanding;
      }
    }
    // The moments looked at had calls in flight (nested ones included), so there was something to get wrong.
    expect(sessions.length).toBeGreaterThanOrEqual(8);
    expect(outstanding).toBeGreaterThan(moments);
  });
});
