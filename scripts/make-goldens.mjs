#!/usr/bin/env node
// Regenerates the golden files the decoder tests compare against, with the
// reference decoder (../shared/tools/capnp-oracle, Cap'n Proto's C++ library).
// For every test/fixtures/*/manifest.json:
//   each schema set  -> test/golden/<group>/<set>.cgr   (capnp compile -o-)
//   each hexlog      -> test/golden/<group>/<name>.jsonl (oracle output)
// Needs: capnproto libcapnp-dev g++ pkg-config. Usage: node scripts/make-goldens.mjs [--check | --oracle]
// With --check, nothing is written: it exits 1 if any golden differs from a fresh run.
// With --oracle, it only builds the oracle (if needed) and prints its path.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');
const shared = process.env.IPC_TRACE_SHARED ?? resolve(root, '..', 'shared');
const oracleDir = join(shared, 'tools', 'capnp-oracle');
const oracle = process.env.CAPNP_ORACLE ?? join(root, 'node_modules', '.cache', 'capnp-oracle', 'capnp-oracle');

if (!existsSync(oracle)) {
  if (!existsSync(join(oracleDir, 'build.sh'))) {
    console.error(`capnp-oracle not found at ${oracleDir}: put the shared folder beside the project or set CAPNP_ORACLE`);
    process.exit(1);
  }
  mkdirSync(dirname(oracle), { recursive: true });
  execFileSync('sh', [join(oracleDir, 'build.sh'), oracle], { stdio: 'inherit' });
}

if (process.argv.includes('--oracle')) {
  console.log(oracle);
  process.exit(0);
}

let differ = 0;
let written = 0;
function emit(path, bytes) {
  if (check) {
    if (!existsSync(path) || !readFileSync(path).equals(bytes)) {
      console.error(`differs: ${path}`);
      differ++;
    }
    return;
  }
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, bytes);
  written++;
}

const fixtures = join(root, 'test', 'fixtures');
for (const group of readdirSync(fixtures)) {
  const manifestPath = join(fixtures, group, 'manifest.json');
  if (!existsSync(manifestPath)) continue;
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  const out = join(root, 'test', 'golden', group);
  const args = {};
  for (const [name, set] of Object.entries(manifest.schemaSets)) {
    const inc = set.include.flatMap((d) => ['-I', join(root, d)]);
    const files = set.files.map((f) => join(root, f));
    args[name] = [...inc, ...files];
    const prefixes = set.include.flatMap((d) => [`--src-prefix=${join(root, d)}`]);
    const cgr = execFileSync('capnp', ['compile', '-o-', ...prefixes, ...inc, ...files], { cwd: root, maxBuffer: 1 << 28 });
    emit(join(out, `${name}.cgr`), cgr);
  }
  for (const h of manifest.hexlogs) {
    const input = readFileSync(join(root, h.hexlog));
    const jsonl = execFileSync(oracle, args[h.schemaSet], { input, cwd: root, maxBuffer: 1 << 30 });
    emit(join(out, basename(h.hexlog).replace(/\.hexlog$/, '.jsonl')), jsonl);
  }
}
if (check) {
  console.log(differ === 0 ? 'goldens are up to date' : `${differ} golden file(s) differ from the oracle`);
  process.exit(differ === 0 ? 0 : 1);
}
console.log(`wrote ${written} golden files`);
