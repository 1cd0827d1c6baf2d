// The terminal UI's glyphs, and their ASCII stand-ins for a terminal whose
// locale is not UTF-8 (LC_ALL, else LC_CTYPE, else LANG; none set is the C
// locale), or which says a glyph takes more than one column (GLYPH_PROBE). Such a terminal counts a glyph's bytes as columns: every `…`, `▾`
// or `↳` would push the rest of its row 2 columns right and cut its end.
// While the probe's answer is awaited the UI draws ASCII: a terminal that never
// answers, or answers late, gets rows that fit rather than rows cut short.
// The panes use `G` where a glyph's width matters (cells cut to a column's
// width); `asciiLine` turns whatever else is left (the chains report's
// arrows, non-ASCII text from the wire) into ASCII as a line is drawn.

const TABLE = {
  ellipsis: ['…', '...'],
  unfolded: ['▾', 'v'],
  folded: ['▸', '>'],
  nested: ['↳', '->'],
  arrow: ['→', '->'],
  up: ['↑', '^'],
  down: ['↓', 'v'],
  both: ['⇄', '<->'],
  bar: ['│', '|'],
  selected: ['›', '>'],
  bad: ['✗', 'x'],
  good: ['✓', 'ok'],
  dot: ['•', '*'],
  busy: ['●', '*'],
  idle: ['○', 'o'],
  play: ['▶', '>'],
  pause: ['⏸', '||'],
  dash: ['—', '-'],
  about: ['≈', '~'],
  atMost: ['≤', '<='],
} as const;

export type Glyphs = { [K in keyof typeof TABLE]: string };

const pick = (i: 0 | 1): Glyphs => Object.fromEntries(Object.entries(TABLE).map(([k, v]) => [k, v[i]])) as Glyphs;
export const UNICODE_GLYPHS = pick(0);
export const ASCII_GLYPHS = pick(1);

/** Whether the locale's character set is UTF-8 (the first of LC_ALL, LC_CTYPE, LANG that is set decides). */
export function utf8Locale(env: NodeJS.ProcessEnv = process.env): boolean {
  const locale = env.LC_ALL || env.LC_CTYPE || env.LANG || '';
  return /utf-?8/i.test(locale);
}

/**
 * What the terminal itself says: a glyph written at the top left, then a
 * cursor position request (DSR 6). A terminal that draws the glyph in one
 * column answers `ESC [ 1 ; 2 R`; one that counts its bytes (a UTF-8 locale
 * in the program's environment but not in the terminal's, e.g. a tmux server
 * started in the C locale) answers a later column, and gets ASCII.
 */
export const GLYPH_PROBE = `\x1b[1;1H${TABLE.unfolded[0]}\x1b[6n`;
const CURSOR_REPORT = /\x1b\[1;(\d+)R/;

/** The answer to GLYPH_PROBE in a terminal's input, if there: the column the glyph took the cursor to, and the input without it. */
export function probeAnswer(input: string): { column: number; rest: string } | null {
  const m = CURSOR_REPORT.exec(input);
  if (!m) return null;
  return { column: Number(m[1]), rest: input.slice(0, m.index) + input.slice(m.index + m[0].length) };
}

/** The start of a cursor report cut off at the end of a read (`ESC`, `ESC [`, `ESC [ 1 ;`, `ESC [ 1 ; 2`). */
const REPORT_START = /\x1b(\[(1(;\d*)?)?)?$/;

/**
 * Reads the terminal's input while GLYPH_PROBE's answer is awaited: the answer
 * may come in pieces, or among keys. `keys` is the input that is not part of
 * it; `column` is set once the whole answer was read.
 */
export class ProbeReader {
  private held = '';

  read(data: string): { keys: string; column: number | null; held: boolean } {
    const input = this.held + data;
    this.held = '';
    const answer = probeAnswer(input);
    if (answer) return { keys: answer.rest, column: answer.column, held: false };
    const part = REPORT_START.exec(input);
    if (!part) return { keys: input, column: null, held: false };
    this.held = part[0];
    return { keys: input.slice(0, part.index), column: null, held: true };
  }

  /** Input held back as a possible start of the answer (given up on: it was a key). */
  flush(): string {
    const h = this.held;
    this.held = '';
    return h;
  }
}

/** The glyphs in use: ASCII unless the locale is UTF-8 (and, in the UI, until the terminal confirmed it draws them in one column). */
export let G: Glyphs = utf8Locale() ? UNICODE_GLYPHS : ASCII_GLYPHS;

/** Chooses the glyphs (tests; a UI started with another environment than this process's). */
export function setGlyphs(g: Glyphs): void {
  G = g;
}

const ASCII_OF = new Map<string, string>(Object.values(TABLE).map(([u, a]) => [u, a]));
const NON_ASCII = /[^\x00-\x7f]/gu;

/** A line as drawn: unchanged with UTF-8 glyphs; else every non-ASCII character as its stand-in (`?` if it has none). */
export function asciiLine(line: string): string {
  if (G === UNICODE_GLYPHS) return line;
  return line.replace(NON_ASCII, (c) => ASCII_OF.get(c) ?? '?');
}
