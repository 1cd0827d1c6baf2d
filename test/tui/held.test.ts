import { it, expect } from 'vitest';
import { heldBehind, heldFor, heldRequest } from '../../src/tui/held.js';
import { commandFor } from '../../src/tui/keys.js';
import type { HeldInfo } from '../../src/intercept/engine.js';
import type { CallRow } from '../../src/session/rows.js';

const held = (o: Partial<HeldInfo>): HeldInfo => ({
  id: 1, conn: 1, dir: '>', kind: 'call', title: 'ChainNotifications.blockConnected', questionId: 0, since: 1000, until: null,
  rule: 'hold method:blockConnected', behindMessages: 0, behindBytes: 0, behindCalls: [], ...o,
});
const call = (o: Partial<CallRow>) => ({ conn: 1, questionId: 0, dir: '>' as const, sent: 1000, returned: null as number | null, ...o }) as CallRow;

it('marks the held call itself, not earlier calls that used the same question id', () => {
  const h = [held({})];
  expect(heldFor(h, call({}))).toBe(h[0]);
  expect(heldFor(h, call({ sent: 400, returned: 420 }))).toBeUndefined(); // question 0 of an earlier, finished call
  expect(heldFor(h, call({ dir: '<' }))).toBeUndefined();
  // A held Return is not recorded until it goes on: its call is the one on that question still waiting.
  const r = [held({ kind: 'return', dir: '<', since: 2000 })];
  expect(heldFor(r, call({}))).toBe(r[0]);
  expect(heldFor(r, call({ returned: 1500 }))).toBeUndefined();
});

it('names the calls queued behind a hold', () => {
  const h = [held({ behindCalls: [{ questionId: 3, time: 1100 }] })];
  expect(heldBehind(h, call({ questionId: 3, sent: 1100 }))?.id).toBe(1);
  expect(heldBehind(h, call({ questionId: 3, sent: 900 }))).toBeUndefined();
  expect(heldBehind(h, call({ questionId: 3, sent: 1100, dir: '<' }))).toBeUndefined();
});

it('keys: release picks the selected call when it is held, else the oldest; fail only a Call; live sessions only', () => {
  const h = [held({ id: 4, kind: 'return', dir: '<', since: 50 }), held({ id: 7, questionId: 2, since: 60 })];
  expect(heldRequest('hold.release', h, undefined)).toBe('release 4');
  expect(heldRequest('hold.release', h, call({ questionId: 2, sent: 60 }))).toBe('release 7');
  expect(heldRequest('hold.releaseAll', h, undefined)).toBe('release all');
  expect(heldRequest('hold.step', h, undefined)).toBe('step 4');
  expect(heldRequest('hold.step', h, call({ questionId: 2, sent: 60 }))).toBe('step 7');
  expect(heldRequest('hold.fail', h, undefined)).toBe('fail 7');
  expect(heldRequest('hold.fail', [h[0]!], undefined)).toBeNull();
  expect(heldRequest('hold.release', [], undefined)).toBeNull();
  expect(commandFor('calls', 'h', 'live')).toBe('hold.release');
  expect(commandFor('chains', 'H', 'live')).toBe('hold.releaseAll');
  expect(commandFor('calls', '.', 'live')).toBe('hold.step');
  expect(commandFor('calls', '!', 'live')).toBe('hold.fail');
  expect(commandFor('calls', 'h', 'replay')).toBeUndefined();
});
