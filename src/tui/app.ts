// The ink app: the screen's lines (screen.ts), drawn when the view's
// version changes (useSyncExternalStore) by the painter (only the lines that
// changed); the terminal's size, keys, and the timer that ages live calls and
// plays a replay.

import React, { useEffect, useLayoutEffect, useRef, useState, useSyncExternalStore } from 'react';
import { useInput, useStdin, useStdout } from 'ink';
import type { SessionView } from './view.js';
import type { Ui } from './ui.js';
import { keyNames } from './keys.js';
import { clip } from './format.js';
import { fits, MIN_HEIGHT, MIN_WIDTH, Painter, screenLines } from './screen.js';

export { MIN_HEIGHT, MIN_WIDTH, scrollTop } from './screen.js';

const h = React.createElement;

/**
 * The screen: its lines drawn on the terminal (ink's stdout) by the painter,
 * only those that changed; ink's own output is empty, so ink neither lays
 * out nor writes the frame (it runs the keys, the size and React's updates).
 */
export function Screen({ view, ui, width, height, painter }: { view: SessionView; ui: Ui; width: number; height: number; painter?: Painter }) {
  useSyncExternalStore(view.subscribe, view.getVersion);
  const { stdout } = useStdout();
  const own = useRef<Painter | null>(null);
  const p = painter ?? (own.current ??= new Painter());
  const lines = fits(width, height)
    ? screenLines(view, ui, width, height)
    : [`ipc-trace needs a terminal of at least ${MIN_WIDTH}x${MIN_HEIGHT}`, `(this one is ${width}x${height}); q quits`].map((l) => clip(l, width));
  useLayoutEffect(() => {
    const out = p.frame(lines, width, height);
    if (out) stdout.write(out);
  });
  return null;
}

/** The whole app: screen size, keys, and the timer that ages live calls and plays a replay. */
export function App({ view, ui, tickMs = 250, painter }: { view: SessionView; ui: Ui; tickMs?: number; painter?: Painter }) {
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
  return h(Screen, { view, ui, width: size.width, height: size.height, painter });
}
