// The ink components: a header, the tab line, the focused pane (windowed to
// the terminal's height: ink has no virtualised list), and the footer or
// prompt. Everything they show comes from the view and the Ui state; they
// re-render when the view's version changes (useSyncExternalStore).

import React, { useEffect, useState, useSyncExternalStore } from 'react';
import { Box, Text, Transform, useInput, useStdin, useStdout } from 'ink';
import type { SessionView } from './view.js';
import type { Ui } from './ui.js';
import { keyNames, helpLines, PaneId } from './keys.js';
import { callsHeader, callsLines, footerLine, headerLines, Line, logWindow, tabLine } from './panes.js';
import chalk from 'chalk';
import { clip, selected } from './format.js';

const h = React.createElement;

export const MIN_WIDTH = 80;
export const MIN_HEIGHT = 24;

const placeholders: string[] = [];
/** A text of `n` one-space lines (what ink measures and lays out for a block of `n` lines). */
function placeholder(n: number): string {
  return (placeholders[n] ??= Array.from({ length: n }, () => ' ').join('\n'));
}

/**
 * Lines as one text block, each cut to the width beforehand (nothing for ink
 * to wrap or clip). Ink lays out a placeholder of as many blank lines, and the
 * transform puts each line in its place as the frame is written: so its
 * layout only changes with the number of lines, and it never measures (nor
 * caches the measure of, for good: ink's text measure cache is never
 * emptied) the text of every frame.
 */
function Lines({ lines, width }: { lines: string[]; width: number }) {
  const shown = lines.map((l) => clip(l, width) || ' ');
  return h(Transform, { transform: (_: string, i: number) => shown[i] ?? '' }, placeholder(shown.length));
}

/** The first row to show so that `sel` stays visible in `height` rows. */
export function scrollTop(sel: number, count: number, height: number): number {
  if (count <= height) return 0;
  const top = sel - Math.floor(height / 2);
  return Math.max(0, Math.min(count - height, top));
}

function CallsPane({ view, height, width }: { view: SessionView; height: number; width: number }) {
  const rows = height - 1;
  if (view.filtering) return h(Lines, { lines: [callsHeader(width), chalk.yellow(`  filtering: ${view.filterSrc} …`)], width });
  const count = view.count;
  const top = scrollTop(view.sel, count, rows);
  const lines = [callsHeader(width), ...callsLines(view, top, rows, width)];
  if (count === 0) lines.push(chalk.dim(view.filterSrc ? '  no calls match the filter' : '  no calls yet'));
  return h(Lines, { lines, width });
}

function LinesPane({ ui, pane, height, width }: { ui: Ui; pane: Exclude<PaneId, 'calls'>; height: number; width: number }) {
  // The log can hold tens of thousands of lines: only the window's are made.
  const all: { length: number; slice(a: number, b: number): Line[] } = pane === 'log' ? logWindow(ui.view) : ui.lines(pane);
  if (pane === 'log' && ui.logFollow) ui.sel.log = Math.max(0, all.length - 1);
  const sel = Math.min(ui.sel[pane], Math.max(0, all.length - 1));
  ui.sel[pane] = sel;
  const top = scrollTop(sel, all.length, height);
  const lines = all.slice(top, top + height).map((l, i) => selected(l.text, top + i === sel));
  return h(Lines, { lines, width });
}

export function Screen({ view, ui, width, height }: { view: SessionView; ui: Ui; width: number; height: number }) {
  useSyncExternalStore(view.subscribe, view.getVersion);
  if (width < MIN_WIDTH || height < MIN_HEIGHT) {
    return h(Text, null, `ipc-trace needs a terminal of at least ${MIN_WIDTH}x${MIN_HEIGHT} (this one is ${width}x${height}); q quits`);
  }
  const body = height - 4;
  ui.bodyHeight = body;
  ui.width = width;
  const header = headerLines(view, width);
  let pane: React.ReactElement;
  if (ui.help) {
    const all = helpLines(view.mode);
    ui.helpTop = Math.min(ui.helpTop, Math.max(0, all.length - (body - 1)));
    const more = all.length > body - 1 ? ` — j/k scroll, ${ui.helpTop + 1}-${Math.min(all.length, ui.helpTop + body - 1)} of ${all.length}` : '';
    const lines = [chalk.bold(`Keys (any other key closes this help)${more}`), ...all.slice(ui.helpTop, ui.helpTop + body - 1)];
    pane = h(Lines, { lines, width });
  } else if (view.pane === 'calls') pane = h(CallsPane, { view, height: body, width });
  else pane = h(LinesPane, { ui, pane: view.pane, height: body, width });
  return h(
    Box,
    { flexDirection: 'column', width, height },
    h(Lines, { lines: [...header, tabLine(view, ui)], width }),
    // Every pane's lines are cut to the body's height and the width: no clipping for ink to do.
    h(Box, { flexDirection: 'column', height: body }, pane),
    h(Lines, { lines: [footerLine(view, ui)], width }),
  );
}

/** The whole app: screen size, keys, and the timer that ages live calls and plays a replay. */
export function App({ view, ui, tickMs = 250 }: { view: SessionView; ui: Ui; tickMs?: number }) {
  const { stdout } = useStdout();
  const { isRawModeSupported } = useStdin();
  const [size, setSize] = useState({ width: stdout.columns || 80, height: stdout.rows || 24 });
  useEffect(() => {
    const onResize = () => setSize({ width: stdout.columns || 80, height: stdout.rows || 24 });
    stdout.on('resize', onResize);
    return () => {
      stdout.off('resize', onResize);
    };
  }, [stdout]);
  useEffect(() => {
    const t = setInterval(() => ui.tick(tickMs), tickMs);
    return () => clearInterval(t);
  }, [ui, tickMs]);
  useInput(
    (input, key) => {
      for (const k of keyNames(input, key)) ui.key(k);
    },
    { isActive: isRawModeSupported === true },
  );
  return h(Screen, { view, ui, width: size.width, height: size.height });
}
