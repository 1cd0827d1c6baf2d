import { describe, expect, it } from 'vitest';
import { BINDINGS, PANES, commandFor, footerKeys, helpLines, keyNames } from '../../src/tui/keys.js';

describe('key table', () => {
  it('splits several keys arriving as one input', () => {
    expect(keyNames('jjk', {})).toEqual(['j', 'j', 'k']);
    expect(keyNames('q', {})).toEqual(['q']);
    expect(keyNames('a b', {})).toEqual(['a', 'space', 'b']);
    expect(keyNames('\r', {})).toEqual(['enter']);
    expect(keyNames('', { return: true })).toEqual(['enter']);
    expect(keyNames('', { downArrow: true })).toEqual(['down']);
    expect(keyNames('', { tab: true, shift: true })).toEqual(['shift-tab']);
    expect(keyNames('c', { ctrl: true })).toEqual(['ctrl-c']);
    expect(keyNames('\x03', {})).toEqual(['ctrl-c']);
    expect(keyNames('G', { shift: true })).toEqual(['G']);
  });

  it('maps keys to commands per pane and mode', () => {
    expect(commandFor('calls', 'q', 'live')).toBe('app.quit');
    expect(commandFor('calls', 'ctrl-c', 'replay')).toBe('app.quit');
    expect(commandFor('calls', 'j', 'live')).toBe('nav.down');
    expect(commandFor('stats', 's', 'live')).toBe('stats.sort');
    expect(commandFor('calls', 's', 'live')).toBeUndefined();
    expect(commandFor('calls', 'space', 'live')).toBe('calls.fold');
    expect(commandFor('detail', 'space', 'live')).toBe('detail.toggle');
    expect(commandFor('calls', ']', 'replay')).toBe('replay.next');
    expect(commandFor('calls', ']', 'live')).toBeUndefined();
    for (const p of PANES) expect(commandFor('calls', p.key, 'live')).toBe(`pane.${p.id}`);
  });

  it('no key runs two commands in the same pane and mode', () => {
    for (const mode of ['live', 'replay'] as const) {
      for (const p of PANES) {
        const seen = new Map<string, string>();
        for (const b of BINDINGS) {
          if ((b.mode && b.mode !== mode) || (b.panes && !b.panes.includes(p.id))) continue;
          for (const k of b.keys) {
            expect(seen.get(k), `${k} in ${p.id} (${mode}): ${seen.get(k)} and ${b.command}`).toBeUndefined();
            seen.set(k, b.command);
          }
        }
      }
    }
  });

  it('generates the help and the footer from the table', () => {
    const live = helpLines('live');
    for (const b of BINDINGS.filter((x) => x.mode !== 'replay')) expect(live.some((l) => l.includes(b.help) && l.startsWith(b.keys.join(', ')))).toBe(true);
    expect(live.some((l) => l.includes('time cursor'))).toBe(false);
    expect(helpLines('replay').some((l) => l.includes('time cursor'))).toBe(true);
    expect(footerKeys('stats', 'live').map((k) => k.label)).toContain('sort');
    expect(footerKeys('calls', 'live').map((k) => k.label)).not.toContain('sort');
    expect(footerKeys('calls', 'replay').map((k) => k.key)).toContain('p');
  });
});
