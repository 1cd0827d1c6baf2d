// `npm run bench` (sessions in and out): on a 100k-call session, the rate
// (calls/s) of reading its rows, of each export format, of stats, and of
// importing the -debug=ipc logs of the same 100k calls (parse + rows +
// database). Then the store's figures: recording rate at the start and the
// end of 10^6 messages (BENCH_MESSAGES), replay rate of that database, and
// the database size against the wire bytes of a demo session
// (BENCH_DEMO_SECONDS, 0 to skip). Figures on a shared machine are noisy:
// compare orders of magnitude; the per-CPU-second rates are steadier.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../store/store.js';
import { SessionReader } from '../store/reader.js';
import { loadSchemaBundle } from '../decoder/sources.js';
import { emptyDelta, CallRow, ThreadRow } from '../session/rows.js';
import { perfettoTrace } from '../export/perfetto.js';
import { otlpRequest } from '../export/otlp.js';
import { jsonlLines } from '../export/jsonl.js';
import { callStats } from '../stats/stats.js';
import { RowIndex } from '../session/row-index.js';
import { DebugLogImporter } from '../import/debuglog.js';
import { isoTime } from '../log/ipclog.js';
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { PACKAGE_ROOT } from '../decoder/sources.js';
import { recordingRate, replayCliFigures, replayRate } from '../soak/record-rate.js';

const N = Number(process.env.BENCH_CALLS ?? 100_000);
const METHODS = ['Wallet.getBalances', 'Chain.findBlock', 'Chain.estimateSmartFee', 'Wallet.createTransaction', 'ChainNotifications.transactionAddedToMempool'];
const dir = mkdtempSync(join(tmpdir(), 'ipc-trace-bench-io-'));

function rate(label: string, n: number, fn: () => void): void {
  const t0 = process.hrtime.bigint();
  fn();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`  ${label.padEnd(34)} ${Math.round(n / s).toLocaleString('en-US').padStart(12)} calls/s  (${s.toFixed(2)} s)`);
}

/** A session shaped like the demo's: a node with 4 client threads calling the wallet, each call served on its worker, one in ten with a callback. */
function synthesize(): { delta: ReturnType<typeof emptyDelta>; log: { node: string; wallet: string } } {
  const d = emptyDelta();
  d.processes.push({ id: 1, label: 'bitcoin-node-100', exe: 'bitcoin-node', pid: 100, requests: 0 }, { id: 2, label: 'bitcoin-wallet-200', exe: 'bitcoin-wallet', pid: 200, requests: 0 });
  const threads: ThreadRow[] = [{ id: 1, process: 2, role: 'loop', name: null, from: null, label: 'bitcoin-wallet-200 (event loop)', firstSeen: 0 }];
  for (let i = 0; i < 4; i++) {
    const c = threads.length + 1;
    threads.push({ id: c, process: 1, role: 'client', name: `bitcoin-node-100/b-httpworker.${i}-${101 + i}`, from: null, label: `bitcoin-node-100/b-httpworker.${i}-${101 + i}`, firstSeen: 0 });
    threads.push({ id: c + 1, process: 2, role: 'worker', name: null, from: c, label: `bitcoin-wallet-200 (from bitcoin-node-100/b-httpworker.${i}-${101 + i})`, firstSeen: 0 });
  }
  d.threads = threads;
  d.connections.push({ id: 1, label: 'bench', opened: 1.7e12, closed: null, closeReason: null, clientProcess: 1, serverProcess: 2 });
  const node: string[] = [];
  const wallet: string[] = [];
  let t = 1.7e12;
  let reqWallet = 0;
  let reqNode = 0;
  const calls: CallRow[] = [];
  const base = (id: number, title: string): CallRow => {
    const [iface, method] = title.split('.') as [string, string];
    return {
      id, conn: 1, dir: '>', questionId: id % 64, interfaceId: '0x1', methodId: 0, iface, method, title, target: iface, hasContext: true,
      caller: null, executor: null, clientProcess: 1, serverProcess: 2, parent: null, depth: 0, status: 'returned', exception: null, requestNo: null,
      sent: 0, returned: 0, cancelRequested: null, finished: null, params: '(context = (thread = <external capability>, callbackThread = <external capability>), minConf = 1)', results: '(result = (balance = 1234500000, unconfirmedBalance = 0))', retired: true,
    };
  };
  const L = (arr: string[], time: number, s: string) => arr.push(`${isoTime(time)} [capnp-loop] [ipc] ${s}`);
  while (calls.length < N) {
    const w = calls.length % 4;
    const client = threads[1 + 2 * w]!;
    const worker = threads[2 + 2 * w]!;
    const c = base(calls.length + 1, METHODS[calls.length % METHODS.length]!);
    c.caller = client.id;
    c.executor = worker.id;
    c.requestNo = ++reqWallet;
    c.sent = t;
    const workerName = `bitcoin-wallet-200/bitcoin-wallet-${300 + w} (from ${client.name})`;
    L(node, t, `{${client.name}} IPC client send ${c.title}$Params`);
    node.push(`${isoTime(t)} [capnp-loop] [ipc:trace] send data: ${c.params}`);
    L(wallet, t + 0.01, `{bitcoin-wallet-200/bitcoin-wallet-200} IPC server recv request  #${c.requestNo} ${c.title}$Params`);
    L(wallet, t + 0.02, `{bitcoin-wallet-200/bitcoin-wallet-200} IPC server post request  #${c.requestNo} {${workerName}}`);
    calls.push(c);
    t += 0.3;
    if (calls.length % 10 === 0 && calls.length < N) {
      const cb = base(calls.length + 1, 'Chain.findBlock');
      cb.caller = worker.id;
      cb.executor = client.id;
      cb.clientProcess = 2;
      cb.serverProcess = 1;
      cb.parent = c.id;
      cb.depth = 1;
      cb.dir = '<';
      cb.requestNo = ++reqNode;
      cb.sent = t;
      cb.returned = t + 0.2;
      L(wallet, t, `{${workerName}} IPC client send Chain.findBlock$Params`);
      L(node, t + 0.01, `{bitcoin-node-100/b-capnp-loop-150} IPC server recv request  #${cb.requestNo} Chain.findBlock$Params`);
      L(node, t + 0.02, `{bitcoin-node-100/b-capnp-loop-150} IPC server post request  #${cb.requestNo} {${client.name}}`);
      L(node, t + 0.19, `{bitcoin-node-100/b-capnp-loop-150} IPC server send response #${cb.requestNo} Chain.findBlock$Results`);
      L(wallet, t + 0.2, `{${workerName}} IPC client recv Chain.findBlock$Results`);
      calls.push(cb);
      t += 0.3;
    }
    c.returned = t;
    L(wallet, t - 0.01, `{bitcoin-wallet-200/bitcoin-wallet-200} IPC server send response #${c.requestNo} ${c.title}$Results`);
    wallet.push(`${isoTime(t - 0.01)} [capnp-loop] [ipc:trace] {bitcoin-wallet-200/bitcoin-wallet-200} response data: ${c.results}`);
    L(node, t, `{${client.name}} IPC client recv ${c.title}$Results`);
    t += 0.1;
  }
  d.calls = calls;
  d.processes[0]!.requests = reqNode;
  d.processes[1]!.requests = reqWallet;
  return { delta: d, log: { node: node.join('\n'), wallet: wallet.join('\n') } };
}

/** Recording and replay rates through the store, and a demo session's database size. */
function storeFigures(): void {
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  const M = Number(process.env.BENCH_MESSAGES ?? 1_000_000);
  const db = join(dir, 'rate.sqlite');
  const r = recordingRate(db, M);
  const last = r.rates.length - 1;
  console.log(`recording into the store: ${fmt(r.messages)} messages in ${fmt(r.conns)} short connections (bundled captures), in-process on one core`);
  console.log(`  first tenth ${fmt(r.rates[0]!)} msg/s (${fmt(r.cpuRates[0]!)} per CPU s); last tenth ${fmt(r.rates[last]!)} msg/s (${fmt(r.cpuRates[last]!)} per CPU s)`);
  console.log(`  per tenth, per CPU s: ${r.cpuRates.map(fmt).join(' ')}`);
  console.log(`  database ${(r.dbBytes / 1e6).toFixed(1)} MB for ${(r.wireBytes / 1e6).toFixed(1)} MB of wire bytes (${(r.dbBytes / r.wireBytes).toFixed(2)}x)`);
  const p = replayRate(db);
  console.log(`replay of that database, ${fmt(p.messages)} messages, in-process (decode, model, log written to /dev/null as replay --no-tui does): ${fmt(p.messages / p.seconds)} msg/s (${fmt(p.messages / p.cpuSeconds)} per CPU s), ${(p.logBytes / 1e6).toFixed(0)} MB of log`);
  for (const l of replayCliFigures(db, 3).lines) console.log(`  ${l}`);
  const seconds = Number(process.env.BENCH_DEMO_SECONDS ?? 10);
  if (seconds > 0) {
    const demo = join(dir, 'demo.sqlite');
    const d = spawnSync(process.execPath, [join(PACKAGE_ROOT, 'dist/cli/main.js'), 'demo', '--no-tui', '--duration', String(seconds), '--db', demo], { stdio: 'ignore', timeout: 120_000 });
    if (d.status !== 0) console.log(`demo session: exit ${d.status}`);
    else {
      const raw = new Database(demo, { readonly: true });
      const wire = raw.prepare('SELECT coalesce(sum(size), 0) FROM chunk_blocks').pluck().get() as number;
      raw.close();
      const size = statSync(demo).size;
      console.log(`demo session of ${seconds} s: database ${(size / 1024).toFixed(0)} KB for ${(wire / 1024).toFixed(0)} KB of wire bytes (${(size / wire).toFixed(2)}x)`);
    }
  }
}

try {
  console.log(`sessions in and out: ${N.toLocaleString('en-US')} calls`);
  const { delta, log } = synthesize();
  const schemas = loadSchemaBundle([], []);
  const db = join(dir, 'bench.sqlite');
  rate('write session (Store.apply)', N, () => {
    const s = Store.create(db, { source: 'bench' }, [{ source: schemas.source, cgr: schemas.cgr }]);
    s.addConnections(delta.connections);
    s.apply(delta);
    s.shutdown();
  });
  const reader = SessionReader.open(db);
  let rows = reader.rows();
  rate('read rows (SessionReader.rows)', N, () => {
    rows = reader.rows();
  });
  reader.close();
  let sink = 0;
  rate('export perfetto (+ JSON text)', N, () => {
    for (const e of perfettoTrace(rows).traceEvents) sink += JSON.stringify(e).length;
  });
  rate('export otlp (+ JSON text)', N, () => {
    sink += JSON.stringify(otlpRequest(rows)).length;
  });
  rate('export jsonl', N, () => {
    for (const l of jsonlLines(rows)) sink += l.length;
  });
  rate('stats --by method', N, () => {
    sink += callStats(rows.calls, 'method', new RowIndex(rows.processes, rows.threads)).length;
  });
  let imported = 0;
  rate('import -debug=ipc logs (parse+pair)', N, () => {
    const imp = new DebugLogImporter(schemas.set);
    imp.add({ name: 'node.log', text: log.node });
    imp.add({ name: 'wallet.log', text: log.wallet });
    const r = imp.finish();
    imported = r.delta.calls.length;
    const s = Store.create(join(dir, 'imported.sqlite'), { source: 'debug-log' }, [{ source: schemas.source, cgr: schemas.cgr }]);
    s.addConnections(r.delta.connections);
    s.apply(r.delta);
    s.shutdown();
  });
  console.log(`  (import found ${imported.toLocaleString('en-US')} of ${N.toLocaleString('en-US')} calls; ${((log.node.length + log.wallet.length) / 1e6).toFixed(1)} MB of log; checksum ${sink % 997})`);
  storeFigures();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
