import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFilter, FilterExpr } from '../../src/filter/parse.js';
import { compileFilter, compileLineFilter } from '../../src/filter/match.js';
import { filterSql } from '../../src/store/filter-sql.js';
import { SessionReader } from '../../src/store/reader.js';
import { writeSyntheticSession } from '../../src/bench/synthetic-session.js';
import type { CallRow } from '../../src/session/rows.js';
import { filteredLogSinks } from '../../src/filter/log.js';
import { feedHexlog } from '../session/feed.js';
import { ROOT } from '../helpers.js';
import { runCli } from '../cli/run.js';
import { RowIndex } from '../../src/session/row-index.js';
import { callStats } from '../../src/stats/stats.js';

const expr = (s: string): FilterExpr => {
  const r = parseFilter(s);
  if (!r.ok) throw new Error(r.error);
  return r.expr;
};

let dir: string;
let reader: SessionReader;
let calls: CallRow[];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ipc-trace-filter-'));
  writeSyntheticSession(join(dir, 's.sqlite'), { calls: 3000, seed: 7 });
  reader = SessionReader.open(join(dir, 's.sqlite'));
  calls = [...reader.calls()];
});
afterAll(() => {
  reader.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('filter on calls', () => {
  const ctx = () => {
    const threads = new Map(reader.threads().map((t) => [t.id, t.label]));
    const procs = new Map(reader.processes().map((p) => [p.id, p.label]));
    return { threadLabel: (id: number) => threads.get(id), processLabel: (id: number) => procs.get(id), now: reader.span().last! };
  };

  it('the SQL form selects exactly the calls the predicate selects', () => {
    const c = ctx();
    const labels = { threads: reader.threads(), processes: reader.processes(), now: c.now };
    const cases = [
      'method:getBalances',
      'method:GETBALANCES',
      'iface:chain',
      'thread:b-http',
      'thread:b-scheduler & !iface:ChainNotifications',
      'proc:wallet',
      'proc:node & iface:Wallet',
      'conn:1',
      'conn:2',
      'status:pending|exception',
      '!status:returned',
      'slow:>20ms',
      'slow:<1ms | status:canceled',
      'text:call 1[0-9]{2}\\b',
      'text:"balance = [0-9]{3},"',
      '(method:find | method:height) & slow:>=5ms',
      'Balances',
      // A regular expression with an alternative (no literal prefilter), a group, a class.
      'text:"call (12|34)[0-9]\\b" | text:hasResult = false',
      'text:(balance|data) = ',
      '!(thread:b-http | proc:wallet) & !conn:3',
      '!!status:canceled',
      'iface:Wallet & (status:exception | slow:>50ms) & !method:tryGet',
      'thread:nosuchthread | proc:nosuchprocess',
    ];
    for (const s of cases) {
      const e = expr(s);
      const f = compileFilter(e, c);
      const want = calls.filter(f).map((x) => x.id);
      const got = Array.from(reader.callIds(filterSql(e, labels)));
      expect(got, s).toEqual(want);
    }
  });

  it('stats --filter counts the calls the predicate selects', () => {
    // The command filters in SQL; the predicate over every row says which calls it must count.
    const c = ctx();
    const ix = new RowIndex(reader.processes(), reader.threads());
    for (const s of ['thread:b-http & !status:returned', 'text:"balance = [0-9]{3}," | slow:>50ms']) {
      const r = runCli(['stats', join(dir, 's.sqlite'), '--filter', s, '--json']);
      expect(r.code, r.stderr).toBe(0);
      const got = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { key: string; calls: number; errors: number; p99: number | null });
      const want = callStats(calls.filter(compileFilter(expr(s), c)), 'method', ix);
      expect(got.map((g) => [g.key, g.calls, g.errors, g.p99]), s).toEqual(want.map((g) => [g.key, g.calls, g.errors, g.p99]));
    }
  });

  it('matches what each key says', () => {
    const c = ctx();
    const pick = (s: string) => calls.filter(compileFilter(expr(s), c));
    // Names match as case-insensitive substrings of Iface.method.
    const bal = pick('method:getBalances');
    expect(new Set(bal.map((x) => x.title))).toEqual(new Set(['Wallet.getBalances', 'Wallet.tryGetBalances']));
    expect(pick('method:Wallet.getBalances').every((x) => x.title === 'Wallet.getBalances')).toBe(true);
    expect(pick('status:pending').map((x) => x.status)).toEqual(pick('status:pending').map(() => 'pending'));
    const slow = pick('slow:>20ms');
    expect(slow.length).toBeGreaterThan(0);
    for (const x of slow) expect((x.returned ?? c.now) - x.sent).toBeGreaterThan(20);
    // A worker serving a b-httpworker client counts as that thread too (its label names it).
    const http = pick('thread:b-httpworker.0');
    expect(http.length).toBeGreaterThan(0);
    for (const x of http) expect([x.caller, x.executor].some((t) => c.threadLabel(t!)!.includes('b-httpworker.0'))).toBe(true);
    expect(pick('proc:wallet').length).toBe(calls.length);
    expect(pick('!proc:wallet').length).toBe(0);
  });

  it('filters log lines by their text and connection', () => {
    const f = compileLineFilter(expr('conn:2 & thread:b-http | text:disconnect'));
    expect(f('2026-11-30T12:00:00.000000Z c2 > {bitcoin-node-1/b-httpworker.0-3} IPC client send Wallet.getBalances$Params ()')).toBe(true);
    expect(f('2026-11-30T12:00:00.000000Z c1 > {bitcoin-node-1/b-httpworker.0-3} IPC client send Wallet.getBalances$Params ()')).toBe(false);
    expect(f('2026-11-30T12:00:00.000000Z c1 - IPC wire disconnect')).toBe(true);
    // status: and slow: are about calls: they let other lines through.
    expect(compileLineFilter(expr('status:exception'))('anything')).toBe(true);
  });
});

describe('the log through a filter (replay --filter)', () => {
  const lines = (filter: string) => {
    const out: string[] = [];
    feedHexlog(join(ROOT, 'test/fixtures/captures/mining-01.hexlog'), filteredLogSinks(expr(filter), (l) => out.push(l)));
    return out;
  };

  it('keeps the lines of the matching calls, in order, and nothing else of other calls', () => {
    const all = lines('');
    const some = lines('method:isTestChain');
    expect(some.length).toBeGreaterThan(0);
    expect(some.length).toBeLessThan(all.length);
    // A subsequence of the unfiltered log.
    let i = 0;
    for (const l of some) {
      while (i < all.length && all[i] !== l) i++;
      expect(i, l).toBeLessThan(all.length);
    }
    const callLines = some.filter((l) => /IPC (client|server) /.test(l));
    expect(callLines.length).toBeGreaterThan(0);
    for (const l of callLines) expect(l).toMatch(/isTestChain|post request +#\d+ \{/);
    expect(all.some((l) => /IPC client send .*isInitialBlockDownload/.test(l))).toBe(true);
    expect(some.some((l) => /isInitialBlockDownload/.test(l))).toBe(false);
  });

  it('a status filter keeps a call only from the line where it has that status', () => {
    const ret = lines('status:returned & method:isTestChain');
    expect(ret.some((l) => /IPC client recv .*isTestChain/.test(l))).toBe(true);
    expect(ret.some((l) => /IPC client send .*isTestChain/.test(l))).toBe(false);
  });
});

describe('required literal of a text: regular expression (SQL prefilter)', () => {
  it('finds a run every match contains, or none', async () => {
    const { requiredLiteral } = await import('../../src/store/filter-sql.js');
    expect(requiredLiteral('call 12345\\b')).toBe('call 12345');
    expect(requiredLiteral('balance = [0-9]{3},')).toBe('balance = ');
    expect(requiredLiteral('ab?cdef')).toBe('cdef');
    expect(requiredLiteral('a|bcdef')).toBeNull();
    expect(requiredLiteral('x.y')).toBeNull();
    expect(requiredLiteral('\\(height = 19\\d')).toBe('(height = 19');
    expect(requiredLiteral('(abc)+xyz')).toBe('xyz');
    expect(requiredLiteral('(abc)?de')).toBe('de');
    expect(requiredLiteral('(?!abc)d')).toBeNull();
    // Whatever it finds, every match contains it.
    for (const [re, text] of [['call 1[0-9]{2}\\b', 'label = "call 123"'], ['ab?cdef', 'acdef'], ['\\(height = 19\\d', '(height = 192']] as const) {
      expect(new RegExp(re).test(text)).toBe(true);
      expect(text.includes(requiredLiteral(re)!)).toBe(true);
    }
  });
});
