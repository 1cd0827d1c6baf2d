// The C++ reference decoder (../shared/tools/capnp-oracle), built once into
// node_modules/.cache like scripts/make-goldens.mjs does.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ROOT } from '../helpers.js';

export function oracleBinary(): string {
  const bin = process.env.CAPNP_ORACLE ?? join(ROOT, 'node_modules', '.cache', 'capnp-oracle', 'capnp-oracle');
  if (!existsSync(bin)) {
    const shared = process.env.IPC_TRACE_SHARED ?? resolve(ROOT, '..', 'shared');
    mkdirSync(dirname(bin), { recursive: true });
    execFileSync('sh', [join(shared, 'tools', 'capnp-oracle', 'build.sh'), bin], { stdio: 'inherit' });
  }
  return bin;
}

/** The oracle's JSON lines for a hexlog, decoded with the bundled schemas. */
export function oracleDecode(hexlog: Buffer): Record<string, unknown>[] {
  const schemas = join(ROOT, 'schemas');
  const files = ['mp/proxy.capnp', 'ipc/init.capnp', 'ipc/chain.capnp', 'ipc/common.capnp', 'ipc/echo.capnp', 'ipc/handler.capnp', 'ipc/mining.capnp', 'ipc/node.capnp', 'ipc/rpc.capnp', 'ipc/wallet.capnp'];
  const out = execFileSync(oracleBinary(), ['-I', schemas, ...files.map((f) => join(schemas, f))], { input: hexlog, maxBuffer: 1 << 30 });
  return out
    .toString('latin1')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
