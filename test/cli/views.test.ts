// The store's readable views: v_calls.sent carries the date; v_outstanding's
// age runs to now while recording and to the recording's end afterwards.

import { it, expect } from 'vitest';
import { join } from 'node:path';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { ROOT } from '../helpers.js';
import { Recording } from '../../src/cli/recording.js';
import { SessionReader } from '../../src/store/reader.js';
import { parseHexlog } from '../../src/decoder/hexlog.js';

it('v_outstanding ages to now while live and to the end once finished; v_calls.sent has a date', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ipc-trace-views-'));
  try {
    const db = join(dir, 's.sqlite');
    const rec = new Recording({ db, schemaFiles: [], importDirs: [], maxChars: Infinity, command: 'test', printLog: false });
    const h = parseHexlog(readFileSync(join(ROOT, 'test/fixtures/captures/mining-01.hexlog'), 'latin1'), 'mining');
    // Ten seconds ago, then traffic up to the first moment a call is pending.
    const t0 = Date.now() - 10_000;
    rec.process([{ k: 'open', info: { id: 1, time: t0, label: 'c1' } }]);
    let i = 0;
    while (rec.pipeline.model.outstanding.size === 0) {
      rec.process([{ k: 'data', id: 1, dir: h.chunks[i]!.dir, bytes: h.chunks[i]!.bytes, time: t0 + i }]);
      i++;
    }
    const pending = [...rec.pipeline.model.outstanding.values()][0]!;
    const live = SessionReader.open(db);
    const before = Date.now();
    const rows = live.query('SELECT id, age_s FROM v_outstanding');
    const sent = live.query('SELECT id, sent FROM v_calls ORDER BY id');
    const calls = new Map([...live.calls()].map((c) => [c.id, c]));
    live.close();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.id).toBe(pending.id);
    // Measured to now (at least the ten seconds since it was sent), not to the last byte (a few ms after it).
    expect(rows[0]!.age_s as number).toBeGreaterThanOrEqual((before - pending.sent) / 1000 - 0.01);
    for (const r of sent) {
      const c = calls.get(r.id as number)!;
      expect(r.sent).toBe(new Date(c.sent).toISOString());
    }

    rec.finish(0);
    const done = SessionReader.open(db);
    const ended = Date.parse(done.metaValue('ended')!);
    const after = done.query('SELECT age_s FROM v_outstanding');
    done.close();
    expect(after[0]!.age_s).toBeCloseTo((ended - pending.sent) / 1000, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
