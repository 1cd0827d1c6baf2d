// Reading libmultiprocess `-debug=ipc` logs, and our log, into comparable events.

export interface LogEvent {
  side: 'client' | 'server';
  kind: 'send' | 'recv' | 'request' | 'response' | 'post';
  /** client: the caller thread; post: the worker (or executing thread). */
  thread: string;
  type: string;
  req: number | null;
  timeMs: number | null;
}

const CLIENT = /\{(.+?)\} IPC client (send|recv) (\S+)/;
const SERVER = /\{(.+?)\} IPC server (recv request|send response) +#(\d+) (\S+)/;
const POST = /\{(.+?)\} IPC server post request +#(\d+) \{(.*)\}/;
const TIME = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z/;

export function parseIpcLog(text: string): LogEvent[] {
  const out: LogEvent[] = [];
  for (const line of text.split('\n')) {
    const tm = TIME.exec(line);
    const timeMs = tm ? Date.parse(tm[1]!.slice(0, 23) + 'Z') + Number('0.' + tm[1]!.slice(20)) * 1000 - Number('0.' + tm[1]!.slice(20, 23)) * 1000 : null;
    let m = POST.exec(line);
    if (m) {
      out.push({ side: 'server', kind: 'post', thread: m[3]!, type: '', req: Number(m[2]), timeMs });
      continue;
    }
    m = SERVER.exec(line);
    if (m) {
      out.push({ side: 'server', kind: m[2] === 'recv request' ? 'request' : 'response', thread: m[1]!, type: m[4]!, req: Number(m[3]), timeMs });
      continue;
    }
    m = CLIENT.exec(line);
    if (m) out.push({ side: 'client', kind: m[2] as 'send' | 'recv', thread: m[1]!, type: m[3]!, req: null, timeMs });
  }
  return out;
}

/** The client thread a worker was made for: `X (from Y)` → Y; a thread running a callback is itself. */
export function fromThread(worker: string): string {
  const m = /\(from (.*)\)$/.exec(worker);
  return m ? m[1]! : worker;
}
