// The whole screen as lines of text (header, tab line, the focused pane
// windowed to the terminal's height, footer or prompt), each cut to the
// width: what the ink app prints (app.ts), and what the UI's thread writes
// straight to the terminal as its first frame, before ink has even loaded.
// No ink or React here.

import chalk from 'chalk';
import type { SessionView } from './view.js';
import type { Ui } from './ui.js';
import { helpLines, PaneId } from './keys.js';
import { callsHeader, callsLines, footerLine, headerLines, Line, logWindow, tabLine } from './panes.js';
import { clip, selected } from './format.js';
import { asciiLine } from './glyphs.js';

export const MIN_WIDTH = 80;
export const MIN_HEIGHT = 24;

/** The first row to show so that `sel` stays visible in `height` rows. */
export function scrollTop(sel: number, count: number, height: number): number {
  if (count <= height) return 0;
  const top = sel - Math.floor(height / 2);
  return Math.max(0, Math.min(count - height, top));
}

function callsPane(view: SessionView, height: number, width: number): string[] {
  const rows = height - 1;
  if (view.filtering) return [callsHeader(width), chalk.yellow(`  filtering: ${view.filterSrc} …`)];
  const count = view.count;
  const top = scrollTop(view.sel, count, rows);
  const lines = [callsHeader(width), ...callsLines(view, top, rows, width)];
  if (count === 0) lines.push(chalk.dim(view.filterSrc ? '  no calls match the filter' : '  no calls yet'));
  return lines;
}

function linesPane(ui: Ui, pane: Exclude<PaneId, 'calls'>, height: number): string[] {
  // The log can hold tens of thousands of lines: only the window's are made.
  const all: { length: number; slice(a: number, b: number): Line[] } = pane === 'log' ? logWindow(ui.view) : ui.lines(pane);
  if (pane === 'log' && ui.logFollow) ui.sel.log = Math.max(0, all.length - 1);
  const sel = Math.min(ui.sel[pane], Math.max(0, all.length - 1));
  ui.sel[pane] = sel;
  const top = scrollTop(sel, all.length, height);
  return all.slice(top, top + height).map((l, i) => selected(l.text, top + i === sel));
}

/** Whether the terminal is big enough for the UI. */
export function fits(width: number, height: number): boolean {
  return width >= MIN_WIDTH && height >= MIN_HEIGHT;
}

/** The screen's `height` lines (at least MIN_HEIGHT; see fits), each cut to `width` columns. */
export function screenLines(view: SessionView, ui: Ui, width: number, height: number): string[] {
  const body = height - 4;
  ui.bodyHeight = body;
  ui.width = width;
  let pane: string[];
  if (ui.help) {
    const all = helpLines(view.mode);
    ui.helpTop = Math.min(ui.helpTop, Math.max(0, all.length - (body - 1)));
    const more = all.length > body - 1 ? ` — j/k scroll, ${ui.helpTop + 1}-${Math.min(all.length, ui.helpTop + body - 1)} of ${all.length}` : '';
    pane = [chalk.bold(`Keys (any other key closes this help)${more}`), ...all.slice(ui.helpTop, ui.helpTop + body - 1)];
  } else if (view.pane === 'calls') pane = callsPane(view, body, width);
  else pane = linesPane(ui, view.pane, body);
  // The body is exactly `body` lines: the footer stays on the last one.
  pane = pane.slice(0, body);
  while (pane.length < body) pane.push('');
  return [...headerLines(view, width), tabLine(view, ui), ...pane, footerLine(view, ui)].map((l) => clip(asciiLine(l), width) || ' ');
}

/**
 * Draws frames on the terminal: each line put in its place, only the lines
 * that changed since the last frame (every line after a resize). Ink is not
 * involved: turning every cell of a frame into an object and back was most
 * of a frame's time, and ink redraws the whole screen when its output fills
 * it. The first frame (before ink has loaded) and ink's (app.ts) go through
 * the same painter.
 */
export class Painter {
  private last: string[] = [];
  private width = 0;
  private height = 0;
  private wholeAt = 0;

  /** `wholeMs`: every line is drawn again at least this often (whatever else wrote to the terminal is gone then). */
  constructor(private readonly wholeMs = 5000) {}

  /** The terminal output that turns the last frame into `lines` ('' when nothing changed). */
  frame(lines: string[], width: number, height: number): string {
    const now = performance.now();
    const all = width !== this.width || height !== this.height || now - this.wholeAt >= this.wholeMs;
    if (all) this.wholeAt = now;
    this.width = width;
    this.height = height;
    let out = all ? '\x1b[H\x1b[J' : '';
    for (let i = 0; i < height; i++) {
      const l = lines[i] ?? '';
      if (!all && this.last[i] === l) continue;
      // Erased first: a line as wide as the terminal leaves the cursor past its end, where erasing would cut it.
      out += `\x1b[${i + 1};1H\x1b[2K${l}\x1b[0m`;
    }
    this.last = lines.slice(0, height);
    return out && out + '\x1b[H';
  }
}
