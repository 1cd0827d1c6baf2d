// `ipc-trace demo --scenario busy`: a node RPC thread sends Wallet.backupWallet
// (4 s) and, while it runs, Wallet.getBalances on the same thread: both target
// that thread's worker in the wallet, so the second call is queued behind the
// first (libmultiprocess >= v8), and `chains` shows it; at no moment is that
// a deadlock.

import { it, expect } from 'vitest';
import { runDemo, openDb, chainsJson, allNodes, expectNoStackTrace, deadlocksOverTime } from './helpers.js';

it('queues a second call behind a long one on the same wallet thread', () => {
  const r = runDemo(['--scenario', 'busy', '--duration', '6']);
  expect(r.code, r.stderr).toBe(0);
  expectNoStackTrace(r.stderr);
  const db = openDb(r.db);
  let pair: { first: number; second: number; sent: number; returned: number; firstReturned: number };
  try {
    pair = db
      .prepare(
        `SELECT a.id AS first, b.id AS second, b.sent AS sent, b.returned AS returned, a.returned AS firstReturned
           FROM calls a JOIN calls b ON b.executor_thread = a.executor_thread AND b.caller_thread = a.caller_thread
          WHERE a.title = 'Wallet.backupWallet' AND b.title = 'Wallet.getBalances' AND b.sent > a.sent AND b.sent < a.returned
          ORDER BY a.id LIMIT 1`,
      )
      .get() as typeof pair;
  } finally {
    db.close();
  }
  expect(pair, 'a getBalances sent while backupWallet ran on the same thread').toBeDefined();
  // the wallet ran it only after the first one
  expect(pair.returned).toBeGreaterThanOrEqual(pair.firstReturned);
  const at = new Date(pair.sent + 50).toISOString();
  const c = chainsJson(r.db, ['--at', at]);
  const queued = allNodes(c.chains).find((n) => n.call === pair.second);
  expect(queued, JSON.stringify(c.chains)).toBeDefined();
  expect(queued!.queuedBehind).toBe(pair.first);
  expect(queued!.executor.label).toMatch(/^bitcoin-wallet-\d+ \(from bitcoin-node-\d+\/b-httpworker\.2-\d+\)$/);
  // the demo's hint points at such a moment
  expect(r.stderr).toMatch(/npx ipc-trace chains .*demo\.sqlite --at \+\d+\.\d{3} --threads/);
  // A 4 s backup is long, not a deadlock: at no moment of the session.
  const sweep = deadlocksOverTime(r.db);
  expect(sweep.moments).toBeGreaterThan(30);
  expect(sweep.withDeadlock).toEqual([]);
}, 60000);
