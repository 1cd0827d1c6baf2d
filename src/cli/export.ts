// `ipc-trace export DB`: a recorded session as a hexlog capture (the
// reference decoder's input), or its calls/messages as JSON lines.
// `ipc-trace query DB SQL`: read-only SQL on a session database.

import { writeFileSync } from 'node:fs';
import { parseArgs, UsageError } from './args.js';
import { ByteWriter, jsonObject } from './output.js';
import { openExisting } from '../store/store.js';
import { UserError } from '../decoder/sources.js';
import { SessionReader } from '../store/reader.js';

export const EXPORT_HELP = `usage: ipc-trace export DB [--format hexlog|calls|messages] [--conn N] [--out FILE]

  --format hexlog    one connection's raw traffic in hexlog format ('> HEX' from the
                     connecting side, '< HEX' back, one socket read a line, with
                     '#' comments for open/end/close), the input of ipc-trace
                     decode and of the C++ reference decoder (capnp-oracle)
  --format calls     one JSON object per call (default)
  --format messages  one JSON object per message
  --conn N           only connection N (required for hexlog when there are several)
  --out FILE         write to FILE instead of standard output
`;

export const QUERY_HELP = `usage: ipc-trace query DB SQL [--json]

Runs read-only SQL on a session database and prints the rows, tab-separated with
a header (or as JSON lines). Tables and views: see docs/store.md; e.g.
  ipc-trace query session.sqlite 'SELECT * FROM v_outstanding'
`;

type Row = Record<string, unknown>;

function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (Buffer.isBuffer(v)) return v.toString('hex');
  return String(v);
}

function jsonRow(r: Row): string {
  return jsonObject(Object.entries(r).map(([k, v]) => [k, Buffer.isBuffer(v) ? v.toString('hex') : (v as string | number | null)]));
}

export function runExport(argv: string[]): number {
  const { options, positionals } = parseArgs(
    argv,
    { format: { kind: 'string' }, conn: { kind: 'number' }, out: { kind: 'string' }, help: { kind: 'flag', short: 'h' } },
    1,
  );
  if (options.help) {
    process.stdout.write(EXPORT_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('export needs the session database: ipc-trace export DB');
  const format = (options.format as string | undefined) ?? 'calls';
  if (!['hexlog', 'calls', 'messages'].includes(format)) throw new UsageError(`unknown --format '${format}' (hexlog, calls or messages)`);
  const db = openExisting(positionals[0]!);
  const conns = db.prepare('SELECT id FROM connections ORDER BY id').pluck().all() as number[];
  let conn = options.conn as number | undefined;
  if (conn !== undefined && !conns.includes(conn)) throw new UserError(`no connection ${conn} in ${positionals[0]} (${conns.length} connections)`);
  const lines: string[] = [];
  if (format === 'hexlog') {
    if (conn === undefined) {
      if (conns.length !== 1) throw new UserError(`the session has ${conns.length} connections: choose one with --conn N`);
      conn = conns[0]!;
    }
    const c = db.prepare('SELECT * FROM connections WHERE id = ?').get(conn) as Row;
    const us = (ms: unknown) => Math.round(Number(ms) * 1000);
    lines.push(`# ${us(c.opened)} open ${JSON.stringify({ conn, label: c.label })}`);
    const rows = db.prepare(
      `SELECT seq, 'data' AS k, dir, time, bytes FROM chunks WHERE conn = ?
       UNION ALL SELECT seq, kind, dir, time, NULL FROM stream_events WHERE conn = ? ORDER BY seq`,
    );
    for (const r of rows.iterate(conn, conn) as IterableIterator<Row>) {
      if (r.k === 'data') lines.push(`${r.dir} ${(r.bytes as Buffer).toString('hex')}`);
      else lines.push(`# ${us(r.time)} ${r.k} ${r.dir}`);
    }
    if (c.closed !== null) lines.push(`# ${us(c.closed)} close${c.close_reason ? ` ${c.close_reason}` : ''}`);
  } else if (format === 'calls') {
    const where = conn !== undefined ? 'WHERE conn = ?' : '';
    const rows = db.prepare(`SELECT * FROM v_calls ${where === '' ? '' : 'WHERE id IN (SELECT id FROM calls WHERE conn = ?)'} ORDER BY id`);
    for (const r of (conn !== undefined ? rows.iterate(conn) : rows.iterate()) as IterableIterator<Row>) lines.push(jsonRow(r));
  } else {
    const rows = db.prepare(`SELECT * FROM messages ${conn !== undefined ? 'WHERE conn = ?' : ''} ORDER BY id`);
    for (const r of (conn !== undefined ? rows.iterate(conn) : rows.iterate()) as IterableIterator<Row>) lines.push(jsonRow(r));
  }
  db.close();
  const text = lines.join('\n') + (lines.length ? '\n' : '');
  if (options.out) writeFileSync(options.out as string, Buffer.from(text, 'latin1'));
  else {
    const out = new ByteWriter(1);
    for (const l of lines) out.line(l);
    out.flush();
  }
  return 0;
}

export function runQuery(argv: string[]): number {
  const { options, positionals } = parseArgs(argv, { json: { kind: 'flag' }, help: { kind: 'flag', short: 'h' } }, 2);
  if (options.help) {
    process.stdout.write(QUERY_HELP);
    return 0;
  }
  if (positionals.length !== 2) throw new UsageError("query needs a database and SQL: ipc-trace query DB 'SELECT …'");
  const reader = SessionReader.open(positionals[0]!);
  let rows: Row[];
  try {
    rows = reader.query(positionals[1]!);
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`query failed: ${(e as Error).message.split('\n')[0]}`);
  } finally {
    reader.close();
  }
  const out = new ByteWriter(1);
  if (options.json) for (const r of rows) out.line(jsonRow(r));
  else if (rows.length > 0) {
    out.line(Object.keys(rows[0]!).join('\t'));
    for (const r of rows) out.line(Object.values(r).map(cell).join('\t'));
  }
  out.flush();
  return 0;
}
