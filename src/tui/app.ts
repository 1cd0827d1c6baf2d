// The ink app: the screen's lines (screen.ts) as one block of text,
// re-rendered when the view's version changes (useSyncExternalStore); the
// terminal's size, keys, and the timer that ages live calls and plays a
// replay.

import React, { useEffect, useState, useSyncExternalStore } from 'react';
import { Text, Transform, useInput, useStdin, useStdout } from 'ink';
import type { SessionView } from './view.js';
import type { Ui } from './ui.js';
import { keyNames } from './keys.js';
import { fits, MIN_HEIGHT, MIN_WIDTH, screenLines } from './screen.js';

export { MIN_HEIGHT, MIN_WIDTH, scrollTop } from './screen.js';

const h = React.createElement;

const placeholders: string[] = [];
/** A text of `n` one-space lines (what ink measures and lays out for a block of `n` lines). */
function placeholder(n: number): string {
  return (placeholders[n] ??= Array.from({ length: n }, () => ' ').join('\n'));
}

/**
 * Lines as one text block, each already cut to the width (nothing for ink to
 * wrap or clip). Ink lays out a placeholder of as many blank lines, and the
 * transform puts each line in its place as the frame is written: so its
 * layout only changes with the number of lines, and it never measures (nor
 * caches the measure of, for good: ink's text measure cache is never
 * emptied) the text of every frame.
 */
function Lines({ lines }: { lines: string[] }) {
  return h(Transform, { transform: (_: string, i: number) => lines[i] ?? '' }, placeholder(lines.length));
}

export function Screen({ view, ui, width, height }: { view: SessionView; ui: Ui; width: number; height: number }) {
  useSyncExternalStore(view.subscribe, view.getVersion);
  if (!fits(width, height)) {
    return h(Text, null, `ipc-trace needs a terminal of at least ${MIN_WIDTH}x${MIN_HEIGHT} (this one is ${width}x${height}); q quits`);
  }
  return h(Lines, { lines: screenLines(view, ui, width, height) });
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
