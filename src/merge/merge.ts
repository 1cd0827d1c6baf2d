// Several proxies' sessions as one (a wallet on another host reached over
// tcp: means one proxy per link): processes matched by name, threads by
// process and name, every call, capability and connection renumbered, and
// calls ordered by the time they were sent. A placeholder process (one no
// thread name has named yet, e.g. `client#1`) is never matched across
// sessions: it keeps its own row, its label tagged with the session's name.
// Proxies in series (client → A → B → server) record the same connection
// twice: a connection whose calls are, call for call, those of a connection
// of an earlier session (same interface, method, question id, params and
// results, sent within DUPLICATE_WITHIN_MS, processes compatible) is that
// connection. Its calls are kept once (the earlier session's), and its
// placeholder processes become the earlier session's.
// A function of the sessions' rows.

import type { SessionRows } from '../store/reader.js';
import type { CallRow, CapRow, ConnRow, Delta, ProcessRow, ThreadRow } from '../session/rows.js';
import { emptyDelta } from '../session/rows.js';

export interface MergeInput {
  name: string;
  rows: SessionRows;
}

/** `exe-pid`, as Bitcoin Core names a process: the same process in every session that saw it. */
const NAMED = /^.+-\d+$/;

/** How far apart two proxies in series may time the same call (their clocks, their scheduling). */
export const DUPLICATE_WITHIN_MS = 1000;

interface Maps {
  proc: Map<number, number>;
  thread: Map<number, number>;
  conn: Map<number, number>;
  /** A call's merged id; a duplicate call is looked up through `same`. */
  call: Map<number, number>;
  /** Duplicate call id → [input, call id] of the call it repeats. */
  same: Map<number, [number, number]>;
}

/** A connection's calls in the order they were sent. */
function callsByConn(rows: SessionRows): Map<number, CallRow[]> {
  const by = new Map<number, CallRow[]>();
  for (const c of rows.calls) {
    let l = by.get(c.conn);
    if (!l) by.set(c.conn, (l = []));
    l.push(c);
  }
  for (const l of by.values()) l.sort((a, b) => a.sent - b.sent || a.id - b.id);
  return by;
}

const sameCall = (a: CallRow, b: CallRow) =>
  a.interfaceId === b.interfaceId &&
  a.methodId === b.methodId &&
  a.questionId === b.questionId &&
  a.params === b.params &&
  (a.results === b.results || a.results === null || b.results === null) &&
  Math.abs(a.sent - b.sent) <= DUPLICATE_WITHIN_MS;

const callKey = (c: CallRow) => `${c.interfaceId}|${c.methodId}|${c.questionId}|${c.params}`;

/** Pairs of calls (index in `a`, index in `b`) from a[i] ~ b[j] on, if every overlapping call is the same. */
function aligned(a: CallRow[], b: CallRow[], i: number, j: number): [number, number][] | null {
  const pairs: [number, number][] = [];
  for (; i < a.length && j < b.length; i++, j++) {
    if (!sameCall(a[i]!, b[j]!)) return null;
    pairs.push([i, j]);
  }
  return pairs;
}

export function mergeSessions(inputs: MergeInput[]): Delta {
  const out = emptyDelta();
  const procByLabel = new Map<string, ProcessRow>();
  const threadByKey = new Map<string, ThreadRow>();
  const calls: { c: CallRow; input: number }[] = [];
  const maps: Maps[] = [];
  const connCalls = inputs.map((inp) => callsByConn(inp.rows));
  /** The calls of the connections kept from earlier sessions, by callKey: [input, connection, index]. */
  const seen = new Map<string, [number, ConnRow, number][]>();
  const kept = new Set<string>();
  inputs.forEach((inp, n) => {
    const m: Maps = { proc: new Map(), thread: new Map(), conn: new Map(), call: new Map(), same: new Map() };
    maps.push(m);
    const procOf = new Map(inp.rows.processes.map((p) => [p.id, p]));
    // A process fits a merged one if it is that one by name, or is a placeholder.
    const fits = (pid: number, merged: number) => {
      const label = procOf.get(pid)?.label ?? '';
      return NAMED.test(label) ? procByLabel.get(label)?.id === merged : true;
    };
    // Connections an earlier session already has (proxies in series).
    const dupOf = new Map<number, { k: number; conn: ConnRow; pairs: [number, number][] }>();
    const placeholderOf = new Map<number, number>();
    for (const c of inp.rows.connections) {
      const mine = connCalls[n]!.get(c.id) ?? [];
      // A connection recorded twice: b starts within a (b[0] is some a[i]), or a within b (a[0] is some b[j]).
      for (let j = 0; j < mine.length && !dupOf.has(c.id); j++) {
        for (const [k, kc, i] of seen.get(callKey(mine[j]!)) ?? []) {
          if (j > 0 && i > 0) continue;
          const merged = out.connections[maps[k]!.conn.get(kc.id)! - 1]!;
          if (!fits(c.clientProcess, merged.clientProcess) || !fits(c.serverProcess, merged.serverProcess)) continue;
          const pairs = aligned(connCalls[k]!.get(kc.id)!, mine, i, j);
          if (pairs) {
            dupOf.set(c.id, { k, conn: kc, pairs });
            placeholderOf.set(c.clientProcess, merged.clientProcess);
            placeholderOf.set(c.serverProcess, merged.serverProcess);
            break;
          }
        }
      }
    }
    for (const p of inp.rows.processes) {
      if (!NAMED.test(p.label)) {
        const same = placeholderOf.get(p.id);
        if (same === undefined) out.processes.push({ ...p, id: out.processes.length + 1, label: `${p.label} [${inp.name}]` });
        m.proc.set(p.id, same ?? out.processes.length);
        continue;
      }
      let q = procByLabel.get(p.label);
      if (!q) {
        q = { ...p, id: out.processes.length + 1 };
        out.processes.push(q);
        procByLabel.set(p.label, q);
      } else {
        q.requests = Math.max(q.requests, p.requests);
        q.exe ??= p.exe;
        q.pid ??= p.pid;
      }
      m.proc.set(p.id, q.id);
    }
    // Workers point at client threads: map the threads they come from first.
    const ordered = [...inp.rows.threads].sort((a, b) => (a.from === null ? 0 : 1) - (b.from === null ? 0 : 1) || a.id - b.id);
    const byId = new Map(inp.rows.threads.map((t) => [t.id, t]));
    const mapThread = (t: ThreadRow): number => {
      const done = m.thread.get(t.id);
      if (done !== undefined) return done;
      const process = m.proc.get(t.process)!;
      const key = `${process}|${t.label}`;
      let u = threadByKey.get(key);
      if (!u) {
        const from = t.from !== null && byId.has(t.from) ? mapThread(byId.get(t.from)!) : null;
        u = { ...t, id: out.threads.length + 1, process, from };
        out.threads.push(u);
        threadByKey.set(key, u);
      } else {
        u.firstSeen = Math.min(u.firstSeen, t.firstSeen);
      }
      m.thread.set(t.id, u.id);
      return u.id;
    };
    for (const t of ordered) mapThread(t);
    const repeats = new Set<number>();
    for (const c of inp.rows.connections) {
      const d = dupOf.get(c.id);
      if (d) {
        m.conn.set(c.id, maps[d.k]!.conn.get(d.conn.id)!);
        const theirs = connCalls[d.k]!.get(d.conn.id)!;
        const mine = connCalls[n]!.get(c.id)!;
        for (const [i, j] of d.pairs) {
          m.same.set(mine[j]!.id, [d.k, theirs[i]!.id]);
          repeats.add(mine[j]!.id);
        }
        continue;
      }
      const id = out.connections.length + 1;
      m.conn.set(c.id, id);
      const k: ConnRow = { ...c, id, label: `${c.label} [${inp.name}]`, clientProcess: m.proc.get(c.clientProcess)!, serverProcess: m.proc.get(c.serverProcess)! };
      out.connections.push(k);
      kept.add(`${n}|${c.id}`);
      (connCalls[n]!.get(c.id) ?? []).forEach((call, i) => {
        const key = callKey(call);
        let l = seen.get(key);
        if (!l) seen.set(key, (l = []));
        l.push([n, c, i]);
      });
    }
    for (const c of inp.rows.calls) if (!repeats.has(c.id)) calls.push({ c, input: n });
  });
  calls.sort((x, y) => x.c.sent - y.c.sent || x.input - y.input || x.c.id - y.c.id);
  calls.forEach(({ c, input }, i) => maps[input]!.call.set(c.id, i + 1));
  const callId = (n: number, id: number): number | null => {
    const s = maps[n]!.same.get(id);
    return s ? callId(s[0], s[1]) : (maps[n]!.call.get(id) ?? null);
  };
  const th = (m: Maps, id: number | null) => (id === null ? null : (m.thread.get(id) ?? null));
  out.calls = calls.map(({ c, input }, i) => {
    const m = maps[input]!;
    return {
      ...c,
      id: i + 1,
      conn: m.conn.get(c.conn) ?? c.conn,
      caller: th(m, c.caller),
      executor: th(m, c.executor),
      clientProcess: m.proc.get(c.clientProcess)!,
      serverProcess: m.proc.get(c.serverProcess)!,
      parent: c.parent === null ? null : callId(input, c.parent),
    };
  });
  inputs.forEach((inp, n) => {
    const m = maps[n]!;
    const conns = new Set(inp.rows.connections.map((c) => c.id));
    for (const cap of inp.rows.caps) {
      // A repeated connection's capabilities are the earlier session's.
      if (conns.has(cap.conn) && !kept.has(`${n}|${cap.conn}`)) continue;
      const k: CapRow = { ...cap, id: out.caps.length + 1, conn: m.conn.get(cap.conn) ?? cap.conn, thread: th(m, cap.thread) };
      out.caps.push(k);
    }
  });
  return out;
}
