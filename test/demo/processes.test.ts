// The demo processes on their own: bitcoin-node finds bin/bitcoin-wallet
// (argv[0] has no directory), spawns it with -ipcfd 3, prints nothing on
// stdout and exits 0 after -duration; with -ipcbind a wallet started with
// -ipcconnect connects to it and exits when the node goes away.

import { it, expect, onTestFinished } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers.js';
import { requireBuilt, expectNoStackTrace } from './helpers.js';

it('bitcoin-node spawns its wallet and exits cleanly after -duration', () => {
  requireBuilt();
  const r = spawnSync(process.execPath, [join(ROOT, 'dist/node/main.js'), '-duration=3', '-seed=7'], { argv0: 'node', timeout: 20000 });
  expect(r.status, r.stderr.toString()).toBe(0);
  expect(r.stdout.toString()).toBe('');
  expect(r.stderr.toString()).toBe('');
}, 30000);

it('rejects unknown options in one line', () => {
  requireBuilt();
  const r = spawnSync(process.execPath, [join(ROOT, 'dist/node/main.js'), '-scenario=nope'], { timeout: 10000 });
  expect(r.status).toBe(2);
  expect(r.stderr.toString()).toMatch(/^bitcoin-node: unknown -scenario=nope .*\n$/);
});

it('a wallet started with -ipcconnect talks to a node started with -ipcbind', async () => {
  requireBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'ipc-trace-demo-bind-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const sock = join(dir, 'node.sock');
  const node = spawn(process.execPath, [join(ROOT, 'dist/node/main.js'), `-ipcbind=unix:${sock}`, '-duration=4'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let nodeErr = '';
  node.stderr.on('data', (d: Buffer) => (nodeErr += d.toString()));
  await new Promise((r) => setTimeout(r, 800));
  const wallet = spawn(process.execPath, [join(ROOT, 'dist/wallet/main.js'), `-ipcconnect=unix:${sock}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let walletErr = '';
  let walletOut = '';
  wallet.stderr.on('data', (d: Buffer) => (walletErr += d.toString()));
  wallet.stdout.on('data', (d: Buffer) => (walletOut += d.toString()));
  const [nodeCode, walletCode] = await Promise.all([
    new Promise<number | null>((r) => node.once('exit', (c) => r(c))),
    new Promise<number | null>((r) => wallet.once('exit', (c) => r(c))),
  ]);
  expect(nodeCode, nodeErr).toBe(0);
  expect(walletCode, walletErr).toBe(0);
  expect(walletOut).toBe('');
  expectNoStackTrace(nodeErr + walletErr);
}, 30000);
