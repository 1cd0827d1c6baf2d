// Builds the C++ Cap'n Proto peer (calc-peer.c++ with calc.capnp) against the
// system library; used by the suites that need a real C++ peer.

import { execFileSync } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../helpers.js';

export const PEERS = join(ROOT, 'test/system/peers');

/** Compiles calc-peer into `dir`; returns the binary's path. */
export function buildCalcPeer(dir: string): string {
  copyFileSync(join(PEERS, 'calc.capnp'), join(dir, 'calc.capnp'));
  execFileSync('capnp', ['compile', '-oc++', 'calc.capnp'], { cwd: dir });
  const flags = execFileSync('pkg-config', ['--cflags', '--libs', 'capnp-rpc'], { encoding: 'utf8' }).trim().split(/\s+/);
  const bin = join(dir, 'calc-peer');
  execFileSync('g++', ['-std=c++17', '-O1', '-I', dir, '-o', bin, join(PEERS, 'calc-peer.c++'), join(dir, 'calc.capnp.c++'), ...flags], {
    stdio: 'inherit',
  });
  return bin;
}
