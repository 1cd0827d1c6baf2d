// The exec shim: the program behind every shim script that ExecSession
// (exec.ts) puts in its shim directory. Run as
//
//     node dist/proxy/shim.js REAL-EXECUTABLE [ARGS...]
//
// with IPC_TRACE_CONTROL (the main process's control socket) and
// IPC_TRACE_SHIM_DIR (the shim directory) in the environment.
//
// * Invoked exactly as `REAL -ipcfd N` (how Bitcoin Core starts an IPC child on
//   one end of a socketpair), or `REAL N` with N a socket (libmultiprocess's
//   mp::SpawnProcess, as its example programs do): wraps fd N (the spawning parent's connection),
//   starts REAL with `-ipcfd 3` (or `3`) where fd 3 is a fresh socketpair end (libuv's
//   'pipe' stdio) and argv[0] in the shim directory (so the child's own
//   children are interposed too), relays between the two exactly like the
//   listening relay (splice.ts; the parent is the connecting side '>') and
//   mirrors every event to the control socket (control.ts). The child does
//   not inherit fd N, so the parent's socket is only held by the shim.
// * Any other invocation: runs REAL with the same arguments and argv[0] in the
//   shim directory (a fallback: shim scripts normally do pass-through
//   themselves with bash's `exec -a`, keeping the pid and every fd; this path
//   passes only stdin/stdout/stderr).
//
// Either way the shim forwards SIGINT, SIGTERM, SIGHUP, SIGQUIT and SIGUSR2 to
// the child and exits like it (same exit code, or killed by the same signal).
// If the control socket is missing or fails, the shim keeps relaying without
// recording. If the control socket falls more than 16 MiB behind, reading from
// both sockets pauses until it drains (the recorder applies backpressure
// rather than the shim buffering without bound). Standard library only.
//
// With IPC_TRACE_INTERCEPT=1 (the main process intercepts, src/intercept/)
// the shim starts writing nothing on by itself: every chunk and EOF goes to
// the main process, which sends back what to write (DATA), when to end a
// direction (END), when to cut the connection (CLOSE) and when to stop
// reading one way (PAUSE). While no rule is in force the main process has the
// shim relay by itself, copies only (MODE 'p': stop reading, ACK; then MODE
// 'd' once every chunk sent before the ACK was written back), and back
// (MODE 'i', ACK: chunks after the ACK are intercepted), so no byte is
// reordered or lost across a switch. Without a control connection it relays
// as usual.

import net from 'node:net';
import { spawn } from 'node:child_process';
import type { ChildProcess, StdioOptions } from 'node:child_process';
import { openSync, closeSync, fstatSync, readFileSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import { constants } from 'node:os';
import { Splice, now, errorText } from './splice.js';
import { adoptForSplice, fdForSplice } from './reused-reads.js';
import { encodeOpen, encodeData, encodeEnd, encodeExit, encodeClose, encodeMode, FrameReader, FRAME_DATA, FRAME_END, FRAME_CLOSE, FRAME_MODE, FRAME_ACK, FRAME_PAUSE } from './control.js';
import type { Frame } from './control.js';

const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR2'];
const MIRROR_HIGH_WATER = 16 * 1024 * 1024;
/** After the child exits, how long to wait for its last bytes to reach the parent. */
const EXIT_DRAIN_MS = 2000;

/** Writes a warning to stderr without touching process.stderr (which could set O_NONBLOCK on an fd the child shares). */
function warn(msg: string): void {
  try {
    writeSync(2, `ipc-trace shim: ${msg}\n`);
  } catch {
    // nothing to do
  }
}

/** Name of a process: basename of its argv[0] (as Bitcoin Core's exe name), else its comm. */
function processName(pid: number): string {
  try {
    const argv0 = readFileSync(`/proc/${pid}/cmdline`).toString('utf8').split('\0')[0];
    if (argv0) return basename(argv0);
  } catch {
    // not Linux, or gone
  }
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() || '?';
  } catch {
    return '?';
  }
}

/** Whether fd has FD_CLOEXEC set (Linux /proc; false when unknown). */
function isCloseOnExec(fd: number): boolean {
  try {
    const m = /^flags:\s*([0-7]+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
    return m ? (parseInt(m[1]!, 8) & 0o2000000) !== 0 : false;
  } catch {
    return false;
  }
}

function isSocket(fd: number): boolean {
  try {
    return fstatSync(fd).isSocket();
  } catch {
    return false;
  }
}

function forwardSignals(child: ChildProcess): void {
  for (const sig of FORWARDED_SIGNALS) {
    process.on(sig, () => {
      try {
        child.kill(sig);
      } catch {
        // already gone
      }
    });
  }
}

/** Exits the way the child did. */
function exitLike(code: number | null, signal: NodeJS.Signals | null): never {
  if (signal) {
    process.removeAllListeners(signal);
    try {
      process.kill(process.pid, signal);
    } catch {
      // fall through
    }
    // Signals whose default action is not to terminate: exit like a shell would report it.
    const n = (constants.signals as Record<string, number>)[signal] ?? 0;
    setTimeout(() => process.exit(128 + n), 200);
    // Keep the event loop alive until the signal lands.
    setInterval(() => {}, 1000);
    return undefined as never;
  }
  process.exit(code ?? 1);
}

function passthrough(real: string, args: string[], argv0: string): void {
  let child: ChildProcess;
  try {
    child = spawn(real, args, { argv0, stdio: 'inherit' });
  } catch (err) {
    warn(`cannot run ${real}: ${errorText(err)}`);
    process.exit(127);
  }
  child.once('error', (err) => {
    warn(`cannot run ${real}: ${errorText(err)}`);
    process.exit(127);
  });
  forwardSignals(child);
  child.once('exit', (code, signal) => exitLike(code, signal));
}

/** The control connection to the main process; every method is a no-op once it is gone. */
class Mirror {
  private sock: net.Socket | null = null;
  private pressured = false;
  onPressure: (on: boolean) => void = () => {};
  /** Frames the main process sends back (intercepted mode). */
  onFrame: (f: Frame) => void = () => {};
  /** The control connection is gone (intercepted mode: relay directly from now on). */
  onLost: () => void = () => {};

  get connected(): boolean {
    return this.sock !== null;
  }

  constructor(path: string | undefined) {
    if (!path) {
      warn('IPC_TRACE_CONTROL is not set: relaying without recording');
      return;
    }
    const s = net.createConnection({ path });
    s.on('error', (err) => {
      if (this.sock) warn(`lost the control connection to ipc-trace (${errorText(err)}): relaying without recording`);
      this.drop();
    });
    s.on('close', () => this.drop());
    const reader = new FrameReader();
    s.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = reader.push(chunk);
      } catch (err) {
        warn(`bad frame from ipc-trace: ${errorText(err)}`);
        s.destroy();
        return;
      }
      for (const f of frames) this.onFrame(f);
    });
    this.sock = s;
  }

  send(frame: Buffer): void {
    if (!this.sock) return;
    this.sock.write(frame);
    this.checkPressure();
  }

  /** `bytes` are the splice's (valid only during the call): the frame is written as a copy. */
  data(time: number, dir: '>' | '<', bytes: Buffer): void {
    if (!this.sock) return;
    this.sock.write(Buffer.concat(encodeData(time, dir, bytes)));
    this.checkPressure();
  }

  /** Ends the control connection and waits (bounded) until it is flushed and closed. */
  finish(timeoutMs: number): Promise<void> {
    const s = this.sock;
    if (!s) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        s.destroy();
        resolve();
      }, timeoutMs);
      s.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      s.end();
    });
  }

  private checkPressure(): void {
    const s = this.sock;
    if (!s || this.pressured || s.writableLength <= MIRROR_HIGH_WATER) return;
    this.pressured = true;
    this.onPressure(true);
    s.once('drain', () => {
      if (!this.pressured) return;
      this.pressured = false;
      this.onPressure(false);
    });
  }

  private drop(): void {
    if (this.sock) this.onLost();
    this.sock = null;
    if (this.pressured) {
      this.pressured = false;
      this.onPressure(false);
    }
  }
}

function interpose(real: string, fd: number, parentSock: net.Socket, argv0: string, bare: boolean): void {
  parentSock.on('error', () => {}); // reported through the splice once it exists
  // The child gets our end of a new socketpair as fd 3. It must not inherit
  // fd N (the parent cleared CLOEXEC on it): Node marks inherited fds >= 3
  // close-on-exec at startup, but if N is still inheritable (or N < 3) the
  // child's copy is overwritten with /dev/null.
  const stdio: StdioOptions = ['inherit', 'inherit', 'inherit', 'pipe'];
  let devnull: number | null = null;
  if (fd !== 3 && (fd < 3 || !isCloseOnExec(fd))) {
    devnull = openSync('/dev/null', 'r+');
    if (fd < 3) stdio[fd] = devnull;
    else {
      while (stdio.length < fd) stdio.push('ignore');
      stdio.push(devnull);
    }
  }
  let child: ChildProcess;
  try {
    child = spawn(real, bare ? ['3'] : ['-ipcfd', '3'], { argv0, stdio });
  } catch (err) {
    warn(`cannot run ${real}: ${errorText(err)}`);
    process.exit(127);
  }
  if (devnull !== null) closeSync(devnull);
  child.once('error', (err) => {
    warn(`cannot run ${real}: ${errorText(err)}`);
    process.exit(127);
  });
  forwardSignals(child);
  child.once('spawn', () => {
    const childSock = adoptForSplice(child.stdio[3] as net.Socket); // read into a reused buffer (reused-reads.ts)
    const mirror = new Mirror(process.env.IPC_TRACE_CONTROL);
    mirror.send(encodeOpen(now(), {
      parentPid: process.ppid,
      parentExe: processName(process.ppid),
      childPid: child.pid!,
      childExe: basename(real),
      childPath: real,
      fd,
      shimPid: process.pid,
    }));
    const intercepted = process.env.IPC_TRACE_INTERCEPT === '1' && mirror.connected;
    const splice = new Splice(parentSock, childSock, {
      data: (dir, bytes, time) => mirror.data(time, dir, bytes),
      end: (dir, time) => mirror.send(encodeEnd(time, dir)),
      close: (time, reason) => mirror.send(encodeClose(time, reason)),
    }, { names: ['parent', 'child'], intercepted });
    if (intercepted) {
      let mode: 'i' | 'p' | 'd' = 'i';
      const reading = (on: boolean) => {
        splice.pauseDir('>', !on);
        splice.pauseDir('<', !on);
      };
      mirror.onFrame = (f) => {
        switch (f.type) {
          case FRAME_DATA:
            splice.write(f.dir, f.bytes);
            break;
          case FRAME_END:
            splice.endDir(f.dir);
            break;
          case FRAME_CLOSE:
            splice.destroy(f.reason ?? 'closed by ipc-trace');
            break;
          case FRAME_PAUSE:
            splice.pauseDir(f.dir, f.on);
            break;
          case FRAME_MODE:
            mode = f.mode;
            if (f.mode === 'p') {
              // Chunks sent before the ACK may not be written back yet: read nothing until 'd' (or 'i').
              reading(false);
              mirror.send(encodeMode(FRAME_ACK, now(), 'p'));
            } else {
              splice.setIntercepted(f.mode === 'i');
              reading(true);
              if (f.mode === 'i') mirror.send(encodeMode(FRAME_ACK, now(), 'i'));
            }
            break;
        }
      };
      mirror.onLost = () => {
        if (mode !== 'd') splice.destroy('lost the control connection to ipc-trace while intercepting');
      };
    }
    mirror.onPressure = (on) => splice.hold(on);
    splice.start();

    const childDrained = new Promise<void>((resolve) => {
      const check = () => {
        if ((childSock.readableEnded || childSock.destroyed) && (parentSock.writableFinished || parentSock.destroyed)) resolve();
      };
      childSock.on('end', check);
      childSock.on('close', check);
      parentSock.on('finish', check);
      parentSock.on('close', check);
    });
    child.once('exit', (code, signal) => {
      mirror.send(encodeExit(now(), code, signal));
      void (async () => {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([splice.closed, childDrained, new Promise((r) => (timer = setTimeout(r, EXIT_DRAIN_MS)))]);
        clearTimeout(timer);
        if (!splice.isClosed && parentSock.readableEnded && childSock.readableEnded) {
          // Both directions ended: the splice is closing by itself.
          await Promise.race([splice.closed, new Promise((r) => (timer = setTimeout(r, 1000)))]);
          clearTimeout(timer);
        }
        if (!splice.isClosed) {
          await splice.shutdown(signal ? `child killed by ${signal}` : `child exited with code ${code}`);
        }
        await mirror.finish(2000);
        exitLike(code, signal);
      })();
    });
  });
}

function main(argv: string[]): void {
  const [real, ...args] = argv;
  if (!real) {
    warn('usage: node shim.js REAL-EXECUTABLE [ARGS...]');
    process.exit(2);
  }
  const shimDir = process.env.IPC_TRACE_SHIM_DIR;
  const argv0 = shimDir ? join(shimDir, basename(real)) : real;
  const ipcfd = args.length === 2 && args[0] === '-ipcfd' && /^[0-9]+$/.test(args[1]!);
  // `REAL N`: only when fd N is a socket (a bare number may be an ordinary argument).
  const bare = args.length === 1 && /^[0-9]+$/.test(args[0]!) && isSocket(Number(args[0]));
  if (ipcfd || bare) {
    const fd = Number(args[args.length - 1]);
    let sock: net.Socket;
    try {
      sock = fdForSplice(fd);
    } catch (err) {
      warn(`cannot use fd ${fd} (${errorText(err)}): running ${basename(real)} without tracing`);
      passthrough(real, args, argv0);
      return;
    }
    interpose(real, fd, sock, argv0, bare);
    return;
  }
  passthrough(real, args, argv0);
}

main(process.argv.slice(2));
