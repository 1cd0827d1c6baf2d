// The recording proxy as a user runs it (the built CLI, real Unix sockets,
// byte-replaying peers on both sides): bytes pass unchanged, every call is
// recorded with threads, nesting and status, the log reads like the
// processes' own -debug=ipc logs, replay reproduces the live log byte for
// byte, malformed traffic is relayed and recorded as decode errors, and
// SIGINT shuts down cleanly.

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ROOT, readJsonl } from '../helpers.js';
import { replayThrough, replayPartly } from '../support/hexlog-peers.js';
import { parseHexlog } from '../../src/decoder/hexlog.js';
import { MessageDecoder, StreamDecoder } from '../../src/decoder/messages.js';
import { bundledSchemaSet, rpcSchemaSet } from '../../src/decoder/sources.js';
import { runCli } from '../cli/run.js';
import { parseIpcLog, compareClient, compareServer, captureWindow, theirs } from '../session/debuglog.js';

const CAP = join(ROOT, 'test/fixtures/captures');
const dir = mkdtempSync(join(tmpdir(), 'ipc-trace-e2e-'));
const proxySock = join(dir, 'proxy.sock');
const db = join(dir, 'session.sqlite');
const liveLog = join(dir, 'live.log');
let proc: ChildProcess;
let exitCode: Promise<number | null>;
/** Starts the proxy towards one upstream socket path; the replay peers serve that path per test. */
async function startProxy(connect: string): Promise<void> {
  proc = spawn(process.execPath, [join(ROOT, 'dist/cli/main.js'), '--listen', proxySock, '--connect', connect, '--db', db, '--log', liveLog, '--no-tui'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  exitCode = new Promise((r) => proc.on('exit', (code) => r(code)));
  await new Promise<void>((resolve, reject) => {
    let err = '';
    proc.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('listening on')) resolve();
    });
    proc.once('exit', () => reject(new Error(`proxy exited: ${err}`)));
  });
}

const SHARED_UPSTREAM = join(dir, 'upstream.sock');

describe('recording proxy end to end', () => {
  beforeAll(async () => {
    await startProxy(SHARED_UPSTREAM);
  });
  afterAll(() => {
    if (proc.exitCode === null) proc.kill('SIGKILL');
  });

  const sessions = ['mining-01', 'template-01', 'echo-01', 'disconnect-01', 'cli-01', 'cli-02'];

  it('relays real captures byte for byte, one connection after another', async () => {
    for (const s of sessions) {
      const [r] = await replayThrough(join(CAP, `${s}.hexlog`), proxySock, SHARED_UPSTREAM);
      expect(r!.clientGot, s).toBe(r!.expectedToClient);
      expect(r!.serverGot, s).toBe(r!.expectedToServer);
    }
  });

  it('relays many concurrent connections with large multi-segment messages unchanged', async () => {
    // Each upstream connection serves big-01 again; 12 at once.
    const runs = await replayThrough(join(CAP, 'big-01.hexlog'), proxySock, SHARED_UPSTREAM, 12);
    expect(runs).toHaveLength(12);
    for (const r of runs) {
      expect(r.clientGot).toBe(r.expectedToClient);
      expect(r.serverGot).toBe(r.expectedToServer);
    }
  }, 60000);

  it.runIf(process.platform === 'linux')('records in a thread ten nice levels below the relay\'s (the relay gets the processors first)', () => {
    const nice = (task: string) => Number(readFileSync(`/proc/${proc.pid}/task/${task}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]);
    const relay = nice(String(proc.pid));
    const tasks = readdirSync(`/proc/${proc.pid}/task`).map(nice);
    expect(tasks.filter((n) => n === Math.min(19, relay + 10))).toHaveLength(1);
  });

  it('chains reads the live database: a call outstanding while the session records', async () => {
    // Hold the mining client back before the chunk carrying Mining.interrupt: waitTipChanged stays outstanding.
    const hexlog = join(CAP, 'mining-01.hexlog');
    const clientChunks = parseHexlog(readFileSync(hexlog, 'latin1')).chunks.filter((c) => c.dir === '>');
    const stream = new StreamDecoder(new MessageDecoder(bundledSchemaSet(), rpcSchemaSet()));
    const holdAt = clientChunks.findIndex((c) => stream.push('>', c.bytes).some((d) => d.name === 'Mining.interrupt$Params'));
    expect(holdAt).toBeGreaterThan(0);
    const partly = await replayPartly(hexlog, proxySock, SHARED_UPSTREAM, holdAt);
    let report: { outstanding: number; chains: { title: string; waiter: { label: string }; interrupted: boolean }[] } = { outstanding: 0, chains: [] };
    // Earlier connections' calls cut by a disconnect are listed too; the live one is not interrupted.
    const live = () => report.chains.filter((c) => !c.interrupted);
    // The recorder works behind the relay: wait until it has caught up with what the peers exchanged.
    const settled = () => report.outstanding === 1 && live()[0]?.title === 'Mining.waitTipChanged';
    for (let i = 0; i < 100 && !settled(); i++) {
      await new Promise((r) => setTimeout(r, 100));
      report = JSON.parse(runCli(['chains', db, '--json']).stdout);
    }
    partly.close();
    expect(report.outstanding).toBe(1);
    expect(live()).toHaveLength(1);
    expect(live()[0]!.title).toBe('Mining.waitTipChanged');
    expect(live()[0]!.waiter.label).toBe('bitcoin-mine-test-32192/bitcoin-mine-te-32192');
    const text = runCli(['chains', db, '--stuck', '0']).stdout;
    expect(text).toMatch(/^No deadlock; 1 outstanding call\n/);
    expect(text).toContain('(now; session still recording)');
    expect(text).toMatch(/bitcoin-mine-test-32192\/bitcoin-mine-te-32192 waits \S+ on Mining\.waitTipChanged \[call \d+\]/);
  });

  it('relays malformed traffic unchanged and records decode errors', async () => {
    const [r] = await replayThrough(join(ROOT, 'test/fixtures/synthetic/malformed-envelope.hexlog'), proxySock, SHARED_UPSTREAM);
    expect(r!.clientGot).toBe(r!.expectedToClient);
    expect(r!.serverGot).toBe(r!.expectedToServer);
  });

  it('on SIGINT flushes, closes the database, removes the socket and exits 0', async () => {
    proc.kill('SIGINT');
    expect(await exitCode).toBe(0);
    expect(existsSync(proxySock)).toBe(false);
    expect(statSync(db).mode & 0o777).toBe(0o600);
  });

  it('recorded every call with threads, status and the same -debug=ipc lines as the real processes', () => {
    const d = new Database(db, { readonly: true });
    const conns = d.prepare('SELECT count(*) FROM connections').pluck().get() as number;
    expect(conns).toBe(sessions.length + 12 + 2);
    // Every message of every capture connection is in the messages table, none undecodable.
    const errs = d.prepare("SELECT count(*) FROM message_rows m JOIN connections c ON c.id = m.conn WHERE m.error IS NOT NULL AND c.id <= ?").pluck().get(sessions.length + 12) as number;
    expect(errs).toBe(0);
    // mining: waitTipChanged interrupted by Mining.interrupt from a second thread; all returned.
    const mining = d
      .prepare("SELECT title, status, caller_thread IS NOT NULL AS has_caller FROM calls WHERE conn = 1 ORDER BY id")
      .all() as { title: string; status: string; has_caller: number }[];
    expect(mining.map((m) => m.title)).toContain('Mining.interrupt');
    expect(mining.every((m) => m.status === 'returned')).toBe(true);
    // disconnect: the client died mid-call, the call was interrupted.
    const disc = d.prepare("SELECT title, status FROM calls WHERE conn = 4 AND status = 'disconnected'").all() as { title: string }[];
    expect(disc.length).toBeGreaterThan(0);
    // Threads: the mining client's thread is named from makeThread, its worker shown as (from …).
    const threads = d.prepare('SELECT label FROM threads').pluck().all() as string[];
    expect(threads).toContain('bitcoin-mine-test-32192/bitcoin-mine-te-32192');
    expect(threads.some((t) => t.endsWith('(from bitcoin-mine-test-32192/bitcoin-mine-te-32192)'))).toBe(true);
    // The malformed connection: decode errors recorded, later valid messages decoded.
    const last = sessions.length + 12 + 2;
    const bad = d.prepare("SELECT count(*) FROM errors WHERE conn = ? AND kind = 'decode'").pluck().get(last) as number;
    const good = d.prepare('SELECT count(*) FROM message_rows WHERE conn = ? AND error IS NULL').pluck().get(last) as number;
    // malformed-envelope: three messages whose rpc envelope is broken, valid ones around them.
    expect(bad).toBe(3);
    expect(good).toBeGreaterThan(3);
    d.close();

    // The live log, per connection, reads like the processes' own logs.
    const live = readFileSync(liveLog, 'latin1');
    const forConn = (c: number) =>
      parseIpcLog(
        live
          .split('\n')
          .filter((l) => l.includes(` c${c} `))
          .map((l) => l.replace(/^\S+Z c\d+ \S /, ''))
          .join('\n'),
      );
    const logs: Record<string, [string | null, string]> = {
      'mining-01': ['mining.client.log', 'mining.node.log'],
      'template-01': ['template.client.log', 'template.node.log'],
      'echo-01': ['echo.client.log', 'echo.node.log'],
      'disconnect-01': ['disconnect.client.log', 'disconnect.node.log'],
      'cli-01': [null, 'cli.node.log'],
      'cli-02': [null, 'cli.node.log'],
    };
    sessions.forEach((s, i) => {
      const our = forConn(i + 1);
      const [client, server] = logs[s]!;
      if (client) compareClient(our, theirs(client, null));
      compareServer(our, theirs(server, captureWindow(`${s}.hexlog`)));
    });
  });

  it('replay prints the same log the live session printed', () => {
    const r = runCli(['replay', db, '--no-tui']);
    expect(r.code).toBe(0);
    expect(r.bytes).toBe(readFileSync(liveLog, 'latin1'));
  });

  it('exports a connection as a hexlog that decodes like the original capture, and answers queries', () => {
    const out = join(dir, 'c1.hexlog');
    expect(runCli(['export', db, '--format', 'hexlog', '--conn', '1', '--out', out]).code).toBe(0);
    const dec = runCli(['decode', '--hexlog', out]);
    const ours = dec.bytes.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const golden = readJsonl(join(ROOT, 'test/golden/captures/mining-01.jsonl'));
    expect(ours.map((o) => [o.n, o.name, o.text])).toEqual(golden.map((g) => [g.n, g.name, g.text]));
    const many = runCli(['export', db, '--format', 'hexlog']);
    expect(many.code).toBe(1);
    expect(many.stderr).toContain('choose one with --conn N');
    const calls = runCli(['export', db, '--conn', '2']).stdout.trim().split('\n').map((l) => JSON.parse(l) as { title: string });
    expect(calls.some((c) => c.title === 'BlockTemplate.getBlock')).toBe(true);
    const q = runCli(['query', db, "SELECT count(*) AS n FROM calls WHERE status = 'disconnected'"]);
    expect(q.stdout).toMatch(/^n\n[1-9]\d*\n$/);
    expect(runCli(['query', db, 'DELETE FROM calls']).code).toBe(1);
  });

  it('chains reads the finished session', () => {
    const r = runCli(['chains', db]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^No deadlock; 0 outstanding calls\n {2}at .* \(end of session\)/);
    const j = runCli(['chains', db, '--json']);
    expect(JSON.parse(j.stdout).outstanding).toBe(0);
  });
});

