// `ipc-trace export DB`: a recorded session as Perfetto/Chrome trace JSON,
// OTLP/JSON spans (or posted to a collector), JSON lines, or one
// connection's raw traffic as a hexlog capture.
// `ipc-trace query DB SQL`: read-only SQL on a session database.
// Each format is a module of src/export/, a function of the session's rows;
// redaction is applied to the rows once, before the exporter sees them.

import { closeSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs, UsageError } from './args.js';
import { ByteWriter, createOutputFile, checkOutputFile, jsonObject } from './output.js';
import { Progress } from './progress.js';
import { SessionReader, SessionRows } from '../store/reader.js';
import { UserError } from '../decoder/sources.js';
import { redactCall, redactText, secretByteRanges, secretFields, zeroRange } from '../redact/redact.js';
import { MessageDecoder, StreamDecoder } from '../decoder/messages.js';
import { loadCodeGeneratorRequest } from '../decoder/schema.js';
import { rpcSchemaSet, PACKAGE_ROOT } from '../decoder/sources.js';
import { jsonlLines } from '../export/jsonl.js';
import { perfettoTrace } from '../export/perfetto.js';
import { otlpRequest } from '../export/otlp.js';
import { postOtlp } from '../export/otlp-post.js';

export const EXPORT_HELP = `usage: ipc-trace export DB [--format F] [--conn N] [--out FILE [--force]] [--redact] [--redact-field NAME]...
       ipc-trace export DB --otlp-endpoint URL [--redact]

  --format perfetto  Chrome trace-event JSON: open it in ui.perfetto.dev (Open trace
                     file) or chrome://tracing. A track per process and thread, a
                     slice per call on the waiting and on the executing thread, flow
                     arrows caller -> executor, Finish/Release/disconnect instants
  --format otlp      OpenTelemetry spans as OTLP/JSON (an ExportTraceServiceRequest):
                     a span per call, parent = the call it serves, a resource per process
  --format jsonl     one JSON object per call: ids, threads, times, params/results
  --format calls     one JSON object per call as the v_calls view shows it (default)
  --format messages  one JSON object per decoded message
  --format hexlog    one connection's raw traffic in hexlog format ('> HEX' from the
                     connecting side, '< HEX' back, one socket read a line, with '#'
                     comments for open/end/close), the input of ipc-trace decode and
                     of the C++ reference decoder (capnp-oracle); with --redact the
                     secret fields' bytes are zeroed
  --conn N           only connection N (required for hexlog when there are several)
  --out FILE         write to FILE (created mode 0600; an existing file or a symlink
                     is refused, --force replaces an existing file)
  --otlp-endpoint URL  post the OTLP spans to an OTLP/HTTP collector (Jaeger, Tempo,
                     an OpenTelemetry Collector), e.g. http://localhost:4318
                     (/v1/traces is added to a URL without a path); retried, and a
                     one-line error when it cannot be reached
  --redact           mask wallet secrets (passphrases, keys, seeds: see
                     docs/redaction.md) in params/results
  --redact-field NAME  mask this field too (repeatable; implies --redact)
`;

export const QUERY_HELP = `usage: ipc-trace query DB SQL [--json] [--redact] [--redact-field NAME]...

Runs read-only SQL on a session database and prints the rows, tab-separated with
a header (or as JSON lines). Tables and views: see docs/store.md; e.g.
  ipc-trace query session.sqlite 'SELECT * FROM v_outstanding'
  ipc-trace query session.sqlite "SELECT title, params, results FROM v_calls WHERE status = 'exception'"
Params and results texts and the raw chunks are stored compressed: v_calls and
messages show the texts (calls.params_ref/results_ref are text ids; ipc_text(ref)
gives one), and chunks shows one row per chunk (seq, conn, dir, time, bytes).
With --redact, wallet secrets in any text column are masked (docs/redaction.md).
`;

const FORMATS = ['perfetto', 'otlp', 'jsonl', 'calls', 'messages', 'hexlog'];

type Row = Record<string, unknown>;

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0';
  }
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (Buffer.isBuffer(v)) return v.toString('hex');
  return String(v);
}

function jsonRow(r: Row): string {
  return jsonObject(Object.entries(r).map(([k, v]) => [k, Buffer.isBuffer(v) ? v.toString('hex') : (v as string | number | null)]));
}

/** The redaction option: null (none) or a function masking secret fields in capnp text. */
export function redactOption(options: Record<string, unknown>): ((text: string) => string) | null {
  const extra = (options['redact-field'] as string[] | undefined) ?? [];
  if (!options.redact && extra.length === 0) return null;
  const fields = secretFields(extra);
  return (t: string) => redactText(t, fields);
}

const REDACT_OPTIONS = { redact: { kind: 'flag' }, 'redact-field': { kind: 'string', repeat: true } } as const;

function sessionRows(reader: SessionReader, conn: number | undefined, redact: boolean, extra: string[]): SessionRows {
  const rows = reader.rows();
  if (conn !== undefined) {
    rows.calls = rows.calls.filter((c) => c.conn === conn);
    rows.connections = rows.connections.filter((c) => c.id === conn);
    rows.caps = rows.caps.filter((c) => c.conn === conn);
  }
  if (redact) {
    const fields = secretFields(extra);
    rows.calls = rows.calls.map((c) => redactCall(c, fields));
  }
  return rows;
}

/**
 * A connection's chunks with the secret fields' bytes zeroed: the stream is
 * decoded again to find them (hexlog --redact).
 */
function redactedChunks(reader: SessionReader, conn: number, fields: ReadonlySet<string>): Map<number, Buffer> {
  const dec = new StreamDecoder(new MessageDecoder(loadCodeGeneratorRequest(reader.schemaSet()), rpcSchemaSet()));
  const chunks: Record<string, { seq: number; start: number; bytes: Buffer }[]> = { '>': [], '<': [] };
  const pos: Record<string, number> = { '>': 0, '<': 0 };
  for (const it of reader.stream(conn)) {
    if (it.k !== 'data') continue;
    const copy = Buffer.from(it.bytes);
    chunks[it.dir]!.push({ seq: it.seq, start: pos[it.dir]!, bytes: copy });
    pos[it.dir]! += copy.length;
    for (const d of dec.push(it.dir, it.bytes)) for (const [a, b] of secretByteRanges(d, fields)) zeroRange(chunks[d.dir]!, a, b);
  }
  return new Map([...chunks['>']!, ...chunks['<']!].map((c) => [c.seq, c.bytes]));
}

function hexlogLines(reader: SessionReader, conn: number, fields: ReadonlySet<string> | null): string[] {
  const c = reader.connections().find((k) => k.id === conn)!;
  const us = (ms: number) => Math.round(ms * 1000);
  const lines = [`# ${us(c.opened)} open ${JSON.stringify({ conn, label: c.label })}`];
  const redacted = fields ? redactedChunks(reader, conn, fields) : null;
  for (const it of reader.stream(conn)) {
    if (it.k === 'data') lines.push(`${it.dir} ${(redacted?.get(it.seq) ?? it.bytes).toString('hex')}`);
    else if (it.k === 'end') lines.push(`# ${us(it.time)} end ${it.dir}`);
    else if (it.k === 'gap') lines.push(`# ${us(it.time)} gap ${it.dir}`);
  }
  if (c.closed !== null) lines.push(`# ${us(c.closed)} close${c.closeReason ? ` ${c.closeReason}` : ''}`);
  return lines;
}

export async function runExport(argv: string[]): Promise<number> {
  const { options, positionals } = parseArgs(
    argv,
    {
      format: { kind: 'string' },
      conn: { kind: 'number' },
      out: { kind: 'string' },
      force: { kind: 'flag' },
      'otlp-endpoint': { kind: 'string' },
      ...REDACT_OPTIONS,
      help: { kind: 'flag', short: 'h' },
    },
    1,
  );
  if (options.help) {
    process.stdout.write(EXPORT_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('export needs the session database: ipc-trace export DB');
  const endpoint = options['otlp-endpoint'] as string | undefined;
  const format = (options.format as string | undefined) ?? (endpoint ? 'otlp' : 'calls');
  if (!FORMATS.includes(format)) throw new UsageError(`unknown --format '${format}' (${FORMATS.join(', ')})`);
  if (endpoint && format !== 'otlp') throw new UsageError('--otlp-endpoint posts OTLP spans: it goes with --format otlp');
  if (endpoint && options.out) throw new UsageError('--otlp-endpoint and --out: choose one');
  if (options.out) checkOutputFile(options.out as string, { force: options.force === true, option: '--out' });
  const extra = (options['redact-field'] as string[] | undefined) ?? [];
  const redact = options.redact === true || extra.length > 0;
  const redactFn = redactOption(options);
  const reader = SessionReader.open(positionals[0]!);
  try {
    const conns = reader.connections().map((c) => c.id);
    let conn = options.conn as number | undefined;
    if (conn !== undefined && !conns.includes(conn)) throw new UserError(`no connection ${conn} in ${positionals[0]} (${conns.length} connections)`);
    if (format === 'hexlog') {
      if (reader.metaValue('source') === 'debug-log') throw new UserError('an imported -debug=ipc log has no bytes to export as a hexlog');
      if (conn === undefined) {
        if (conns.length !== 1) throw new UserError(`the session has ${conns.length} connections: choose one with --conn N`);
        conn = conns[0]!;
      }
    }
    if (endpoint) {
      const rows = sessionRows(reader, conn, redact, extra);
      const req = otlpRequest(rows, { sessionKey: reader.path + '|' + (rows.meta.started ?? ''), version: packageVersion() });
      const progress = new Progress('posting spans', rows.calls.length);
      const n = await postOtlp(endpoint, req, { onBatch: (k) => progress.tick(k) });
      progress.finish();
      process.stderr.write(`ipc-trace: posted ${n} spans to ${endpoint}\n`);
      return 0;
    }
    const fd = options.out ? createOutputFile(options.out as string, { force: options.force === true, option: '--out' }) : 1;
    try {
      if (format === 'hexlog' || format === 'calls' || format === 'messages') {
        const out = new ByteWriter(fd);
        if (format === 'hexlog') for (const l of hexlogLines(reader, conn!, redact ? secretFields(extra) : null)) out.line(l);
        else {
          const rows = format === 'calls' ? reader.viewCalls(conn) : reader.messages(conn);
          for (const r of rows as Iterable<Row>) {
            if (redactFn) for (const k of ['params', 'results', 'text']) if (typeof r[k] === 'string') r[k] = redactFn(r[k] as string);
            out.line(jsonRow(r));
          }
        }
        out.flush();
        return 0;
      }
      const rows = sessionRows(reader, conn, redact, extra);
      const out = new ByteWriter(fd, undefined, 'utf8');
      const progress = new Progress(`exporting ${format}`, rows.calls.length);
      if (format === 'jsonl') {
        for (const l of jsonlLines(rows)) {
          out.write(l + '\n');
          progress.tick();
        }
      } else if (format === 'perfetto') {
        const t = perfettoTrace(rows);
        out.write(`{"displayTimeUnit":"ms","otherData":${JSON.stringify(t.otherData)},"traceEvents":[\n`);
        t.traceEvents.forEach((e, i) => {
          out.write((i ? ',\n' : '') + JSON.stringify(e));
          if (e.ph === 'X' && e.args?.side === 'executing') progress.tick();
        });
        out.write('\n]}\n');
      } else {
        out.write(JSON.stringify(otlpRequest(rows, { sessionKey: reader.path + '|' + (rows.meta.started ?? ''), version: packageVersion() })) + '\n');
        progress.tick(rows.calls.length);
      }
      out.flush();
      progress.finish();
    } finally {
      if (fd !== 1) closeSync(fd);
    }
    return 0;
  } finally {
    reader.close();
  }
}

export function runQuery(argv: string[]): number {
  const { options, positionals } = parseArgs(argv, { json: { kind: 'flag' }, ...REDACT_OPTIONS, help: { kind: 'flag', short: 'h' } }, 2);
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
  const redactFn = redactOption(options);
  if (redactFn) for (const r of rows) for (const [k, v] of Object.entries(r)) if (typeof v === 'string') r[k] = redactFn(v);
  const out = new ByteWriter(1);
  if (options.json) for (const r of rows) out.line(jsonRow(r));
  else if (rows.length > 0) {
    out.line(Object.keys(rows[0]!).join('\t'));
    for (const r of rows) out.line(Object.values(r).map(cell).join('\t'));
  }
  out.flush();
  return 0;
}
