// `ipc-trace demo --scenario slow`: every method takes 50-300 ms more. Calls
// are long and overlap in both directions, yet chains finds no deadlock at
// any moment: the hang limits come from the session's own timings, and a
// method not seen completing yet is not taken as hung for long.

import { it, expect } from 'vitest';
import { runDemo, expectNoStackTrace, deadlocksOverTime, chainsJson } from './helpers.js';
import { SessionReader } from '../../src/store/reader.js';
import { runCli } from '../cli/run.js';

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
  // For scripts: --check passes on it, and fails at a moment with a call outstanding past --stuck.
  expect(runCli(['chains', r.db, '--check']).code).toBe(0);
  const c = chainsJson(r.db, ['--at', '+4']);
  const call = c.chains[0];
  expect(call, 'a call outstanding 4 s into the session').toBeDefined();
  expect(runCli(['chains', r.db, '--at', '+4', '--stuck', '0', '--check']).code).toBe(1);
  // Ids for programs: the call's threads and processes as the session database numbers them.
  const reader2 = SessionReader.open(r.db);
  try {
    const row = reader2.call(call!.call)!;
    expect([call!.waiter.thread, call!.executor.thread]).toEqual([row.caller, row.executor]);
    expect(call!.waiter.process).toBe(row.clientProcess);
  } finally {
    reader2.close();
  }
  const bad = runCli(['chains', r.db, '--at', 'yesterday']);
  expect([bad.code, bad.stderr.trim().split('\n').length]).toEqual([2, 1]);
}, 60000);
