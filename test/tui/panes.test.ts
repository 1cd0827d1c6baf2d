// The panes rendered with ink-testing-library over a view of a synthetic
// session (no terminal): what a user would read in each.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import React from 'react';
import { render } from 'ink-testing-library';
import { SessionReader } from '../../src/store/reader.js';
import { SessionView } from '../../src/tui/view.js';
import { Ui } from '../../src/tui/ui.js';
import { App, Screen } from '../../src/tui/app.js';
import { Painter } from '../../src/tui/screen.js';
import { G, setGlyphs, UNICODE_GLYPHS } from '../../src/tui/glyphs.js';
import { writeSyntheticSession } from '../../src/bench/synthetic-session.js';

let dir: string;
let reader: SessionReader;

// The UTF-8 glyphs, whatever this machine's locale (the ASCII ones are tested in glyphs.test.ts).
const glyphs = G;
beforeAll(() => {
  setGlyphs(UNICODE_GLYPHS);
  dir = mkdtempSync(join(tmpdir(), 'ipc-trace-panes-'));
  writeSyntheticSession(join(dir, 's.sqlite'), { calls: 400, seed: 11 });
  reader = SessionReader.open(join(dir, 's.sqlite'));
});
afterAll(() => {
  setGlyphs(glyphs);
  reader.close();
  rmSync(dir, { recursive: true, force: true });
});

const strip = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');

/** The terminal's lines after the painter's writes (screen.ts): the screen cleared, lines put in their places. */
function terminal(writes: string[], height: number): string[] {
  const lines: string[] = Array(height).fill('');
  for (const w of writes) {
    if (w.startsWith('\x1b[H\x1b[J')) lines.fill('');
    for (const m of w.matchAll(/\x1b\[(\d+);1H\x1b\[2K(.*?)\x1b\[0m(?=\x1b\[\d+;1H|\x1b\[H$)/gs)) lines[Number(m[1]) - 1] = m[2]!;
  }
  return lines;
}

function screen(width = 120, height = 30) {
  const view = new SessionView({ mode: 'replay', reader, stuckMs: 5000 });
  const ui = new Ui(view, () => {});
  const r = render(React.createElement(Screen, { view, ui, width, height }));
  const frame = () => {
    r.rerender(React.createElement(Screen, { view, ui, width, height }));
    return strip(terminal(r.frames, height).join('\n'));
  };
  return { view, ui, frame, r };
}

describe('panes', () => {
  it('calls pane: header, column titles, the last calls, the footer', () => {
    const { frame, view } = screen();
    const f = frame();
    const lines = f.split('\n');
    expect(lines.length).toBe(30);
    expect(lines[0]).toContain('REPLAY');
    expect(lines[0]).toContain('node[1000] ⇄ wallet[2000]');
    expect(lines[0]).toContain('400 calls');
    expect(lines[3]).toMatch(/time +c# +caller +method +target +executor +stat +latency/);
    const last = view.call(view.selectedId()!)!;
    expect(f).toContain(last.title);
    expect(lines[29]).toContain('q quit');
    expect(lines[29]).toContain('? help');
  });

  it('shows the minimum size instead of a broken layout', () => {
    const { frame } = screen(60, 20);
    expect(frame()).toContain('needs a terminal of at least 80x24');
    expect(frame()).toContain('(this one is 60x20); q quits');
  });

  it('detail pane: params as a tree with the hash as hex and in display order; hex dump key', () => {
    const { frame, ui, view } = screen(120, 60);
    ui.key('enter');
    expect(view.pane).toBe('detail');
    const f = frame();
    const c = view.call(view.detailCall!)!;
    expect(f).toContain(`call ${c.id}`);
    expect(f).toContain('params');
    expect(f).toMatch(/▾ context/);
    expect(f).toMatch(/blockHash = <32 bytes> [0-9a-f]{32}…/);
    expect(f).toMatch(/display order = [0-9a-f]{64}/);
    expect(f).toContain('height = ');
    expect(f).toContain('sent');
  });

  it('threads, chains, stats and log panes', async () => {
    const { frame, ui, view } = screen(120, 40);
    ui.key('3');
    let f = frame();
    expect(f).toContain('bitcoin-node-1000');
    expect(f).toContain('{bitcoin-wallet-2000 (from bitcoin-node-1000/b-httpworker.0-1001)}');
    ui.key('4');
    frame();
    await view.settled();
    f = frame();
    // The `ipc-trace chains` report at the time cursor, every chain listed.
    expect(f).toMatch(/Found 1 IPC deadlock|No deadlock; \d+ outstanding calls?/);
    expect(f).toMatch(/at \d{4}-\d\d-\d\dT[\d:.]+Z \(the time cursor\)/);
    expect(f).toMatch(/Chains:/);
    ui.key('5');
    f = frame();
    expect(f).toMatch(/method +calls↓ +errors +flight +p50 +p90 +p99 +max/);
    ui.key('6');
    view.addLog(['2026-11-30T12:00:00.000000Z c1 - IPC wire connect synthetic'], true);
    f = frame();
    expect(f).toContain('IPC wire connect synthetic');
    ui.key('?');
    f = frame();
    expect(f).toContain('Keys (any other key closes this help)');
    expect(f).toContain('fold/unfold the callbacks nested in the selected call');
  });

  it('filter bar: invalid input shown as typed, never a crash', () => {
    const { frame, ui } = screen();
    ui.key('f');
    for (const k of 'status:nope'.split('')) ui.key(k);
    expect(frame().split('\n').at(-1)).toContain('filter: status:nope');
    expect(frame().split('\n').at(-1)).toContain('✗ status: one of pending');
    ui.key('escape');
    expect(frame().split('\n').at(-1)).toContain('q quit');
  });
});

describe('app', () => {
  it('reads keys from stdin, several at once', async () => {
    const view = new SessionView({ mode: 'replay', reader, stuckMs: 5000 });
    let quit = 0;
    const ui = new Ui(view, () => quit++);
    const r = render(React.createElement(App, { view, ui, tickMs: 50 }));
    await new Promise((res) => setTimeout(res, 50));
    const before = view.sel;
    r.stdin.write('kkk');
    await new Promise((res) => setTimeout(res, 50));
    expect(view.sel).toBe(before - 3);
    r.stdin.write('5');
    await new Promise((res) => setTimeout(res, 50));
    expect(view.pane).toBe('stats');
    r.stdin.write('q');
    await new Promise((res) => setTimeout(res, 50));
    expect(quit).toBe(1);
    r.unmount();
  });
});

describe('painter', () => {
  it('writes only the lines that changed, and every line after a resize', () => {
    const p = new Painter();
    const a = p.frame(['one', 'two', 'three'], 80, 3);
    expect(terminal([a], 3)).toEqual(['one', 'two', 'three']);
    const b = p.frame(['one', 'TWO', 'three'], 80, 3);
    expect(b).toContain('TWO');
    expect(b).not.toContain('one');
    expect(b).not.toContain('three');
    expect(terminal([a, b], 3)).toEqual(['one', 'TWO', 'three']);
    expect(p.frame(['one', 'TWO', 'three'], 80, 3)).toBe('');
    const c = p.frame(['one', 'TWO', 'three'], 100, 3);
    expect(c).toContain('one');
    expect(terminal([a, b, c], 3)).toEqual(['one', 'TWO', 'three']);
  });

  it('draws every line again once in a while (what others wrote to the terminal goes)', async () => {
    const p = new Painter(20);
    p.frame(['one', 'two'], 80, 2);
    expect(p.frame(['one', 'two'], 80, 2)).toBe('');
    await new Promise((r) => setTimeout(r, 30));
    expect(terminal([p.frame(['one', 'two'], 80, 2)], 2)).toEqual(['one', 'two']);
  });
});
