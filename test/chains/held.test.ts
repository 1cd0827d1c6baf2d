// Calls ipc-trace itself holds up (--hold): from the session's interventions,
// a held Call, a held Return and calls queued behind a hold on the wire are
// told apart from calls blocked in a process, in the report and its text.

import { describe, it, expect } from 'vitest';
import { World } from './build.js';
import { analyzeChains, formatChains, heldCalls, type HeldEvent } from '../../src/chains/chains.js';

function world() {
  const w = new World();
  const node = w.process('bitcoin-node');
  const wallet = w.process('bitcoin-wallet');
  const sched = w.client(node, 'b-scheduler');
  const http = w.client(node, 'b-httpworker.0');
  const walletSched = w.client(wallet, 'b-scheduler');
  const forSched = w.worker(wallet, sched);
  const forHttp = w.worker(wallet, http);
  const forWallet = w.worker(node, walletSched);
  const held = w.call('ChainNotifications.blockConnected', sched, forSched, 0, { questionId: 4 });
  const behind = w.call('Wallet.getBalances', http, forHttp, 100, { questionId: 5 });
  const other = w.call('Chain.getHeight', walletSched, forWallet, 150, { questionId: 4, dir: '<' });
  return { w, held, behind, other };
}

const hold = (n: number, time: number, dir: '>' | '<', questionId: number): HeldEvent => ({ time, conn: 1, dir, kind: 'hold', held: n, questionId });

describe('calls ipc-trace holds up', () => {
  it('a held Call, and the calls behind it in its direction; the other direction is not held up', () => {
    const { w, held, behind, other } = world();
    const m = heldCalls([hold(3, 1, '>', 4)], w.calls, 1000);
    expect(m.get(held)).toEqual({ hold: 3, what: 'call' });
    expect(m.get(behind)).toEqual({ hold: 3, what: 'queued' });
    expect(m.has(other)).toBe(false);
  });

  it('nothing once released (or failed), and nothing before the hold', () => {
    const { w } = world();
    const release: HeldEvent = { ...hold(3, 500, '>', 4), kind: 'release' };
    expect(heldCalls([hold(3, 1, '>', 4), release], w.calls, 1000).size).toBe(0);
    expect(heldCalls([hold(3, 1, '>', 4), { ...release, kind: 'fail' }], w.calls, 1000).size).toBe(0);
    expect(heldCalls([hold(3, 1, '>', 4), release], w.calls, 400).size).toBe(2);
    expect(heldCalls([hold(3, 1, '>', 4)], w.calls, 0.5).size).toBe(0);
  });

  it('a held Return: its call answered, the caller still waiting', () => {
    const { w, other } = world();
    // other's Call went '<', so its Return comes back '>'.
    const m = heldCalls([hold(9, 200, '>', 4)], w.calls, 1000);
    expect(m.get(other)).toEqual({ hold: 9, what: 'return' });
  });

  it('the report and its text name the hold instead of a blocked thread', () => {
    const { w, held } = world();
    const r = analyzeChains({ ...w.input(10000), interventions: [hold(3, 1, '>', 4)] });
    const node = r.chains.find((n) => n.call === held)!;
    expect(node.heldBy).toEqual({ hold: 3, what: 'call' });
    // The held call closes a cycle here (the wallet's scheduler waits in the node).
    const step = r.deadlocks[0]!.steps.find((s) => s.call === held)!;
    expect(step.blocked.heldBy).toEqual({ hold: 3, what: 'call' });
    const text = formatChains(r, { when: 'now', threads: true });
    expect(text).toMatch(/held by ipc-trace \(hold #3\): bitcoin-wallet-\d+ has not received it/);
    expect(text).toContain('release hold #3');
    expect(text).toContain("queued on the wire behind ipc-trace's hold #3");
    expect(text).toMatch(/run by \{bitcoin-wallet-\d+ \(from bitcoin-node-\d+\/b-scheduler-\d+\)\}, not received \(held by ipc-trace\)/);
    // Without interventions, the same calls are blocked in the wallet as before.
    const plain = formatChains(analyzeChains(w.input(10000)), { when: 'now', threads: true });
    expect(plain).not.toContain('ipc-trace');
  });
});
