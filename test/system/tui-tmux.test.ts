// The terminal UI end to end, in tmux as a user would see it: the real
// `ipc-trace demo` (live) and `ipc-trace replay DB`. ink treats a set CI
// variable as non-interactive, so the program runs with CI unset.

import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers.js';
import { runCli } from '../cli/run.js';

const MAIN = join(ROOT, 'dist/cli/main.js');
const sessions: string[] = [];
let dir: string;

beforeAll(() => {
  for (const f of ['dist/cli/main.js', 'dist/node/main.js', 'dist/wallet/main.js']) {
    if (!existsSync(join(ROOT, f))) throw new Error(`${f} is missing: build first (npx tsc -p tsconfig.json)`);
  }
  dir = mkdtempSync(join(tmpdir(), 'ipc-trace-tui-'));
  return () => rmSync(dir, { recursive: true, force: true });
});
afterEach(() => {
  for (const s of sessions.splice(0)) {
    try {
      execFileSync('tmux', ['kill-session', '-t', s], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
});

const tmux = (...args: string[]) => execFileSync('tmux', args, { encoding: 'utf8' });

/** Starts `ipc-trace ARGS` in a 120x35 tmux window; after it exits the shell prints EXIT=code and waits. */
function start(args: string[]): string {
  const name = `ipc-trace-tui-${process.pid}-${sessions.length}-${Date.now() % 100000}`;
  // A UTF-8 locale, whatever this machine's: the screens below are matched with the UI's UTF-8 glyphs (glyphs.ts).
  const cmd = `env -u CI -u LC_ALL -u LC_CTYPE LANG=C.UTF-8 node ${MAIN} ${args.map((a) => `'${a}'`).join(' ')}; echo EXIT=$?; sleep 120`;
  tmux('new-session', '-d', '-s', name, '-x', '120', '-y', '35', cmd);
  sessions.push(name);
  return name;
}

const capture = (s: string) => tmux('capture-pane', '-p', '-t', s);
const keys = (s: string, ...k: string[]) => tmux('send-keys', '-t', s, ...k);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(s: string, re: RegExp, ms = 20000): Promise<string> {
  const end = Date.now() + ms;
  let last = '';
  while (Date.now() < end) {
    last = capture(s);
    if (re.test(last)) return last;
    await sleep(150);
  }
  throw new Error(`timed out waiting for ${re} in:\n${last}`);
}

const callsInHeader = (screen: string) => Number(/│ (\d+) calls │/.exec(screen)?.[1] ?? -1);

describe('terminal UI in tmux', () => {
  it('demo: a growing call list, the detail of a call, q stops recording and restores the terminal', async () => {
    const db = join(dir, 'live.sqlite');
    const s = start(['demo', '--db', db]);
    let screen = await waitFor(s, /LIVE .*│ [1-9]\d* calls │/);
    expect(screen).toMatch(/time +c# +caller +method/);
    const first = callsInHeader(screen);
    await sleep(2500);
    screen = capture(s);
    expect(callsInHeader(screen)).toBeGreaterThan(first);
    expect(screen).toMatch(/Wallet\.\w+|Chain\.\w+/);
    // Stop following, pick a call, open it.
    keys(s, 'k', 'k', 'Enter');
    screen = await waitFor(s, /call \d+ +\S+\.\S+ +(returned|pending|exception)/);
    expect(screen).toContain('caller    {');
    expect(screen).toContain('params');
    // The hex dump of the Call and Return messages, at the end of the detail (G goes there).
    keys(s, 'x', 'G');
    screen = await waitFor(s, /[0-9a-f]{6}  ([0-9a-f]{2} ){8}/);
    keys(s, 'q');
    screen = await waitFor(s, /EXIT=\d+/, 30000);
    expect(screen).toContain('EXIT=0');
    expect(screen).toContain(`session recorded in ${db}`);
    // The alternate screen is gone: no UI left on the terminal.
    expect(screen).not.toContain('LIVE');
    expect(screen).not.toContain('q quit');
    // A complete database: ended, no write-ahead log left.
    expect(existsSync(db + '-wal')).toBe(false);
    expect(runCli(['query', db, "SELECT value FROM meta WHERE key = 'ended'"]).stdout).toMatch(/\d{4}-\d\d-\d\dT/);
    expect(Number(runCli(['query', db, 'SELECT count(*) AS n FROM calls']).stdout.split('\n')[1])).toBeGreaterThan(first);
  });

  it('deadlock scenario: the header names the deadlock within 2 s of the hang', async () => {
    const db = join(dir, 'deadlock.sqlite');
    const s = start(['demo', '--scenario', 'deadlock', '--stuck', '1', '--db', db]);
    const screen = await waitFor(s, /Found 1 IPC deadlock/, 40000);
    // The hang's age when it was named: the age of the oldest outstanding call shown with it.
    const oldest = /oldest ([\d.]+)(ms|s)/.exec(screen);
    expect(oldest).not.toBeNull();
    const ageS = oldest![2] === 's' ? Number(oldest![1]) : Number(oldest![1]) / 1000;
    expect(ageS).toBeLessThan(2);
    // The cycle, named in the header: the two b-scheduler threads wait on each other.
    expect(screen).toMatch(/Found 1 IPC deadlock +node\/b-scheduler → wallet\/b-scheduler → node\/b-scheduler/);
    keys(s, '4');
    const chains = await waitFor(s, /Deadlock between bitcoin-node-\d+ and bitcoin-wallet-\d+/);
    expect(chains).toMatch(/waits [\d.]+m?s on ChainNotifications\.blockConnected \[call \d+\]/);
    keys(s, 'q');
    const end = await waitFor(s, /EXIT=\d+/, 30000);
    expect(end).toContain('EXIT=0');
    expect(end).not.toContain('Found 1 IPC deadlock');
  });

  it('replay DB: stats sorted to the slowest method, a filter to one thread, q restores the terminal', async () => {
    const db = join(dir, 'replay.sqlite');
    const r = runCli(['demo', '--no-tui', '--duration', '5', '--db', db, '--log', join(dir, 'replay.log')]);
    expect(r.code).toBe(0);
    const s = start(['replay', db]);
    await waitFor(s, /REPLAY .*│ \d+ calls/);
    keys(s, '5');
    await waitFor(s, /method +calls↓/);
    // s cycles the sort column: calls → errors → flight → p50 → p90 → p99 → max.
    for (let i = 0; i < 6; i++) keys(s, 's');
    const stats = await waitFor(s, /max↓/);
    const rows = stats.split('\n').filter((l) => /^[ ›]\S+\.\S+ +\d+ +\d+ +\d+ /.test(l));
    expect(rows.length).toBeGreaterThan(3);
    const maxes = rows.map((l) => l.trim().split(/ +/).at(-1)!).map((x) => (x.endsWith('us') ? Number(x.slice(0, -2)) / 1000 : x.endsWith('ms') ? Number(x.slice(0, -2)) : Number(x.slice(0, -1)) * 1000));
    expect(maxes).toEqual([...maxes].sort((a, b) => b - a));
    keys(s, '1', 'f');
    keys(s, '-l', 'thread:b-httpworker.1');
    keys(s, 'Enter');
    // The tab line ends with the match count once the filter has run.
    const list = await waitFor(s, /filter: thread:b-httpworker\.1 (follow|paused) \d+ of \d+ calls\n/);
    const [, matches, total] = /(\d+) of (\d+) calls\n/.exec(list)!.map(Number);
    const callRows = list.split('\n').filter((l) => /^[ ›]\d\d:\d\d:\d\d\.\d{3} c\d/.test(l));
    expect(callRows.length).toBeGreaterThan(0);
    expect(matches).toBeGreaterThanOrEqual(callRows.length);
    expect(matches).toBeLessThan(total!);
    for (const l of callRows) expect(l).toContain('b-httpworker.1');
    keys(s, 'q');
    const end = await waitFor(s, /EXIT=\d+/);
    expect(end).toContain('EXIT=0');
    expect(end).not.toContain('REPLAY');
  });
});
