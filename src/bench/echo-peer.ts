// Builds the C++ Cap'n Proto echo peer (test/system/peers/echo-peer.c++ with
// echo.capnp) against the system library (Debian: capnproto libcapnp-dev g++
// pkg-config), for the relay benchmark and its system test.

import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../decoder/sources.js';

export const ECHO_PEER_DIR = join(PACKAGE_ROOT, 'test/system/peers');
export const ECHO_SCHEMA = join(ECHO_PEER_DIR, 'echo.capnp');

/** What is missing to build the peer, or null when everything is there. */
export function echoPeerMissing(): string | null {
  for (const tool of ['capnp', 'g++', 'pkg-config']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return tool;
  }
  return spawnSync('pkg-config', ['--exists', 'capnp-rpc']).status === 0 ? null : 'libcapnp-dev';
}

/** Compiles echo-peer into `dir`; returns the binary's path. */
export function buildEchoPeer(dir: string): string {
  copyFileSync(ECHO_SCHEMA, join(dir, 'echo.capnp'));
  execFileSync('capnp', ['compile', '-oc++', 'echo.capnp'], { cwd: dir });
  const flags = execFileSync('pkg-config', ['--cflags', '--libs', 'capnp-rpc'], { encoding: 'utf8' }).trim().split(/\s+/);
  const bin = join(dir, 'echo-peer');
  execFileSync('g++', ['-std=c++17', '-O2', '-I', dir, '-o', bin, join(ECHO_PEER_DIR, 'echo-peer.c++'), join(dir, 'echo.capnp.c++'), ...flags], { stdio: 'inherit' });
  return bin;
}

export interface EchoFigures {
  p50: number;
  p99: number;
  rate: number;
  ok: boolean;
}

/** Runs the client against a socket: `calls` sequential calls, then `calls` with `inFlight` outstanding. */
export function runEchoClient(bin: string, sock: string, calls: number, inFlight: number, payload: number): EchoFigures {
  const r = spawnSync(bin, ['client', sock, String(calls), String(inFlight), String(payload)], { encoding: 'utf8', timeout: 120000 });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as EchoFigures;
  } catch {
    throw new Error(`echo client failed (exit ${r.status}): ${(r.stderr || line).trim()}`);
  }
}
