// A synthetic session database of any size, written through the store as
// the recorder writes one (Store.create, Store.apply of Delta rows): a node
// and a wallet process, their threads, one connection, and calls of the
// demo's methods with callbacks nested in some, exceptions, cancellations,
// latencies from a long-tailed distribution, params with hashes and data,
// and a few calls still pending at the end. For the terminal UI's tests and
// benchmarks (a million-call recording opens in under a second).
//
//   node dist/bench/synthetic-session.js OUT.sqlite [CALLS]

import { loadSchemaBundle } from '../decoder/sources.js';
import { Store } from '../store/store.js';
import type { CallRow, Delta, ProcessRow, ThreadRow, ConnRow } from '../session/rows.js';
import type { ConnRecord } from '../session/records.js';
import { emptyDelta } from '../session/rows.js';

export interface SyntheticOptions {
  calls: number;
  seed?: number;
  /** Time of the first call (ms since the epoch). */
  start?: number;
  /** Calls per second of session time. */
  rate?: number;
}

/** A small deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const METHODS: { iface: string; method: string; from: 'node' | 'wallet'; callbacks?: string[] }[] = [
  { iface: 'Wallet', method: 'getBalances', from: 'node', callbacks: ['Chain.waitForNotificationsIfTipChanged'] },
  { iface: 'Wallet', method: 'createTransaction', from: 'node', callbacks: ['Chain.estimateSmartFee', 'Chain.relayMinFee'] },
  { iface: 'Wallet', method: 'getNewDestination', from: 'node' },
  { iface: 'Wallet', method: 'tryGetBalances', from: 'node' },
  { iface: 'ChainNotifications', method: 'transactionAddedToMempool', from: 'node' },
  { iface: 'ChainNotifications', method: 'blockConnected', from: 'node' },
  { iface: 'Chain', method: 'findBlock', from: 'wallet' },
  { iface: 'Chain', method: 'getHeight', from: 'wallet' },
  { iface: 'Chain', method: 'isInMempool', from: 'wallet' },
];

export const SYNTHETIC_NODE = 'bitcoin-node-1000';
export const SYNTHETIC_WALLET = 'bitcoin-wallet-2000';

/** The session's fixed processes and threads (ids are stable: tests refer to them). */
export function syntheticLabels(start: number): { processes: ProcessRow[]; threads: ThreadRow[]; conn: ConnRow } {
  const processes: ProcessRow[] = [
    { id: 1, label: SYNTHETIC_NODE, exe: 'bitcoin-node', pid: 1000, requests: 0 },
    { id: 2, label: SYNTHETIC_WALLET, exe: 'bitcoin-wallet', pid: 2000, requests: 0 },
  ];
  const threads: ThreadRow[] = [];
  const clients = ['b-httpworker.0-1001', 'b-httpworker.1-1002', 'b-scheduler-1003', 'b-walletpoll-1004'];
  let id = 1;
  for (const c of clients) {
    const name = `${SYNTHETIC_NODE}/${c}`;
    threads.push({ id: id, process: 1, role: 'client', name, from: null, label: name, firstSeen: start });
    threads.push({ id: id + 1, process: 2, role: 'worker', name: null, from: id, label: `${SYNTHETIC_WALLET} (from ${name})`, firstSeen: start });
    id += 2;
  }
  const wname = `${SYNTHETIC_WALLET}/b-scheduler-2001`;
  threads.push({ id: id, process: 2, role: 'client', name: wname, from: null, label: wname, firstSeen: start });
  threads.push({ id: id + 1, process: 1, role: 'worker', name: null, from: id, label: `${SYNTHETIC_NODE} (from ${wname})`, firstSeen: start });
  const conn: ConnRow = { id: 1, label: 'synthetic', opened: start, closed: null, closeReason: null, clientProcess: 1, serverProcess: 2 };
  return { processes, threads, conn };
}

function quoted(bytes: number[]): string {
  return '"' + bytes.map((b) => (b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c ? String.fromCharCode(b) : '\\' + b.toString(8).padStart(3, '0'))).join('') + '"';
}

/** The calls of a synthetic session, in batches (a generator, so a million calls never sit in memory at once). */
export function* syntheticCalls(o: SyntheticOptions): Generator<CallRow[]> {
  const rnd = prng(o.seed ?? 1);
  const start = o.start ?? Date.UTC(2026, 10, 30, 12, 0, 0);
  const gap = 1000 / (o.rate ?? 200);
  const nodeClients = [1, 3, 5, 7];
  const walletClient = 9;
  let id = 0;
  let t = start;
  let batch: CallRow[] = [];
  const call = (m: (typeof METHODS)[number], sent: number, parent: CallRow | null, caller: number, executor: number, i: number): CallRow => {
    const lat = Math.exp(rnd() * 4 - 1) * (rnd() < 0.01 ? 200 : 1);
    const roll = rnd();
    const pendingAtEnd = i >= o.calls - 3 && parent === null;
    const status = pendingAtEnd ? 'pending' : roll < 0.01 ? 'exception' : roll < 0.015 ? 'canceled' : 'returned';
    const hash = Array.from({ length: 32 }, () => Math.floor(rnd() * 256));
    const fromNode = m.from === 'node';
    return {
      id: ++id,
      conn: 1,
      dir: fromNode ? '>' : '<',
      questionId: id % 64,
      interfaceId: '0x' + (0x1000 + METHODS.indexOf(m)).toString(16),
      methodId: METHODS.indexOf(m),
      iface: m.iface,
      method: m.method,
      title: `${m.iface}.${m.method}`,
      target: m.iface,
      hasContext: true,
      caller,
      executor,
      clientProcess: fromNode ? 1 : 2,
      serverProcess: fromNode ? 2 : 1,
      parent: parent?.id ?? null,
      depth: parent ? parent.depth + 1 : 0,
      status,
      exception: status === 'exception' ? 'std::runtime_error: synthetic failure' : null,
      requestNo: id,
      sent,
      returned: status === 'pending' ? null : sent + lat,
      cancelRequested: status === 'canceled' ? sent + lat / 2 : null,
      finished: status === 'pending' ? null : sent + lat + 0.05,
      params: `(context = (thread = <external capability>, callbackThread = <external capability>), blockHash = ${quoted(hash)}, height = ${i % 1000}, label = "call ${id}")`,
      results: status === 'returned' ? `(result = (balance = ${Math.floor(rnd() * 1e8)}, data = ${quoted(hash.slice(0, 20))}), hasResult = true)` : null,
      retired: status !== 'pending',
    };
  };
  for (let i = 0; i < o.calls; ) {
    t += gap * (0.5 + rnd());
    const m = METHODS[Math.floor(rnd() * METHODS.length)]!;
    const client = m.from === 'node' ? nodeClients[Math.floor(rnd() * nodeClients.length)]! : walletClient;
    const c = call(m, t, null, client, client + 1, i++);
    batch.push(c);
    // Callbacks: the worker serving the call calls back on the caller's thread.
    for (const cb of m.callbacks ?? []) {
      if (i >= o.calls || rnd() < 0.3) continue;
      const [iface, method] = cb.split('.') as [string, string];
      const k = call({ iface, method, from: 'wallet' }, c.sent + 0.1, c, client + 1, client, i++);
      if (c.returned !== null && k.returned !== null && k.returned > c.returned) k.returned = k.finished = c.returned - 0.01;
      batch.push(k);
    }
    if (batch.length >= 10000) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length) yield batch;
}

/** Writes a synthetic session database (a new file, mode 0600). Returns the number of calls written. */
export function writeSyntheticSession(path: string, o: SyntheticOptions): number {
  const start = o.start ?? Date.UTC(2026, 10, 30, 12, 0, 0);
  const schemas = loadSchemaBundle([], []);
  const store = Store.create(path, { created: new Date(start).toISOString(), command: 'synthetic', schemas: schemas.source, max_chars: 'Infinity' }, [
    { source: schemas.source, cgr: schemas.cgr },
  ]);
  const labels = syntheticLabels(start);
  store.open({ id: 1, opened: start, label: labels.conn.label } as ConnRecord, { id: 1, time: start, label: labels.conn.label });
  const first: Delta = { ...emptyDelta(), processes: labels.processes, threads: labels.threads, connections: [labels.conn] };
  store.apply(first);
  let n = 0;
  let last = start;
  for (const calls of syntheticCalls({ ...o, start })) {
    store.apply({ ...emptyDelta(), calls });
    n += calls.length;
    last = calls[calls.length - 1]!.sent;
  }
  // The recording's end: a second after the last call (the pending calls are that old).
  const conn = { id: 1, opened: start, label: labels.conn.label } as ConnRecord;
  store.batch(() => store.end(conn, '>', last + 1000));
  store.setMeta('ended', new Date().toISOString());
  store.shutdown();
  return n;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = process.argv[2];
  if (!out) {
    process.stderr.write('usage: node dist/bench/synthetic-session.js OUT.sqlite [CALLS]\n');
    process.exit(2);
  }
  const calls = Number(process.argv[3] ?? 1000000);
  const t0 = Date.now();
  const n = writeSyntheticSession(out, { calls });
  process.stdout.write(`${out}: ${n} calls in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
}
