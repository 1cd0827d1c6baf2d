// ASCII glyphs for a terminal whose locale is not UTF-8 (glyphs.ts): such a
// terminal counts each byte of a glyph as a column, so rows with `…`, `▾` or
// `↳` came out cut by 2 columns per glyph.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SessionReader } from '../../src/store/reader.js';
import { SessionView } from '../../src/tui/view.js';
import { Ui } from '../../src/tui/ui.js';
import { screenLines } from '../../src/tui/screen.js';
import { writeSyntheticSession } from '../../src/bench/synthetic-session.js';
import { ASCII_GLYPHS, asciiLine, G, setGlyphs, UNICODE_GLYPHS, utf8Locale, GLYPH_PROBE, probeAnswer, ProbeReader } from '../../src/tui/glyphs.js';

let dir: string;
let reader: SessionReader;
const before = G;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ipc-trace-glyphs-'));
  writeSyntheticSession(join(dir, 's.sqlite'), { calls: 400, seed: 5 });
  reader = SessionReader.open(join(dir, 's.sqlite'));
});
afterAll(() => {
  setGlyphs(before);
  reader.close();
  rmSync(dir, { recursive: true, force: true });
});

const strip = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');

function lines(width: number, height: number, keys: string[] = []): string[] {
  const view = new SessionView({ mode: 'replay', reader, stuckMs: 5000 });
  const ui = new Ui(view, () => {});
  for (const k of keys) ui.key(k);
  return screenLines(view, ui, width, height).map(strip);
}

describe('glyphs', () => {
  it('follows the locale: LC_ALL, else LC_CTYPE, else LANG; none set is not UTF-8', () => {
    expect(utf8Locale({ LANG: 'C.UTF-8' })).toBe(true);
    expect(utf8Locale({ LANG: 'en_US.utf8' })).toBe(true);
    expect(utf8Locale({})).toBe(false);
    expect(utf8Locale({ LANG: 'C' })).toBe(false);
    expect(utf8Locale({ LC_ALL: 'C', LANG: 'C.UTF-8' })).toBe(false);
    expect(utf8Locale({ LC_CTYPE: 'de_DE.UTF-8', LANG: 'C' })).toBe(true);
    expect(utf8Locale({ LC_ALL: '', LANG: 'en_GB.UTF-8' })).toBe(true);
  });

  for (const [width, height] of [
    [120, 36],
    [80, 24],
  ] as const) {
    it(`draws only ASCII, no row wider than the terminal, at ${width}x${height} with a non-UTF-8 locale`, () => {
      setGlyphs(ASCII_GLYPHS);
      for (const keys of [[], ['4'], ['5'], ['1', 'enter']]) {
        const shown = lines(width, height, keys);
        for (const l of shown) {
          expect(l).toMatch(/^[\x00-\x7f]*$/);
          expect(l.length).toBeLessThanOrEqual(width);
        }
      }
      const calls = lines(width, height);
      // Callbacks nested under their call; every row keeps its latency's unit at the end.
      expect(calls.some((l) => / ->[ v>]\S/.test(l))).toBe(true);
      const rows = calls.filter((l) => /^.[\d:.]+ c\d /.test(l));
      expect(rows.length).toBeGreaterThan(10);
      for (const r of rows) expect(r.trimEnd()).toMatch(/\d(us|ms|s)$/);
      // Cut cells end with `...`.
      expect(calls.some((l) => l.includes('...'))).toBe(true);
    });
  }

  it('keeps the UTF-8 glyphs with a UTF-8 locale', () => {
    setGlyphs(UNICODE_GLYPHS);
    const calls = lines(120, 36);
    expect(calls.some((l) => l.includes('↳'))).toBe(true);
    expect(asciiLine('a → b')).toBe('a → b');
    setGlyphs(ASCII_GLYPHS);
    expect(asciiLine('a → b … ≈ é')).toBe('a -> b ... ~ ?');
  });
});

describe('the terminal asked', () => {
  it('finds the cursor position answer among the keys, and says where the glyph took the cursor', () => {
    expect(GLYPH_PROBE).toBe('\x1b[1;1H▾\x1b[6n');
    // One column: the answer of a terminal that draws the glyph as one cell; keys around it stay.
    expect(probeAnswer('j\x1b[1;2Rk')).toEqual({ column: 2, rest: 'jk' });
    // A terminal that counts the glyph's three bytes as columns.
    expect(probeAnswer('\x1b[1;4R')).toEqual({ column: 4, rest: '' });
    expect(probeAnswer('q')).toBeNull();
    expect(probeAnswer('\x1b[A')).toBeNull();
  });

  it('reads an answer that comes in pieces, and lets the keys around it through', () => {
    const r = new ProbeReader();
    expect(r.read('j\x1b[')).toEqual({ keys: 'j', column: null, held: true });
    expect(r.read('1;')).toEqual({ keys: '', column: null, held: true });
    expect(r.read('4Rk')).toEqual({ keys: 'k', column: 4, held: false });
    // An escape key that turned out not to start the answer is given back when the probe ends.
    const q = new ProbeReader();
    expect(q.read('\x1b')).toEqual({ keys: '', column: null, held: true });
    expect(q.read('[A')).toEqual({ keys: '\x1b[A', column: null, held: false });
    expect(q.read('\x1b')).toEqual({ keys: '', column: null, held: true });
    expect(q.flush()).toBe('\x1b');
    expect(q.flush()).toBe('');
  });
});
