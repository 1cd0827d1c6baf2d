// `ipc-trace exec -- COMMAND ARGS…`: records the IPC of children that a
// Bitcoin Core process spawns over a socketpair (`-ipcfd N`).
//
// Bitcoin Core starts an IPC child as execvp(dirname(argv[0]) + "/" + EXE,
// [that path, "-ipcfd", "<fd>"]); libmultiprocess's own example programs
// (mp::SpawnProcess, e.g. mpexample) pass the fd alone: [that path, "<fd>"].
// So ExecSession
//   1. makes a private temp dir (0700) with bin/ (the shim dir) and
//      control.sock (the control socket, 0600);
//   2. puts in bin/ a shim script for every executable file in COMMAND's
//      directory (the directory as named, symlinks not resolved, like
//      Bitcoin Core's dirname(argv[0])):
//        `-ipcfd N` or `N` (exactly) → exec node SHIM-ENTRY REAL -ipcfd N / N
//                                (shim.ts: relays and mirrors the traffic;
//                                a bare N that is not a socket runs REAL as is)
//        anything else         → exec -a "$0" REAL "$@" through bash when
//                                available (same pid and fds, argv[0] stays in
//                                bin/), else through the node shim entry;
//   3. runs COMMAND (the real binary) with argv[0] = bin/<its name>, so every
//      sibling it spawns is a shim, and so on down the process tree;
//   4. serves the control socket: each shim connection is one connection id,
//      turned into Tap calls (open: listen `exec:PARENTEXE[pid]`, upstream
//      `exec:CHILDEXE[pid, launched as SHIMPID]`: the child's own pid, which
//      its thread names carry, and the pid its parent spawned and logs
//      (`Process bitcoin-node pid SHIMPID launched`), the shim's; '>' = parent → child);
//   5. forwards SIGINT/SIGTERM to COMMAND; stop() removes the temp dir.
//
// The shim entry is the compiled dist/proxy/shim.js: resolved next to this
// module when running from dist/, else <package>/dist/proxy/shim.js (so run
// `npm run build` first when running from source; tests compile it
// themselves and pass `shimEntry`). It is run with the same node binary as
// this process (process.execPath).
//
// Caveats:
//   * argv[0] only reaches binaries: a #! script (COMMAND or a sibling) sees
//     its script path instead, so a script that spawns siblings through
//     dirname(argv[0]) is not interposed on (Bitcoin Core's are ELF binaries);
//   * the interposed child is spawned by node (libuv), which resets signal
//     dispositions to their defaults (a parent's SIG_IGN for SIGPIPE is not
//     inherited, unlike a plain exec), and its argv[0] is the shim's path;
//   * pass-through via bash may add SHLVL/_ to the environment; the node
//     fallback (no bash) passes only fds 0-2 and adds a process;
//   * a COMMAND in a big directory (/usr/bin) gets a shim per executable;
//   * the temp dir is left behind if ipc-trace itself is SIGKILLed;
//   * running from source, a stale dist/proxy/shim.js is used as is.

import net from 'node:net';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import {
  accessSync, chmodSync, constants as fsConstants, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import { tmpdir, constants as osConstants } from 'node:os';
import { basename, delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError, PACKAGE_ROOT } from '../decoder/sources.js';
import { MAX_UNIX_PATH_BYTES } from './address.js';
import type { Interceptor, ConnIntercept } from '../intercept/engine.js';
import { asBuffer } from '../intercept/hooks.js';
import { encodeData, encodeEnd, encodeClose, encodeMode, encodePause } from './control.js';
import { FrameReader, FRAME_OPEN, FRAME_DATA, FRAME_END, FRAME_EXIT, FRAME_CLOSE, FRAME_MODE, FRAME_ACK } from './control.js';
import type { Frame } from './control.js';
import { now, errorText } from './splice.js';
import type { Tap } from './splice.js';

export interface ExecOptions {
  command: string;
  args: string[];
  tap: Tap;
  /** One line per notable event (non-zero child exits, bad shim records, tap exceptions), without a trailing newline or an 'ipc-trace:' prefix. */
  log?: (line: string) => void;
  /** The compiled shim entry (default: resolveShimEntry()). */
  shimEntry?: string;
  /** bash used for pass-through shims; null forces the node fallback (default: /bin/bash or /usr/bin/bash if present). */
  bash?: string | null;
  /** COMMAND's standard streams: the terminal (default), or none while a terminal UI owns it. */
  stdio?: 'inherit' | 'ignore';
  /** Environment for COMMAND (default process.env); IPC_TRACE_* are added. */
  env?: NodeJS.ProcessEnv;
  /** After COMMAND exits, how long wait() lets interposed connections finish (default 3000 ms). */
  drainTimeoutMs?: number;
  /**
   * Intercepting (src/intercept/): while a rule is in force (or a message
   * is held) shims hand every chunk here and write only what is sent back
   * to them (DATA, END, CLOSE and PAUSE frames on the control connection,
   * main → shim); otherwise they relay by themselves and send copies, as
   * without an interceptor (the MODE/ACK switch of control.ts).
   */
  interceptor?: Interceptor;
}

const here = dirname(fileURLToPath(import.meta.url));

/** The compiled shim entry: dist/proxy/shim.js. Throws UserError if it was not built. */
export function resolveShimEntry(): string {
  const candidates = [join(here, 'shim.js'), join(PACKAGE_ROOT, 'dist', 'proxy', 'shim.js')];
  for (const c of candidates) if (existsSync(c)) return c;
  throw new UserError(`the exec shim ${candidates[candidates.length - 1]} is missing: run 'npm run build'`);
}

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Finds COMMAND like execvp: a name with a '/' is a path, otherwise it is searched in PATH. */
export function resolveCommand(command: string, pathEnv = process.env.PATH ?? ''): string {
  if (command === '') throw new UserError('no command given');
  if (command.includes('/')) {
    const p = resolve(command);
    if (!existsSync(p)) throw new UserError(`command not found: ${command}`);
    if (!isExecutableFile(p)) throw new UserError(`not an executable file: ${command}`);
    return p;
  }
  for (const dir of pathEnv.split(delimiter)) {
    const p = resolve(dir || '.', command);
    if (isExecutableFile(p)) return p;
  }
  throw new UserError(`command not found in PATH: ${command}`);
}

/** Quotes a string for /bin/sh. */
function sq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function defaultBash(): string | null {
  for (const p of ['/bin/bash', '/usr/bin/bash']) if (isExecutableFile(p)) return p;
  return null;
}

/** The text of the shim script for the real executable `real`. */
export function shimScript(o: { real: string; node: string; entry: string; control: string; shimDir: string; bash: string | null; intercept?: boolean }): string {
  const runShim = `exec ${sq(o.node)} ${sq(o.entry)} ${sq(o.real)} "$@"`;
  const passthrough = o.bash ? `exec ${sq(o.bash)} -c 'exec -a "$0" "$@"' "$0" ${sq(o.real)} "$@"` : runShim;
  return [
    '#!/bin/sh',
    `# ipc-trace exec shim for ${o.real.replace(/\n/g, ' ')}`,
    `IPC_TRACE_CONTROL=${sq(o.control)}`,
    `IPC_TRACE_SHIM_DIR=${sq(o.shimDir)}`,
    'export IPC_TRACE_CONTROL IPC_TRACE_SHIM_DIR',
    ...(o.intercept ? ['IPC_TRACE_INTERCEPT=1', 'export IPC_TRACE_INTERCEPT'] : []),
    'if [ "$#" -eq 2 ] && [ "$1" = "-ipcfd" ]; then',
    `  ${runShim}`,
    'fi',
    'if [ "$#" -eq 1 ]; then',
    '  case "$1" in',
    `    ''|*[!0-9]*) ;;`,
    `    *) ${runShim} ;;`,
    '  esac',
    'fi',
    passthrough,
    '',
  ].join('\n');
}

interface ControlConn {
  sock: net.Socket;
  id: number | null;
  /** `exec:CHILDEXE[pid]`, from the OPEN record. */
  child: string;
  closed: boolean;
  /** The interceptor's side of this connection (with an interceptor). */
  ci: ConnIntercept | null;
  /**
   * Who writes the bytes on: 'i' this process (the shim hands chunks over),
   * 'p' still this process, the shim was asked to stop reading before
   * relaying by itself, 'd' the shim (chunks here are copies), 'di' the
   * shim until it acknowledges the switch to 'i' (copies until the ACK).
   */
  mode: 'i' | 'p' | 'd' | 'di';
  unwatch: (() => void) | null;
}

export class ExecSession {
  private readonly log: (line: string) => void;
  private baseDir: string | null = null;
  private binDir: string | null = null;
  private controlPath: string | null = null;
  private server: net.Server | null = null;
  private child: ChildProcess | null = null;
  private readonly controls = new Set<ControlConn>();
  private nextId = 0;
  private exitCode: Promise<number> | null = null;
  private exited = false;
  private stopping: Promise<void> | null = null;
  private tapErrors = 0;
  private readonly signalHandlers = new Map<NodeJS.Signals, () => void>();
  private idleWaiters: (() => void)[] = [];
  /** Bytes this process sent back to shims to write (intercepted mode). */
  sentBack = 0;

  constructor(private readonly opts: ExecOptions) {
    this.log = opts.log ?? (() => {});
  }

  /** The shim directory (bin/), once started. */
  get shimDir(): string | null {
    return this.binDir;
  }

  /** Children interposed on so far (one recorded connection each). */
  get interposed(): number {
    return this.nextId;
  }

  /** With an interceptor: who writes each open connection's bytes on ('i' this process, 'd' its shim, 'p'/'di' switching). */
  get relayModes(): string[] {
    return [...this.controls].filter((c) => c.id !== null && !c.closed).map((c) => c.mode);
  }

  /** COMMAND's pid, once started. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Creates the shims and control socket, then starts COMMAND. Rejects with UserError if it cannot. */
  async start(): Promise<void> {
    if (this.baseDir) throw new Error('ExecSession.start() called twice');
    const real = resolveCommand(this.opts.command, this.opts.env?.PATH ?? process.env.PATH ?? '');
    const entry = this.opts.shimEntry ?? resolveShimEntry();
    if (!existsSync(entry)) throw new UserError(`exec shim not found: ${entry}`);
    if (entry.endsWith('.ts')) throw new UserError(`exec shim must be compiled JavaScript, not ${entry}`);
    const bash = this.opts.bash === undefined ? defaultBash() : this.opts.bash;

    let base = mkdtempSync(join(tmpdir(), 'ipc-trace-exec-'));
    if (Buffer.byteLength(join(base, 'control.sock')) > MAX_UNIX_PATH_BYTES) {
      rmSync(base, { recursive: true, force: true });
      base = mkdtempSync('/tmp/ipc-trace-exec-');
    }
    this.baseDir = base;
    chmodSync(base, 0o700);
    const binDir = join(base, 'bin');
    mkdirSync(binDir, { mode: 0o700 });
    this.binDir = binDir;
    this.controlPath = join(base, 'control.sock');

    try {
      await this.listenControl(this.controlPath);
      this.writeShims(real, { node: process.execPath, entry: resolve(entry), control: this.controlPath, shimDir: binDir, bash });
      await this.spawnCommand(real, binDir);
    } catch (err) {
      await this.cleanup();
      throw err;
    }
  }

  /**
   * Resolves with COMMAND's exit code (128 + signal number if it was killed by
   * a signal) once it exited and the interposed connections closed (or
   * drainTimeoutMs passed).
   */
  wait(): Promise<number> {
    if (!this.exitCode) return Promise.reject(new Error('ExecSession.wait() before start()'));
    return this.exitCode;
  }

  /**
   * Ends the session: terminates COMMAND if it still runs (SIGTERM, then
   * SIGKILL after 5 s), closes the control socket (open connections are
   * reported closed with reason "ipc-trace stopped"), removes the temp dir.
   */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    const child = this.child;
    if (child && !this.exited) {
      const gone = new Promise<void>((res) => child.once('exit', () => res()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(t);
    }
    await this.cleanup();
  }

  private async cleanup(): Promise<void> {
    for (const [sig, h] of this.signalHandlers) process.off(sig, h);
    this.signalHandlers.clear();
    for (const c of [...this.controls]) {
      this.closeControl(c, 'ipc-trace stopped');
      c.sock.destroy();
    }
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((res) => server.close(() => res()));
    if (this.baseDir) rmSync(this.baseDir, { recursive: true, force: true });
  }

  private writeShims(real: string, o: { node: string; entry: string; control: string; shimDir: string; bash: string | null }): void {
    const dir = dirname(real);
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch (err) {
      throw new UserError(`cannot list ${dir}: ${errorText(err)}`);
    }
    if (!names.includes(basename(real))) names.push(basename(real));
    for (const name of names) {
      const p = join(dir, name);
      if (p !== real && !isExecutableFile(p)) continue;
      writeFileSync(join(o.shimDir, name), shimScript({ ...o, real: p, intercept: this.opts.interceptor !== undefined }), { mode: 0o700 });
    }
  }

  private async listenControl(path: string): Promise<void> {
    const server = net.createServer((s) => this.onControl(s));
    await new Promise<void>((res, rej) => {
      server.once('error', (err) => rej(new UserError(`cannot create control socket ${path}: ${errorText(err)}`)));
      server.listen({ path }, () => res());
    });
    chmodSync(path, 0o600);
    server.on('error', (err) => this.log(`control socket: ${errorText(err)}`));
    this.server = server;
  }

  private async spawnCommand(real: string, binDir: string): Promise<void> {
    const env = {
      ...(this.opts.env ?? process.env),
      IPC_TRACE_CONTROL: this.controlPath!,
      IPC_TRACE_SHIM_DIR: binDir,
    };
    const child = spawn(real, this.opts.args, { argv0: join(binDir, basename(real)), stdio: this.opts.stdio ?? 'inherit', env });
    this.child = child;
    await new Promise<void>((res, rej) => {
      child.once('spawn', () => res());
      child.once('error', (err) => {
        this.child = null; // never ran: nothing for stop() to wait for
        rej(new UserError(`cannot run ${this.opts.command}: ${errorText(err)}`));
      });
    });
    child.on('error', (err) => this.log(`${this.opts.command}: ${errorText(err)}`));
    for (const sig of ['SIGINT', 'SIGTERM'] as NodeJS.Signals[]) {
      const h = () => {
        try {
          child.kill(sig);
        } catch {
          // already gone
        }
      };
      this.signalHandlers.set(sig, h);
      process.on(sig, h);
    }
    const exited = new Promise<number>((res) => {
      child.once('exit', (code, signal) => {
        this.exited = true;
        res(code ?? 128 + ((signal && (osConstants.signals as Record<string, number>)[signal]) || 0));
      });
    });
    this.exitCode = exited.then(async (code) => {
      await this.waitIdle(this.opts.drainTimeoutMs ?? 3000);
      return code;
    });
  }

  /** Resolves when no control connection is open, or after timeoutMs. */
  private waitIdle(timeoutMs: number): Promise<void> {
    if (this.openControls() === 0) return Promise.resolve();
    return new Promise((res) => {
      const t = setTimeout(done, timeoutMs);
      function done() {
        clearTimeout(t);
        res();
      }
      this.idleWaiters.push(done);
    });
  }

  private openControls(): number {
    let n = 0;
    for (const c of this.controls) if (!c.closed) n++;
    return n;
  }

  private tapCall(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      if (this.tapErrors++ === 0) this.log(`recorder error (further ones not shown): ${errorText(err)}`);
    }
  }

  private closeControl(c: ControlConn, reason: string | null, time = now()): void {
    if (c.closed) return;
    c.closed = true;
    this.controls.delete(c);
    const id = c.id;
    c.unwatch?.();
    c.ci?.close();
    if (id !== null) this.tapCall(() => this.opts.tap.close(id, time, reason));
    if (this.openControls() === 0) {
      const ws = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of ws) w();
    }
  }

  /**
   * Has the shim relay by itself while the interceptor has nothing to do
   * on this connection, and hand chunks over again when it has (control.ts
   * MODE/ACK: the switch neither reorders nor loses bytes in flight).
   */
  private switchMode(c: ControlConn): void {
    if (!c.ci || c.closed || c.sock.destroyed) return;
    const idle = c.ci.idle;
    if (c.mode === 'i' && idle) {
      c.mode = 'p';
      c.sock.write(encodeMode(FRAME_MODE, now(), 'p'));
    } else if (c.mode === 'd' && !idle) {
      c.mode = 'di';
      c.sock.write(encodeMode(FRAME_MODE, now(), 'i'));
    }
  }

  private onControl(sock: net.Socket): void {
    const c: ControlConn = { sock, id: null, child: '', closed: false, ci: null, mode: 'i', unwatch: null };
    this.controls.add(c);
    const reader = new FrameReader();
    sock.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = reader.push(chunk);
      } catch (err) {
        this.log(`bad record from an exec shim: ${errorText(err)}`);
        this.closeControl(c, 'bad control record');
        sock.destroy();
        return;
      }
      for (const f of frames) this.onFrame(c, f);
    });
    sock.on('error', () => {});
    sock.on('close', () => this.closeControl(c, c.id === null ? null : 'shim disconnected without closing'));
  }

  private onFrame(c: ControlConn, f: Frame): void {
    const { tap } = this.opts;
    if (f.type === FRAME_OPEN) {
      if (c.id !== null) return;
      const id = ++this.nextId;
      c.id = id;
      const i = f.info;
      c.child = `exec:${i.childExe}[${i.childPid}${i.shimPid !== undefined && i.shimPid !== i.childPid ? `, launched as ${i.shimPid}` : ''}]`;
      this.tapCall(() => tap.open({
        id,
        time: f.time,
        listen: `exec:${i.parentExe}[${i.parentPid}]`,
        upstream: c.child,
      }));
      const eng = this.opts.interceptor;
      if (eng) {
        const send = (b: Buffer) => {
          if (!c.sock.destroyed) c.sock.write(b);
        };
        c.ci = eng.connection(id, {
          write: (dir, b) => {
            const [h, body] = encodeData(now(), dir, asBuffer(b));
            this.sentBack += body.length;
            send(h);
            send(body);
          },
          end: (dir) => {
            const t = now();
            send(encodeEnd(t, dir));
            this.tapCall(() => tap.end(id, dir, t)); // recorded when passed on, as the receiver sees it
          },
          close: (reason) => send(encodeClose(now(), reason)),
          record: (dir, b, time) => this.tapCall(() => tap.data(id, dir, asBuffer(b), time)),
          pause: (dir, on) => send(encodePause(now(), dir, on)),
        }, { label: `${i.parentExe} -> ${c.child}`, client: `exec:${i.parentExe}[${i.parentPid}]`, server: c.child });
        c.unwatch = eng.watchMode(() => this.switchMode(c));
        this.switchMode(c);
      }
      return;
    }
    if (f.type === FRAME_EXIT) {
      // Usually arrives after CLOSE (the child closes its socket, then exits).
      if (f.code !== 0 && c.id !== null) {
        this.log(`connection #${c.id}: ${c.child} ${f.signal ? `was killed by ${f.signal}` : `exited with code ${f.code}`}`);
      }
      return;
    }
    const id = c.id;
    if (id === null || c.closed) return;
    const copies = c.mode === 'd' || c.mode === 'di';
    switch (f.type) {
      case FRAME_DATA:
        if (!c.ci) this.tapCall(() => tap.data(id, f.dir, f.bytes, f.time));
        else if (copies) c.ci.passed(f.dir, f.bytes, f.time);
        else {
          c.ci.data(f.dir, f.bytes, f.time);
          this.switchMode(c);
        }
        break;
      case FRAME_END:
        if (!c.ci || copies) this.tapCall(() => tap.end(id, f.dir, f.time));
        if (copies) c.ci?.endPassed(f.dir);
        else c.ci?.end(f.dir);
        break;
      case FRAME_ACK:
        if (f.mode === 'i' && c.mode === 'di') {
          c.mode = 'i';
          this.switchMode(c); // the rule may be gone again
        }
        else if (f.mode === 'p' && c.mode === 'p') {
          // Every chunk the shim sent before stopping has been handled (and written back).
          if (c.ci?.idle) {
            c.mode = 'd';
            c.sock.write(encodeMode(FRAME_MODE, now(), 'd'));
          } else {
            c.mode = 'i';
            c.sock.write(encodeMode(FRAME_MODE, now(), 'i'));
          }
        }
        break;
      case FRAME_CLOSE:
        this.closeControl(c, f.reason, f.time);
        break;
    }
  }
}
