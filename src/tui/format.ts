// Small text helpers of the terminal UI: short thread and process names,
// fixed-width columns, times, sizes, and the colours of statuses and
// latencies (chalk; NO_COLOR turns colour off, see run.ts).

import chalk from 'chalk';
import type { CallStatus } from '../session/records.js';
import { formatDuration, parseThreadLabel } from '../mp/concepts.js';
import { G } from './glyphs.js';

/** `bitcoin-node-7749` → `node`. */
export function shortProcess(label: string): string {
  return label.replace(/^bitcoin-/, '').replace(/-\d+$/, '');
}

/** A thread label in a few characters: `node/b-httpworker.3`, `wallet(b-httpworker.3)`, `wallet(loop)`. */
export function shortThread(label: string): string {
  const strip = (s: string) => s.replace(/^bitcoin-/, '').replace(/-\d+(?=\/|$| )/g, '');
  const t = parseThreadLabel(label);
  if (t.from !== null) return `${strip(t.process)}(${strip(parseThreadLabel(t.from).thread ?? t.from).replace(/-\d+$/, '')})`;
  if (t.loop) return `${strip(t.process)}(loop)`;
  if (t.thread === null) return strip(label);
  return `${strip(t.process)}/${t.thread.replace(/-\d+$/, '')}`;
}

/** Plain text cut or padded to exactly `w` columns. */
export function fit(s: string, w: number, right = false): string {
  if (w <= 0) return '';
  if (s.length > w) return w <= G.ellipsis.length ? G.ellipsis.slice(0, w) : s.slice(0, w - G.ellipsis.length) + G.ellipsis;
  return right ? s.padStart(w) : s.padEnd(w);
}

/** HH:MM:SS.mmm in UTC (the log's times are UTC too). */
export function clock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 23);
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GB`;
}

export const duration = (ms: number) => formatDuration(ms, true);

export const STATUS_SHORT: Record<CallStatus, string> = {
  pending: 'wait',
  returned: 'ok',
  exception: 'EXC',
  canceled: 'cncl',
  disconnected: 'DISC',
};

export function statusColor(s: CallStatus): (t: string) => string {
  switch (s) {
    case 'pending':
      return chalk.yellow;
    case 'returned':
      return chalk.green;
    case 'exception':
      return chalk.red;
    case 'canceled':
      return chalk.magenta;
    case 'disconnected':
      return chalk.redBright;
  }
}

/** Latency colour: fast dim, slow yellow, very slow or stuck red. */
export function latencyColor(ms: number, stuckMs: number): (t: string) => string {
  if (ms >= stuckMs) return chalk.red.bold;
  if (ms >= 100) return chalk.yellow;
  if (ms >= 10) return (t: string) => t;
  return chalk.dim;
}

/** The selected row: reversed, and marked in the gutter (visible without colour, NO_COLOR). */
export function selected(text: string, isSelected: boolean): string {
  return isSelected ? chalk.inverse(G.selected + text) : ' ' + text;
}

/**
 * A line cut to `width` visible columns, escapes kept (a cut line ends with a
 * reset and `…`, or `...`: glyphs.ts). Every line of the screen is cut here,
 * so that none wraps on the terminal.
 */
export function clip(line: string, width: number): string {
  let visible = 0;
  let i = 0;
  const n = line.length;
  while (i < n) {
    if (line.charCodeAt(i) === 0x1b) {
      const m = line.indexOf('m', i);
      if (m < 0) break;
      i = m + 1;
      continue;
    }
    if (visible === width - G.ellipsis.length) {
      // Do more visible characters follow than the ellipsis would take the place of?
      let rest = 0;
      for (let j = i; j < n && rest <= G.ellipsis.length; j++) {
        if (line.charCodeAt(j) === 0x1b) {
          const m = line.indexOf('m', j);
          j = m < 0 ? n : m;
        } else rest++;
      }
      if (rest <= G.ellipsis.length) return line;
      return line.slice(0, i) + G.ellipsis + '\x1b[0m';
    }
    visible++;
    i++;
  }
  return line;
}
