// The -debug=ipc line vocabulary: libmultiprocess's log lines (see
// ../shared/protocol/bitcoin-ipc.md §1.2), which ipclog.ts writes in the same
// words, parsed back. Read by the debug.log importer (src/import/) and the
// tests that compare our log with the processes' own. Accepts Bitcoin
// Core's line prefixes (timestamp, [thread], [ipc] / [ipc:trace] / ipc: /
// [error] ipc:), none at all (libmultiprocess's example programs), ours
// (`TIME cN > `), and the older layout with params on the same line.

/** One recognised IPC log line. `thread` is the name in `{…}` (the emitting thread, or the caller for client lines). */
export type LogLine =
  | { kind: 'client-send'; thread: string; type: string; data: string | null }
  | { kind: 'client-recv'; thread: string; type: string; data: string | null }
  | { kind: 'client-exception'; thread: string; error: string }
  | { kind: 'client-interrupted' }
  | { kind: 'client-disconnect'; thread: string }
  | { kind: 'send-data'; data: string }
  | { kind: 'recv-data'; data: string }
  | { kind: 'server-request'; thread: string; req: number; type: string; data: string | null }
  | { kind: 'request-data'; thread: string; data: string }
  | { kind: 'server-post'; thread: string; req: number; worker: string }
  | { kind: 'server-executing'; thread: string; req: number }
  | { kind: 'server-response'; thread: string; req: number; type: string; data: string | null }
  | { kind: 'response-data'; thread: string; data: string }
  | { kind: 'server-error'; thread: string; req: number; type: string; error: string }
  | { kind: 'server-unhandled'; thread: string; error: string }
  | { kind: 'server-canceled'; thread: string; req: number }
  | { kind: 'server-interrupted'; thread: string; req: number; error: string }
  | { kind: 'socket'; thread: string; connected: boolean };

export interface ParsedLine {
  /** ms since the epoch, when the line has a timestamp. */
  time: number | null;
  line: LogLine;
}

const TIME = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z /;
const THREAD = '\\{([^{}]*)\\}';
const TYPE = '(\\S+?\\$(?:Params|Results)|\\S+)';
const DATA = '(?: (.*))?$';

const PATTERNS: [RegExp, (m: RegExpExecArray) => LogLine][] = [
  [new RegExp(`${THREAD} IPC client send ${TYPE}${DATA}`), (m) => ({ kind: 'client-send', thread: m[1]!, type: m[2]!, data: m[3] ?? null })],
  [new RegExp(`${THREAD} IPC client recv ${TYPE}${DATA}`), (m) => ({ kind: 'client-recv', thread: m[1]!, type: m[2]!, data: stripLatency(m[3]) })],
  [new RegExp(`${THREAD} IPC client exception (.*?)(?: \\[[0-9.]+(?:us|ms|s)\\])?$`), (m) => ({ kind: 'client-exception', thread: m[1]!, error: m[2]! })],
  [new RegExp(`${THREAD} IPC client: unexpected network disconnect`), (m) => ({ kind: 'client-disconnect', thread: m[1]! })],
  [/IPC client method call interrupted by disconnect/, () => ({ kind: 'client-interrupted' })],
  [new RegExp(`${THREAD} IPC server recv request +#(\\d+) ${TYPE}${DATA}`), (m) => ({ kind: 'server-request', thread: m[1]!, req: Number(m[2]), type: m[3]!, data: serverData(m[4]) })],
  [new RegExp(`${THREAD} IPC server post request +#(\\d+) \\{(.*)\\}`), (m) => ({ kind: 'server-post', thread: m[1]!, req: Number(m[2]), worker: m[3]! })],
  [new RegExp(`${THREAD} IPC server executing request #(\\d+)`), (m) => ({ kind: 'server-executing', thread: m[1]!, req: Number(m[2]) })],
  [new RegExp(`${THREAD} IPC server send response #(\\d+) ${TYPE}${DATA}`), (m) => ({ kind: 'server-response', thread: m[1]!, req: Number(m[2]), type: m[3]!, data: m[4] ?? null })],
  [new RegExp(`${THREAD} IPC server error request #(\\d+) ${TYPE} (kj::Exception: .*)$`), (m) => ({ kind: 'server-error', thread: m[1]!, req: Number(m[2]), type: m[3]!, error: m[4]! })],
  [new RegExp(`${THREAD} IPC server unhandled exception:? ?(.*)$`), (m) => ({ kind: 'server-unhandled', thread: m[1]!, error: m[2]! })],
  [new RegExp(`${THREAD} IPC server request #(\\d+) canceled`), (m) => ({ kind: 'server-canceled', thread: m[1]!, req: Number(m[2]) })],
  [new RegExp(`${THREAD} IPC server request #(\\d+) (?:interrupted|uncaught exception) \\((.*)\\)`), (m) => ({ kind: 'server-interrupted', thread: m[1]!, req: Number(m[2]), error: m[3]! })],
  [new RegExp(`${THREAD} IPC server: socket (connected|disconnected)`), (m) => ({ kind: 'socket', thread: m[1]!, connected: m[2] === 'connected' })],
  [new RegExp(`${THREAD} request data: (.*)$`), (m) => ({ kind: 'request-data', thread: m[1]!, data: m[2]! })],
  [new RegExp(`${THREAD} response data: (.*)$`), (m) => ({ kind: 'response-data', thread: m[1]!, data: m[2]! })],
  [/(?:^|\] |: )send data: (.*)$/, (m) => ({ kind: 'send-data', data: m[1]! })],
  [/(?:^|\] |: )recv data: (.*)$/, (m) => ({ kind: 'recv-data', data: m[1]! })],
];

/** ipc-trace's own log appends ` [LATENCY]` to client recv lines. */
function stripLatency(s: string | undefined): string | null {
  if (s === undefined) return null;
  const m = / \[[0-9.]+(?:us|ms|s)\]$/.exec(s);
  const d = m ? s.slice(0, m.index) : s;
  return d === '' ? null : d;
}

/** ipc-trace's own log appends ` to TARGET` to server recv lines: not data. */
function serverData(s: string | undefined): string | null {
  if (s === undefined || /^to \S/.test(s)) return null;
  return s;
}

const KEYWORDS = /IPC |data: /;

/** Parses one log line (null: not an IPC line this importer reads). */
export function parseLogLine(text: string): ParsedLine | null {
  if (!KEYWORDS.test(text)) return null;
  const tm = TIME.exec(text);
  const time = tm ? Date.parse(tm[1]! + 'Z') + (tm[2] ? Number(tm[2]) * 1000 : 0) : null;
  for (const [re, make] of PATTERNS) {
    const m = re.exec(text);
    if (m) return { time, line: make(m) };
  }
  return null;
}

/** Undoes libmultiprocess's LogEscape (`\\` → `\`, `\HH` → the byte), leaving a trailing `...` cut mark as it is. */
export function logUnescape(s: string): string {
  return s.replace(/\\(\\|[0-9a-f]{2})/g, (_, e: string) => (e === '\\' ? '\\' : String.fromCharCode(parseInt(e, 16))));
}

/** `Iface.method$Params` → `Iface.method`. */
export function methodOfType(type: string): string {
  return type.replace(/\$(Params|Results)$/, '');
}
