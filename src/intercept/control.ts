// The interceptor's control socket: a Unix socket next to the session
// database (DB.ctl, mode 0600) while a recording with intercept rules runs,
// so that `ipc-trace release DB` from another shell can list and release held
// messages. One request line per connection, one answer, then close:
//
//   list | release ID | release all | step [ID] | fail ID [TEXT]
//   rules | rule ACTION ARG (as on the command line: rule hold method:x) | unrule ID
//
// Answers are text lines; an error answer starts with `error: `.

import net from 'node:net';
import { lstatSync, rmSync, chmodSync } from 'node:fs';
import { UserError } from '../decoder/sources.js';
import { heldLine, Interceptor } from './engine.js';
import { DEFAULT_FAIL_REASON, parseRuleLine } from './rules.js';

export const controlPath = (dbPath: string) => `${dbPath}.ctl`;

/** Carries out one request line. */
export function controlCommand(eng: Interceptor, line: string): string {
  const [cmd, arg, ...rest] = line.trim().split(/\s+/);
  const now = performance.timeOrigin + performance.now();
  switch (cmd) {
    case 'list': {
      const held = eng.heldList();
      return held.length ? held.map((h) => heldLine(h, now)).join('\n') : 'nothing held';
    }
    case 'release': {
      if (arg === 'all' || arg === undefined) return `released ${eng.release('all')}`;
      const id = Number(arg.replace(/^#/, ''));
      if (!Number.isInteger(id)) return `error: release takes a held message number or 'all', not '${arg}'`;
      return eng.release(id) ? `released #${id}` : `error: nothing held as #${id}`;
    }
    case 'step': {
      const id = arg === undefined ? undefined : Number(arg.replace(/^#/, ''));
      if (id !== undefined && !Number.isInteger(id)) return `error: step takes a held message number, not '${arg}'`;
      const released = eng.step(id);
      return released !== null ? `released #${released}; the next match of its rule is held` : id !== undefined ? `error: nothing held as #${id}` : 'error: nothing held';
    }
    case 'fail': {
      const id = Number((arg ?? '').replace(/^#/, ''));
      if (!Number.isInteger(id)) return 'error: fail takes a held Call number';
      return eng.fail(id, rest.join(' ') || DEFAULT_FAIL_REASON) ? `failed #${id}` : `error: no held Call #${id}`;
    }
    case 'rules': {
      const rs = eng.ruleList;
      return rs.length ? rs.map((r) => `${r.id}: ${r.text}`).join('\n') : 'no rules';
    }
    case 'rule': {
      const text = line.trim().slice('rule'.length).trim();
      try {
        const r = parseRuleLine(text);
        if (!r) return 'error: rule needs ACTION EXPR (hold method:x, delay method:x=200ms, fail method:x=TEXT, disconnect method:x)';
        eng.addRule(r);
        return `rule ${r.id}: ${r.text}`;
      } catch (e) {
        return `error: ${(e as Error).message}`;
      }
    }
    case 'unrule': {
      const id = Number(arg);
      return Number.isInteger(id) && eng.removeRule(id) ? `removed rule ${id}` : `error: no rule ${arg ?? ''}`;
    }
    default:
      return `error: unknown request '${cmd ?? ''}'`;
  }
}

/** Listens on DB.ctl (mode 0600) until close(). A stale socket left by a killed run is replaced; any other file is not. */
export async function listenControl(dbPath: string, eng: Interceptor): Promise<{ path: string; close: () => void }> {
  const path = controlPath(dbPath);
  try {
    const st = lstatSync(path);
    if (!st.isSocket()) throw new UserError(`${path} exists and is not a socket: not replacing it`);
    rmSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const server = net.createServer((s) => {
    let buf = '';
    s.setEncoding('utf8');
    s.on('error', () => {});
    s.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      let answer: string;
      try {
        answer = controlCommand(eng, buf.slice(0, nl));
      } catch (e) {
        answer = `error: ${(e as Error).message}`;
      }
      s.end(answer + '\n');
    });
  });
  const old = process.umask(0o177);
  try {
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen({ path }, () => res());
    });
  } finally {
    process.umask(old);
  }
  chmodSync(path, 0o600);
  server.on('error', () => {});
  return {
    path,
    close: () => {
      server.close();
      rmSync(path, { force: true });
    },
  };
}

/** Sends one request to a running session's control socket; resolves with its answer. */
export function sendControl(dbPath: string, request: string): Promise<string> {
  const path = controlPath(dbPath);
  return new Promise((resolve, reject) => {
    const s = net.createConnection({ path });
    let out = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (out += d));
    s.on('end', () => resolve(out.trimEnd()));
    s.on('error', (e: NodeJS.ErrnoException) =>
      reject(new UserError(e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? `no running ipc-trace session with intercept rules for ${dbPath} (${path})` : `${path}: ${e.code ?? e.message}`)),
    );
    s.write(request + '\n');
  });
}
