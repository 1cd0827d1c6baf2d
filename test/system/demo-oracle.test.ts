// The bundled node and wallet write real Cap'n Proto: every message of a demo
// session, exported as a hexlog, decodes with the C++ reference decoder
// without error, with the same names and texts as ipc-trace recorded live.

import { it, expect } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SessionReader } from '../../src/store/reader.js';
import { runCli } from '../cli/run.js';
import { oracleDecode } from './oracle.js';

it('capnp-oracle decodes a whole demo session like ipc-trace', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ipc-trace-demo-oracle-'));
  const db = join(dir, 'demo.sqlite');
  const demo = runCli(['demo', '--no-tui', '--duration', '6', '--db', db, '--log', join(dir, 'demo.log')]);
  expect(demo.code, demo.stderr).toBe(0);
  const hexlog = join(dir, 'c1.hexlog');
  expect(runCli(['export', db, '--format', 'hexlog', '--conn', '1', '--out', hexlog]).code).toBe(0);
  const oracle = oracleDecode(readFileSync(hexlog));
  expect(oracle.length).toBeGreaterThan(200);
  expect(oracle.filter((o) => 'error' in o)).toEqual([]);
  const d = SessionReader.open(db);
  const ours = d.query('SELECT n, name, text, exception FROM messages WHERE conn = 1 AND n IS NOT NULL ORDER BY n');
  d.close();
  expect(ours.length).toBe(oracle.length);
  // Our recorded text is the untruncated capnp text; names and texts must be identical.
  const strip = (r: Record<string, unknown>) => [r.n, r.name ?? null, r.text ?? null, r.exception ?? null];
  expect(ours.map(strip)).toEqual(oracle.map(strip));
}, 120000);
