// Which relay `--listen` uses (src/proxy/pump.ts): IPC_TRACE_RELAY=js forces
// the JavaScript relay, anything but js or pump is refused with a one-line
// UserError. (The pump itself is tested where it is built: test/system/pump.test.ts.)

import { it, expect, afterEach } from 'vitest';
import { join } from 'node:path';
import { relayKind } from '../../src/proxy/pump.js';
import { Relay } from '../../src/proxy/relay.js';
import { UserError } from '../../src/decoder/sources.js';
import { RecordingTap, tempDir } from './helpers.js';

const saved = process.env.IPC_TRACE_RELAY;
afterEach(() => {
  if (saved === undefined) delete process.env.IPC_TRACE_RELAY;
  else process.env.IPC_TRACE_RELAY = saved;
});

it('IPC_TRACE_RELAY=js forces the JavaScript relay', () => {
  process.env.IPC_TRACE_RELAY = 'js';
  expect(relayKind()).toEqual({ pump: false, text: 'js (IPC_TRACE_RELAY=js)' });
});

it('a bad IPC_TRACE_RELAY stops the relay from listening, in one line', async () => {
  process.env.IPC_TRACE_RELAY = 'fast';
  const tmp = tempDir();
  try {
    const r = new Relay({ listen: { kind: 'unix', path: join(tmp.dir, 'p.sock') }, connect: { kind: 'unix', path: join(tmp.dir, 'up.sock') }, tap: new RecordingTap() });
    const err = await r.listen().then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toBe('IPC_TRACE_RELAY must be js or pump, not "fast"');
  } finally {
    tmp.cleanup();
  }
});
