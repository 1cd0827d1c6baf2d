// Traffic for the reliability suite (soak.ts) and its tests: real Cap'n Proto
// frames from the bundled captures, an echo server, the proxy as a child
// process, and clients that check every byte comes back unchanged.

import { spawn, ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { parseHexlog } from '../decoder/hexlog.js';
import { Framer } from '../decoder/framer.js';
import { PACKAGE_ROOT } from '../decoder/sources.js';

/** Whole frames of a bundled capture, one direction ('>' client to server). */
export function captureFrames(name = 'template-01', dir: '>' | '<' = '>'): Buffer[] {
  const h = parseHexlog(readFileSync(join(PACKAGE_ROOT, 'test/fixtures/captures', `${name}.hexlog`), 'latin1'));
  const f = new Framer();
  const out: Buffer[] = [];
  for (const c of h.chunks) if (c.dir === dir) for (const e of f.push(c.bytes)) if (e.kind === 'frame') out.push(Buffer.from(e.frame.bytes));
  return out;
}

/** An echo server on a Unix socket (in this process). */
export async function startEcho(path: string): Promise<net.Server> {
  const s = net.createServer({ allowHalfOpen: true }, (c) => {
    c.on('error', () => {});
    c.pipe(c);
  });
  await new Promise<void>((r) => s.listen(path, () => r()));
  return s;
}

export interface ProxyProcess {
  proc: ChildProcess;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `ipc-trace --listen … --connect …` (optionally through `sh -c` with a prefix such as a ulimit) and waits until it listens. */
/** Starts the proxy; `ownSession`: in a session of its own (setsid), as when a user starts it in a terminal of its own (Linux schedules each session's threads as a group). */
export async function startProxy(listen: string, connect: string, db: string, extra: string[] = [], shellPrefix?: string, ownSession = false): Promise<ProxyProcess> {
  const args = [join(PACKAGE_ROOT, 'dist/cli/main.js'), '--listen', listen, '--connect', connect, '--db', db, '--no-tui', ...extra];
  // The log goes to standard output, which is thrown away.
  const proc = shellPrefix
    ? spawn('sh', ['-c', `${shellPrefix}; exec "$0" "$@"`, process.execPath, ...args], { stdio: ['ignore', 'ignore', 'pipe'], detached: ownSession })
    : spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: ownSession });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.on('exit', (code, signal) => r({ code, signal })));
  await new Promise<void>((resolve, reject) => {
    const poll = setInterval(() => {
      if (err.includes('listening on')) {
        clearInterval(poll);
        resolve();
      }
    }, 10);
    void exited.then(() => {
      clearInterval(poll);
      reject(new Error(`proxy exited: ${err.trim()}`));
    });
  });
  return { proc, stderr: () => err, exited };
}

export interface PumpResult {
  sent: number;
  received: number;
  /** The echoed bytes equal the sent bytes, in order. */
  exact: boolean;
  /** Messages sent (each frame is one message; the echo makes a second). */
  messages: number;
}

/**
 * One client connection: sends frames (cycling through them) until `until()`
 * says stop or `count` frames went, keeping at most `window` bytes unanswered,
 * then half-closes and waits for the echo to finish. Compares hashes.
 */
export async function pump(path: string, frames: Buffer[], opts: { count?: number; until?: () => boolean; window?: number; garbage?: boolean } = {}): Promise<PumpResult> {
  const sock = net.createConnection({ path, allowHalfOpen: true });
  await new Promise<void>((r, j) => {
    sock.once('connect', () => r());
    sock.once('error', j);
  });
  const window = opts.window ?? 256 * 1024;
  const hs = createHash('sha256');
  const hr = createHash('sha256');
  let sent = 0;
  let received = 0;
  let messages = 0;
  let wake: (() => void) | null = null;
  let closed = false;
  const ended = new Promise<void>((r) => {
    const gone = () => {
      closed = true;
      wake?.();
      r();
    };
    sock.on('end', gone); // the other side will send nothing more
    sock.on('close', gone);
  });
  sock.on('data', (d: Buffer) => {
    received += d.length;
    hr.update(d);
    if (wake && sent - received < window) {
      const w = wake;
      wake = null;
      w();
    }
  });
  sock.on('error', () => {});
  let i = 0;
  const stop = () => closed || (opts.count !== undefined && messages >= opts.count) || (opts.until?.() ?? false);
  while (!stop()) {
    let m = frames[i++ % frames.length]!;
    if (opts.garbage && i % 7 === 0) m = Buffer.from(m.map((b, j) => (j % 5 === 0 ? b ^ 0x5a : b)));
    hs.update(m);
    sent += m.length;
    messages++;
    const ok = sock.write(m);
    if (sent - received >= window) await new Promise<void>((r) => (wake = r));
    else if (!ok) await new Promise<void>((r) => {
      wake = r;
      sock.once('drain', () => r());
    });
  }
  sock.end();
  await ended;
  sock.destroy();
  return { sent, received, exact: received === sent && hs.digest('hex') === hr.digest('hex'), messages };
}

/** Resident and peak memory of a process (MB), from /proc. */
export function memoryMb(pid: number): { rss: number; peak: number } {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const f = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0) / 1024;
    return { rss: f('VmRSS'), peak: f('VmHWM') };
  } catch {
    return { rss: 0, peak: 0 };
  }
}
