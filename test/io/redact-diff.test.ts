// Redaction: the wallet passphrase the demo sends (createWallet with a
// passphrase, Wallet.unlock) is in the plain exports and in none with
// --redact, nor in replay/query --redact, nor anywhere in a recording made
// with --redact. diff: two demo runs with different seeds differ; a run
// against itself does not.

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SessionReader } from '../../src/store/reader.js';
import { runCli } from '../cli/run.js';
import { requireBuilt } from '../demo/helpers.js';
import { DEMO_WALLET_PASSPHRASE } from '../../src/node/node.js';

let dir: string;
let a: string;
let b: string;
let redacted: string;
const SECRET = DEMO_WALLET_PASSPHRASE;

function demo(name: string, args: string[]): string {
  const db = join(dir, `${name}.sqlite`);
  const r = runCli(['demo', '--no-tui', '--duration', '3', '--db', db, '--log', join(dir, `${name}.log`), ...args]);
  expect(r.code, r.stderr).toBe(0);
  return db;
}

beforeAll(() => {
  requireBuilt();
  dir = mkdtempSync(join(tmpdir(), 'ipc-trace-redact-'));
  a = demo('a', ['--seed', '1']);
  b = demo('b', ['--seed', '2']);
  redacted = demo('r', ['--seed', '1', '--redact']);
}, 90000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FORMATS = ['perfetto', 'otlp', 'jsonl', 'calls', 'messages', 'hexlog'];

/** The secret as it can appear: text, JSON-escaped, or hex in a hexlog. */
function leaks(out: string): boolean {
  return out.includes(SECRET) || out.includes(Buffer.from(SECRET).toString('hex'));
}

describe('redaction', () => {
  it('the demo sends the passphrase, and every plain export shows it', () => {
    const log = readFileSync(join(dir, 'a.log'), 'latin1');
    expect(log).toMatch(/Wallet\.unlock\$Params .*walletPassphrase = "demo-passphrase/);
    expect(log).toMatch(/WalletLoader\.createWallet\$Params .*passphrase = "demo-passphrase/);
    for (const f of FORMATS) expect(leaks(runCli(['export', a, '--format', f]).stdout), f).toBe(true);
  });

  it('no export with --redact shows it', () => {
    for (const f of FORMATS) {
      const r = runCli(['export', a, '--format', f, '--redact']);
      expect(r.code, r.stderr).toBe(0);
      expect(leaks(r.stdout), f).toBe(false);
      if (f !== 'hexlog') expect(r.stdout, f).toContain('<redacted>');
    }
    const hex = join(dir, 'a-redacted.hexlog');
    expect(runCli(['export', a, '--format', 'hexlog', '--redact', '--out', hex]).code).toBe(0);
    const decoded = runCli(['decode', '--hexlog', hex]);
    expect(decoded.stdout).toMatch(/walletPassphrase = \\"(\\\\000)+\\"/);
  });

  it('replay and query with --redact mask it; a field the user names is masked too', () => {
    expect(leaks(runCli(['replay', a]).stdout)).toBe(true);
    const replay = runCli(['replay', a, '--redact']);
    expect(leaks(replay.stdout)).toBe(false);
    expect(replay.stdout).toContain('walletPassphrase = <redacted>');
    const q = runCli(['query', a, 'SELECT text FROM messages UNION ALL SELECT params FROM v_calls', '--redact']);
    expect(q.code).toBe(0);
    expect(leaks(q.stdout)).toBe(false);
    const named = runCli(['export', a, '--format', 'jsonl', '--redact-field', 'name']).stdout;
    expect(named).not.toMatch(/name = "(alice|bob|carol|dave)"/);
    expect(named).toContain('name = <redacted>');
  });

  it('a recording made with --redact holds the passphrase nowhere (bytes zeroed)', () => {
    const db = SessionReader.open(redacted);
    const meta = db.metaValue('redacted')!;
    expect(meta).toContain('walletPassphrase');
    let unlocks = 0;
    let chunks = 0;
    for (const r of db.stream()) if (r.k === 'data') expect(r.bytes.includes(SECRET), `chunk ${++chunks}`).toBe(false);
    expect(chunks).toBeGreaterThan(0);
    for (const r of db.query("SELECT title, params FROM v_calls WHERE title IN ('Wallet.unlock', 'WalletLoader.createWallet')") as { title: string; params: string }[]) {
      unlocks++;
      expect(r.params).toMatch(/[pP]assphrase = <redacted>/);
    }
    expect(unlocks).toBeGreaterThan(0);
    for (const r of db.query('SELECT text FROM messages WHERE text IS NOT NULL') as { text: string }[]) expect(r.text.includes(SECRET)).toBe(false);
    db.close();
    expect(leaks(readFileSync(join(dir, 'r.log'), 'latin1'))).toBe(false);
    for (const f of FORMATS) expect(leaks(runCli(['export', redacted, '--format', f]).stdout), f).toBe(false);
    expect(leaks(runCli(['replay', redacted]).stdout)).toBe(false);
  });
});

describe('diff', () => {
  it('finds no differences between a run and itself', () => {
    const r = runCli(['diff', a, a]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('no differences');
    const j = JSON.parse(runCli(['diff', a, a, '--json']).stdout) as { identical: boolean; threads: { divergesAt: number | null }[] };
    expect(j.identical).toBe(true);
    expect(j.threads.length).toBeGreaterThan(3);
    expect(j.threads.every((t) => t.divergesAt === null)).toBe(true);
  });

  it('shows counts, latencies and where each thread diverges between two seeds', () => {
    const j = JSON.parse(runCli(['diff', a, b, '--json']).stdout) as {
      identical: boolean;
      methods: { method: string; a: { calls: number } | null; b: { calls: number } | null; callsChange: number }[];
      threads: { thread: string; divergesAt: number | null; a: string | null; b: string | null }[];
      threadsOnlyInA: string[];
    };
    expect(j.identical).toBe(false);
    // Threads match by name without pids: the node's HTTP workers are in both runs.
    expect(j.threads.map((t) => t.thread)).toContain('bitcoin-node/b-httpworker.0');
    const diverged = j.threads.filter((t) => t.divergesAt !== null);
    expect(diverged.length).toBeGreaterThan(0);
    for (const t of diverged) expect(t.a).not.toBe(t.b);
    for (const m of j.methods) expect(m.callsChange).toBe((m.b?.calls ?? 0) - (m.a?.calls ?? 0));
    expect(j.methods.some((m) => m.callsChange !== 0)).toBe(true);
    const text = runCli(['diff', a, b]).stdout;
    expect(text).toMatch(/^method\s+calls A\s+calls B\s+change\s+p50 A\s+p50 B\s+change/m);
    expect(text).toMatch(/threads whose calls diverge \(\d+ of \d+ in both\):/);
    expect(runCli(['diff', a]).code).toBe(2);
  });
});
