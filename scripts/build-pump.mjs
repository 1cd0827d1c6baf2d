#!/usr/bin/env node
// Builds the native relay pump (native/pump: a Node addon, see
// src/proxy/pump.ts) with node-gyp. Run by `npm install` (the package's
// `install` script) and `npm run build:native`. Without a C++ compiler, or
// when anything else fails, it prints one line and exits 0: ipc-trace then
// relays with JavaScript. --required (scripts/test-system.sh) makes a failed
// build an error.

import { spawnSync } from 'node:child_process';
import { existsSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'native', 'pump');
const required = process.argv.includes('--required');
const log = join(dir, 'build.log');

function fail(why) {
  if (required) {
    process.stderr.write(`ipc-trace: the native relay pump did not build: ${why} (see ${log})\n`);
    process.exit(1);
  }
  process.stderr.write(`ipc-trace: the native relay pump did not build (${why}); the JavaScript relay is used\n`);
  process.exit(0);
}

/** node-gyp: npm's own copy (npm sets npm_config_node_gyp for scripts), or the one next to the npm on PATH. */
function nodeGyp() {
  const candidates = [process.env.npm_config_node_gyp];
  const npm = spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).stdout?.trim();
  if (npm) {
    try {
      candidates.push(join(dirname(realpathSync(npm)), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
    } catch {
      // no npm: nothing to add
    }
  }
  return candidates.find((p) => p && existsSync(p));
}

const onPath = (tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

if (process.platform !== 'linux') fail(`not supported on ${process.platform}`);
const cxx = process.env.CXX?.split(' ')[0] || 'g++';
if (!onPath(cxx) && !onPath('c++')) fail('no C++ compiler: apt-get install g++');
for (const tool of ['make', 'python3']) if (!onPath(tool)) fail(`${tool} not found`);
const gyp = nodeGyp();
if (!gyp) fail('node-gyp not found');
const args = [gyp, 'rebuild', '--release'];
// Node's own headers when they are installed next to it (no download).
const prefix = resolve(dirname(process.execPath), '..');
if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
const r = spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8', env: { ...process.env, npm_config_loglevel: 'error' } });
writeFileSync(log, `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`);
if (r.status !== 0) {
  const lines = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.split('\n');
  const first = lines.find((l) => /\berror\b/i.test(l) && !/^gyp ERR! (stack|not ok|command|cwd|node|System)/.test(l)) ?? `node-gyp exited with ${r.status}`;
  fail(`compiling failed: ${first.replace(/^gyp ERR! /, '').trim().slice(0, 160)}`);
}
if (!existsSync(join(dir, 'build', 'Release', 'pump.node'))) fail('no pump.node after the build');
