// `ipc-trace demo` (scenario normal) as a user runs it: the bundled
// bitcoin-node spawns bitcoin-wallet -ipcfd 3 through the exec shims; the
// session holds hundreds of calls both ways, named threads on both sides,
// and callbacks nested inside calls in both directions; chains finds no
// deadlock at any moment of it.

import { it, expect } from 'vitest';
import { readFileSync, statSync } from 'node:fs';
import { runDemo, openDb, isRunning, processPids, expectNoStackTrace, deadlocksOverTime } from './helpers.js';

it('records steady node <-> wallet traffic with nested callbacks both ways, then stops cleanly', () => {
  const r = runDemo(['--duration', '10']);
  expect(r.code, r.stderr).toBe(0);
  expectNoStackTrace(r.stderr);
  expect(r.stderr).toMatch(/session recorded in .*demo\.sqlite.*ipc-trace chains .*demo\.sqlite/);
  const db = openDb(r.db);
  try {
    expect(db.prepare("SELECT value FROM meta WHERE key = 'ended'").pluck().get()).toBeTruthy();
    const conns = db.prepare('SELECT label, closed FROM connections').all() as { label: string; closed: number | null }[];
    expect(conns).toHaveLength(1);
    expect(conns[0]!.label).toMatch(/^exec:bitcoin-node\[\d+\] -> exec:bitcoin-wallet\[\d+, launched as \d+\]$/);
    expect(conns[0]!.closed).not.toBeNull();
    // The database is at most twice the raw bytes it recorded (chunks and texts are stored deflated).
    const wire = db.prepare('SELECT sum(size) FROM chunk_blocks').pluck().get() as number;
    expect(wire).toBeGreaterThan(100_000);
    expect(statSync(r.db).size).toBeLessThanOrEqual(2 * wire);

    const calls = db.prepare('SELECT count(*) FROM calls').pluck().get() as number;
    expect(calls).toBeGreaterThan(300);
    const statuses = db.prepare('SELECT DISTINCT status FROM calls').pluck().all() as string[];
    for (const s of statuses) expect(['returned', 'exception']).toContain(s);
    // both directions carry calls
    const dirs = db.prepare('SELECT dir, count(*) AS n FROM calls GROUP BY dir').all() as { dir: string; n: number }[];
    expect(dirs.map((d) => d.dir).sort()).toEqual(['<', '>']);
    for (const d of dirs) expect(d.n).toBeGreaterThan(50);

    // threads, named like Bitcoin Core's, on both sides
    const threads = db.prepare('SELECT label FROM threads').pluck().all() as string[];
    const nodePid = r.nodePid;
    const has = (re: RegExp) => expect(threads.some((t) => re.test(t)), `${re} in ${threads.join(', ')}`).toBe(true);
    has(new RegExp(`^bitcoin-node-${nodePid}/b-httpworker\\.0-\\d+$`));
    has(new RegExp(`^bitcoin-node-${nodePid}/b-scheduler-\\d+$`));
    has(new RegExp(`^bitcoin-node-${nodePid}/bitcoin-node-${nodePid}$`));
    has(new RegExp(`^bitcoin-wallet-\\d+ \\(from bitcoin-node-${nodePid}/b-httpworker\\.\\d-\\d+\\)$`));
    has(new RegExp(`^bitcoin-wallet-\\d+ \\(from bitcoin-node-${nodePid}/b-scheduler-\\d+\\)$`));
    has(/^bitcoin-wallet-\d+\/b-scheduler-\d+$/);
    has(new RegExp(`^bitcoin-node-${nodePid} \\(from bitcoin-wallet-\\d+/b-scheduler-\\d+\\)$`));

    // callbacks nested inside calls, in both directions
    const nested = db
      .prepare('SELECT c.dir AS dir, p.dir AS pdir, c.title AS title, p.title AS ptitle FROM calls c JOIN calls p ON p.id = c.parent_call')
      .all() as { dir: string; pdir: string; title: string; ptitle: string }[];
    for (const n of nested) expect(n.dir).not.toBe(n.pdir);
    const walletToNodeInNodeToWallet = nested.filter((n) => n.pdir === '>' && n.dir === '<');
    const nodeToWalletInWalletToNode = nested.filter((n) => n.pdir === '<' && n.dir === '>');
    expect(walletToNodeInNodeToWallet.length).toBeGreaterThan(20);
    expect(nodeToWalletInWalletToNode.length).toBeGreaterThan(0);
    const pairs = new Set(nested.map((n) => `${n.ptitle} > ${n.title}`));
    expect(pairs).toContain('Wallet.createTransaction > Chain.estimateSmartFee');
    expect(pairs).toContain('Chain.requestMempoolTransactions > ChainNotifications.transactionAddedToMempool');
    // and a three-deep chain: node -> wallet -> node -> wallet
    const deep = db.prepare('SELECT max(depth) FROM calls').pluck().get() as number;
    expect(deep).toBeGreaterThanOrEqual(2);

    // the chain notifications come from the node's scheduler thread
    const sched = db
      .prepare("SELECT count(*) FROM calls c JOIN threads t ON t.id = c.caller_thread WHERE c.title = 'ChainNotifications.blockConnected' AND t.label LIKE '%/b-scheduler-%'")
      .pluck()
      .get() as number;
    expect(sched).toBeGreaterThan(0);

    // both processes are gone
    expect(isRunning(nodePid)).toBe(false);
    const wallets = processPids(db, 'bitcoin-wallet');
    expect(wallets).toHaveLength(1);
    expect(isRunning(wallets[0]!)).toBe(false);
  } finally {
    db.close();
  }
  // Steady traffic is never a deadlock: chains at every 100 ms of the session.
  const sweep = deadlocksOverTime(r.db);
  expect(sweep.moments).toBeGreaterThan(50);
  expect(sweep.withDeadlock).toEqual([]);
  const log = readFileSync(r.log, 'utf8');
  expect(log).toMatch(/IPC client send Init\.makeWalletLoader\$Params/);
  expect(log).toMatch(/IPC server post request  #\d+ \{bitcoin-node-\d+\/b-httpworker\.\d-\d+\} \(callback inside #\d+ Wallet\.createTransaction\)/);
}, 60000);
