// Several proxies' sessions as one (a wallet on another host reached over
// tcp: means one proxy per link): processes matched by name, threads by
// process and name, every call, capability and connection renumbered, and
// calls ordered by the time they were sent. A placeholder process (one no
// thread name has named yet, e.g. `client#1`) is never matched across
// sessions: it keeps its own row, its label tagged with the session's name.
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

export function mergeSessions(inputs: MergeInput[]): Delta {
  const out = emptyDelta();
  const procByLabel = new Map<string, ProcessRow>();
  const threadByKey = new Map<string, ThreadRow>();
  const calls: { c: CallRow; input: number }[] = [];
  const maps: { proc: Map<number, number>; thread: Map<number, number>; conn: Map<number, number>; call: Map<number, number> }[] = [];
  inputs.forEach((inp, n) => {
    const m = { proc: new Map<number, number>(), thread: new Map<number, number>(), conn: new Map<number, number>(), call: new Map<number, number>() };
    maps.push(m);
    for (const p of inp.rows.processes) {
      const label = NAMED.test(p.label) ? p.label : `${p.label} [${inp.name}]`;
      let q = procByLabel.get(label);
      if (!q) {
        q = { ...p, id: out.processes.length + 1, label };
        out.processes.push(q);
        procByLabel.set(label, q);
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
    for (const c of inp.rows.connections) {
      const id = out.connections.length + 1;
      m.conn.set(c.id, id);
      const k: ConnRow = { ...c, id, label: `${c.label} [${inp.name}]`, clientProcess: m.proc.get(c.clientProcess)!, serverProcess: m.proc.get(c.serverProcess)! };
      out.connections.push(k);
    }
    for (const c of inp.rows.calls) calls.push({ c, input: n });
  });
  calls.sort((x, y) => x.c.sent - y.c.sent || x.input - y.input || x.c.id - y.c.id);
  calls.forEach(({ c, input }, i) => maps[input]!.call.set(c.id, i + 1));
  const th = (m: (typeof maps)[number], id: number | null) => (id === null ? null : (m.thread.get(id) ?? null));
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
      parent: c.parent === null ? null : (m.call.get(c.parent) ?? null),
    };
  });
  inputs.forEach((inp, n) => {
    const m = maps[n]!;
    for (const cap of inp.rows.caps) {
      const k: CapRow = { ...cap, id: out.caps.length + 1, conn: m.conn.get(cap.conn) ?? cap.conn, thread: th(m, cap.thread) };
      out.caps.push(k);
    }
  });
  return out;
}
