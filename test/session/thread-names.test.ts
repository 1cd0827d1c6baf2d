// Thread names and labels as libmultiprocess and ipc-trace spell them
// (src/mp/concepts.ts), and the short forms the terminal UI shows.

import { describe, it, expect } from 'vitest';
import { formatThreadName, loopLabel, parseThreadLabel, parseThreadName, workerLabel, workerThreadName } from '../../src/mp/concepts.js';
import { shortThread } from '../../src/tui/format.js';

describe('thread labels', () => {
  const client = formatThreadName('bitcoin-node', 7749, 'b-httpworker.3', 7754);
  const worker = workerLabel('bitcoin-wallet-8001', client);
  const loop = loopLabel('bitcoin-wallet-8001');

  it('round-trips what ipc-trace labels', () => {
    expect(client).toBe('bitcoin-node-7749/b-httpworker.3-7754');
    expect(parseThreadLabel(client)).toEqual({ process: 'bitcoin-node-7749', thread: 'b-httpworker.3-7754', from: null, loop: false });
    expect(parseThreadLabel(worker)).toEqual({ process: 'bitcoin-wallet-8001', thread: null, from: client, loop: false });
    expect(parseThreadLabel(loop)).toEqual({ process: 'bitcoin-wallet-8001', thread: null, from: null, loop: true });
    expect(parseThreadLabel('bitcoin-wallet-8001')).toEqual({ process: 'bitcoin-wallet-8001', thread: null, from: null, loop: false });
    // A worker named by libmultiprocess itself (in its own log) parses as a name with the client it serves.
    const named = workerThreadName('bitcoin-wallet-8001/capnp-loop-8003', client);
    expect(parseThreadName(named)).toMatchObject({ process: 'bitcoin-wallet-8001', from: client });
  });

  it('shortens each form for the calls pane', () => {
    expect(shortThread(client)).toBe('node/b-httpworker.3');
    expect(shortThread(worker)).toBe('wallet(b-httpworker.3)');
    expect(shortThread(loop)).toBe('wallet(loop)');
    expect(shortThread('bitcoin-wallet-8001')).toBe('wallet');
    expect(shortThread(workerLabel('mpsock-25148', 'client#1'))).toBe('mpsock(client#1)');
  });
});
