// Proxy endpoint addresses, as given on the command line.
//
//   unix:PATH          a Unix domain socket (PATH may be relative: it is used as given)
//   PATH               the same, when the string contains a '/' or has no ':'
//   tcp:HOST:PORT      TCP; an IPv6 HOST goes in brackets: tcp:[::1]:8332
//
// Bitcoin Core's bare `unix` (= "<datadir>/node.sock") is not accepted: the
// proxy does not know the data directory, so the path must be spelled out.
// Unix socket paths are limited to 107 bytes (sockaddr_un.sun_path minus the
// terminating NUL); longer paths are refused here because the kernel/libuv
// would otherwise silently truncate them.

import { UserError } from '../decoder/sources.js';

export type Address =
  | { kind: 'unix'; path: string }
  | { kind: 'tcp'; host: string; port: number };

/** Longest Unix socket path that fits sockaddr_un.sun_path with its NUL. */
export const MAX_UNIX_PATH_BYTES = 107;

function unixAddress(path: string, original: string): Address {
  if (path === '') throw new UserError(`bad address '${original}': empty socket path (use unix:PATH)`);
  if (path.includes('\0')) throw new UserError(`bad address '${original}': NUL in socket path`);
  const n = Buffer.byteLength(path);
  if (n > MAX_UNIX_PATH_BYTES) {
    throw new UserError(`bad address '${original}': socket path is ${n} bytes, the limit is ${MAX_UNIX_PATH_BYTES}`);
  }
  return { kind: 'unix', path };
}

function tcpAddress(rest: string, original: string): Address {
  let host: string;
  let portText: string;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0 || rest[close + 1] !== ':') {
      throw new UserError(`bad address '${original}': expected tcp:[IPV6]:PORT`);
    }
    host = rest.slice(1, close);
    portText = rest.slice(close + 2);
    if (!host.includes(':')) throw new UserError(`bad address '${original}': brackets are only for IPv6 hosts`);
  } else {
    const colon = rest.lastIndexOf(':');
    if (colon < 0) throw new UserError(`bad address '${original}': expected tcp:HOST:PORT`);
    host = rest.slice(0, colon);
    portText = rest.slice(colon + 1);
    if (host.includes(':')) throw new UserError(`bad address '${original}': put an IPv6 host in brackets, e.g. tcp:[::1]:PORT`);
  }
  if (host === '') throw new UserError(`bad address '${original}': empty host`);
  if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) > 65535) {
    throw new UserError(`bad address '${original}': port must be a number from 0 to 65535`);
  }
  return { kind: 'tcp', host, port: Number(portText) };
}

/** Parses a proxy endpoint; throws UserError (one line) on bad input. */
export function parseAddress(s: string): Address {
  if (s === '') throw new UserError('bad address: empty string (use unix:PATH, a path, or tcp:HOST:PORT)');
  if (s === 'unix' || s === 'unix:') {
    throw new UserError(`bad address '${s}': give the socket path, e.g. unix:/home/me/.bitcoin/regtest/node.sock`);
  }
  if (s.startsWith('unix:')) return unixAddress(s.slice(5), s);
  if (s === 'tcp' || s.startsWith('tcp:')) {
    if (s.startsWith('tcp://')) throw new UserError(`bad address '${s}': write tcp:HOST:PORT (no '//')`);
    return tcpAddress(s.slice(4), s);
  }
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(s)) {
    throw new UserError(`bad address '${s}': URLs are not addresses; use unix:PATH, a path, or tcp:HOST:PORT`);
  }
  if (s.includes('/') || !s.includes(':')) return unixAddress(s, s);
  throw new UserError(`bad address '${s}': use unix:PATH, a path containing '/', or tcp:HOST:PORT`);
}

/** The canonical text of an address (parseAddress(formatAddress(a)) equals a). */
export function formatAddress(a: Address): string {
  if (a.kind === 'unix') return `unix:${a.path}`;
  return a.host.includes(':') ? `tcp:[${a.host}]:${a.port}` : `tcp:${a.host}:${a.port}`;
}
