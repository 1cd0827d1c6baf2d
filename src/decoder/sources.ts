// Where schemas come from: the bundle precompiled under schemas/compiled/
// (no compiler needed), or the user's own .capnp files compiled at run time
// with the `capnp` binary.

import { readFileSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCodeGeneratorRequest, SchemaSet } from './schema.js';

/** An error to show the user as one line. */
export class UserError extends Error {}

const here = dirname(fileURLToPath(import.meta.url));
/** The package root (dist/decoder/ or src/decoder/ → ../..). */
export const PACKAGE_ROOT = resolve(here, '..', '..');
const COMPILED = join(PACKAGE_ROOT, 'schemas', 'compiled');

function readCompiled(name: string): Uint8Array {
  const path = join(COMPILED, name);
  if (!existsSync(path)) throw new UserError(`bundled schema ${path} is missing: run 'npm run schemas'`);
  return readFileSync(path);
}

function loadCompiled(name: string): SchemaSet {
  return loadCodeGeneratorRequest(readCompiled(name));
}

let rpcSchemas: SchemaSet | null = null;
/** rpc.capnp, which the envelope of every message is decoded with. */
export function rpcSchemaSet(): SchemaSet {
  rpcSchemas ??= loadCompiled('rpc.cgr');
  return rpcSchemas;
}

/** The bundled Bitcoin Core and libmultiprocess schemas. */
export function bundledSchemaSet(): SchemaSet {
  return loadCompiled('bitcoin.cgr');
}

/**
 * Compiles the user's schema files with `capnp compile -o-`. Import paths:
 * the given -I dirs, then the bundled schemas/ folder (for /mp/proxy.capnp);
 * capnp adds /usr/include and /usr/local/include itself.
 */
export function compileSchemaFiles(files: string[], importDirs: string[], capnp = process.env.CAPNP ?? 'capnp'): SchemaSet {
  return loadCodeGeneratorRequest(compileSchemaBytes(files, importDirs, capnp));
}

/** The compiled CodeGeneratorRequest of the user's schema files. */
function compileSchemaBytes(files: string[], importDirs: string[], capnp: string): Uint8Array {
  for (const f of files) {
    if (!existsSync(f)) throw new UserError(`schema file not found: ${f}`);
  }
  for (const d of importDirs) {
    if (!existsSync(d)) throw new UserError(`import directory not found: ${d}`);
  }
  const dirs = [...importDirs, join(PACKAGE_ROOT, 'schemas')];
  const args = ['compile', '-o-', ...dirs.flatMap((d) => ['-I', d, `--src-prefix=${resolve(d)}`]), ...files.map((f) => resolve(f))];
  const r = spawnSync(capnp, args, { maxBuffer: 1 << 30 });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new UserError(`'${capnp}' not found: --schema needs the Cap'n Proto compiler (Debian/Ubuntu: apt-get install capnproto libcapnp-dev)`);
    }
    throw new UserError(`could not run ${capnp}: ${r.error.message}`);
  }
  if (r.status !== 0) {
    const err = r.stderr.toString('utf8').trim().split('\n').filter((l) => l.trim() !== '');
    const first = err.find((l) => /error/i.test(l)) ?? err[0] ?? `exit status ${r.status}`;
    const more = err.length > 1 ? ` (+${err.length - 1} more lines)` : '';
    throw new UserError(`capnp could not compile the schemas: ${first}${more}`);
  }
  return r.stdout;
}

/** The schemas a command decodes with: the user's files if given, else the bundle. */
export function loadSchemas(files: string[], importDirs: string[]): SchemaSet {
  return loadSchemaBundle(files, importDirs).set;
}

/** Like loadSchemas, with the compiled bytes (stored in session databases) and where they came from. */
export function loadSchemaBundle(files: string[], importDirs: string[]): { set: SchemaSet; cgr: Uint8Array; source: string } {
  if (files.length === 0) {
    const cgr = readCompiled('bitcoin.cgr');
    return { set: loadCodeGeneratorRequest(cgr), cgr, source: 'bundled' };
  }
  const cgr = compileSchemaBytes(files, importDirs, process.env.CAPNP ?? 'capnp');
  return { set: loadCodeGeneratorRequest(cgr), cgr, source: files.join(' ') };
}
