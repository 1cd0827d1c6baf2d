// Events of different connections reach the recorder out of time order when
// separate processes relay them (exec's shims); the log, the store's order
// (replay) and the feed follow the time the events happened.

import { describe, it, expect } from 'vitest';
import { join } from 'node:path';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { ROOT } from '../helpers.js';
import { TimeOrder } from '../../src/session/reorder.js';
import type { RecordItem } from '../../src/session/recorder.js';
import { Recording } from '../../src/cli/recording.js';
import { SessionReader } from '../../src/store/reader.js';
import { parseHexlog } from '../../src/decoder/hexlog.js';

const CAP = join(ROOT, 'test/fixtures/captures');
const data = (id: number, time: number): RecordItem => ({ k: 'data', id, dir: '>', bytes: new Uint8Array([id]), time });
const key = (it: RecordItem) => (it.k === 'open' ? `open${it.info.id}@${it.info.time}` : `${it.k}${it.id}@${it.time}`);

describe('TimeOrder', () => {
  it('releases events by time once they are older than the window, keeping each connection in order', () => {
    const o = new TimeOrder(50);
    const first = o.push([{ k: 'open', info: { id: 1, time: 10, label: 'a' } }, { k: 'open', info: { id: 2, time: 11, label: 'b' } }, data(2, 15), data(2, 15), data(1, 13)], 40);
    expect(first).toEqual([]);
    expect(o.pending).toBe(5);
    const out = o.push([data(1, 100)], 70);
    expect(out.map(key)).toEqual(['open1@10', 'open2@11', 'data1@13', 'data2@15', 'data2@15']);
    // A close timed by another clock, earlier than the connection's last data, stays after it.
    const late = o.push([{ k: 'close', id: 1, time: 90, reason: null }], 1000);
    expect(late.map(key)).toEqual(['data1@100', 'close1@90']);
    expect(o.drain()).toEqual([]);
  });
});

describe('Recording', () => {
  /** Feeds c2 then c1 (interleaved in time) to a recording; returns its log lines' times and its stored stream's times. */
  function arriveOutOfOrder(timeOrder: boolean): { times: number[]; stream: number[]; events: number; names: Set<string> } {
    const dir = mkdtempSync(join(tmpdir(), 'ipc-trace-order-'));
    try {
      const db = join(dir, 's.sqlite');
      const lines: string[] = [];
      const rec = new Recording({ db, schemaFiles: [], importDirs: [], maxChars: Infinity, command: 'test', printLog: false, timeOrder }, [(b) => lines.push(...b.lines)]);
      // Two connections interleaved in time (c1 at even ms, c2 at odd ms), delivered all of c2 first.
      const items = (id: number, file: string, t0: number): RecordItem[] => {
        const h = parseHexlog(readFileSync(join(CAP, file), 'latin1'), file);
        let t = t0;
        return [
          { k: 'open', info: { id, time: t0, label: `c${id}` } },
          ...h.chunks.map((c): RecordItem => ({ k: 'data', id, dir: c.dir, bytes: c.bytes, time: (t += 2) })),
          { k: 'close', id, time: (t += 2), reason: null },
        ];
      };
      // Times a minute ahead: still inside the window when they arrive, whatever the machine's speed.
      const t0 = Date.now() + 60_000;
      const c1 = items(1, 'mining-01.hexlog', t0);
      const c2 = items(2, 'echo-01.hexlog', t0 + 1);
      rec.process(c2.slice(0, 10));
      rec.process(c2.slice(10));
      rec.process(c1);
      rec.finish(0);
      const times = lines.map((l) => Date.parse(l.slice(0, 23) + 'Z') + Number(l.slice(23, 26)) / 1000);
      const r = SessionReader.open(db);
      const stream = [...r.stream()].map((x) => x.time);
      r.close();
      return { times, stream, events: c1.length + c2.length, names: new Set(lines.map((l) => l.split(' ')[1]!)) };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);

  it('with timeOrder (exec: several clocks), logs and stores two connections in time order although they arrive connection by connection', () => {
    const { times, stream, events, names } = arriveOutOfOrder(true);
    expect(times.length).toBeGreaterThan(50);
    expect(times).toEqual(sorted(times));
    expect(names).toEqual(new Set(['c1', 'c2']));
    expect(stream.length).toBe(events);
    expect(stream).toEqual(sorted(stream));
  });

  it('without it (one relay, one clock), takes events as they come', () => {
    const { times, stream, events } = arriveOutOfOrder(false);
    expect(stream.length).toBe(events);
    expect(stream).not.toEqual(sorted(stream));
    expect(times).not.toEqual(sorted(times));
  });
});
