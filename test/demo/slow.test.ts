// `ipc-trace demo --scenario slow`: every method takes 50-300 ms more. Calls
// are long and overlap in both directions, yet chains finds no deadlock at
// any moment: the hang limits come from the session's own timings, and a
// method not seen completing yet is not taken as hung for long.

import { it, expect } from 'vitest';
import { runDemo, expectNoStackTrace, deadlocksOverTime, chainsJson } from './helpers.js';
import { SessionReader } from '../../src/store/reader.js';

it('reports no deadlock at any moment of a slow session', () => {
  const r = runDemo(['--scenario', 'slow', '--duration', '10']);
  expect(r.code, r.stderr).toBe(0);
  expectNoStackTrace(r.stderr);
  // The session is slow indeed: many calls took longer than the hang limits' floor.
  const reader = SessionReader.open(r.db);
  let long = 0;
  try {
    for (const ds of reader.durationsByTitle(Number.MAX_SAFE_INTEGER).values()) long += ds.filter((d) => d >= 300).length;
  } finally {
    reader.close();
  }
  expect(long).toBeGreaterThan(10);
  const sweep = deadlocksOverTime(r.db, 50);
  expect(sweep.moments).toBeGreaterThan(100);
  expect(sweep.withDeadlock).toEqual([]);
  expect(chainsJson(r.db).verdict).toMatch(/^No deadlock; \d+ outstanding calls?$/);
}, 60000);
