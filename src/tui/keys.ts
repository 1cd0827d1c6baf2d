// Keys are data: every command the terminal UI runs has a dotted id, the
// keys bound to it, the panes it applies in and its help text. The help
// screen and the footer are generated from this table; the app asks
// `commandFor(pane, key)` instead of testing keys itself.

export type PaneId = 'calls' | 'detail' | 'threads' | 'chains' | 'stats' | 'log';

export const PANES: { id: PaneId; title: string; key: string }[] = [
  { id: 'calls', title: 'Calls', key: '1' },
  { id: 'detail', title: 'Detail', key: '2' },
  { id: 'threads', title: 'Threads', key: '3' },
  { id: 'chains', title: 'Chains', key: '4' },
  { id: 'stats', title: 'Stats', key: '5' },
  { id: 'log', title: 'Log', key: '6' },
];

export interface Binding {
  command: string;
  keys: string[];
  /** Panes the command applies in; absent: everywhere. */
  panes?: PaneId[];
  /** Only in live sessions or only in replay. */
  mode?: 'live' | 'replay';
  help: string;
  /** Shown in the footer of its panes. */
  footer?: string;
}

const LISTS: PaneId[] = ['calls', 'detail', 'threads', 'chains', 'stats', 'log'];

export const BINDINGS: Binding[] = [
  { command: 'app.quit', keys: ['q', 'ctrl-c'], help: 'quit (a live session stops recording and closes the database)', footer: 'quit' },
  { command: 'app.help', keys: ['?'], help: 'this help', footer: 'help' },
  { command: 'pane.next', keys: ['tab'], help: 'next pane' },
  { command: 'pane.prev', keys: ['shift-tab'], help: 'previous pane' },
  ...PANES.map((p) => ({ command: `pane.${p.id}`, keys: [p.key], help: `${p.title} pane` })),
  { command: 'nav.down', keys: ['j', 'down'], panes: LISTS, help: 'move down' },
  { command: 'nav.up', keys: ['k', 'up'], panes: LISTS, help: 'move up' },
  { command: 'nav.pageDown', keys: ['pagedown', 'ctrl-f', 'ctrl-d'], panes: LISTS, help: 'page down' },
  { command: 'nav.pageUp', keys: ['pageup', 'ctrl-b', 'ctrl-u'], panes: LISTS, help: 'page up' },
  { command: 'nav.top', keys: ['g', 'home'], panes: LISTS, help: 'first row' },
  { command: 'nav.bottom', keys: ['G', 'end'], panes: LISTS, help: 'last row (and follow new calls in the calls pane)' },
  { command: 'calls.follow', keys: ['F'], panes: ['calls', 'log'], help: 'follow mode on/off: new calls scroll in', footer: 'follow' },
  { command: 'calls.open', keys: ['enter'], panes: ['calls', 'chains', 'threads'], help: 'open the selected call in the detail pane', footer: 'open' },
  { command: 'calls.fold', keys: ['space', 'z'], panes: ['calls'], help: 'fold/unfold the callbacks nested in the selected call', footer: 'fold' },
  { command: 'detail.toggle', keys: ['space', 'enter'], panes: ['detail'], help: 'fold/unfold the selected node; on a call line: open that call', footer: 'fold/open' },
  { command: 'detail.hex', keys: ['x'], panes: ['detail'], help: 'hex dump of the Call and Return messages on/off', footer: 'hex' },
  { command: 'detail.back', keys: ['escape', 'backspace'], panes: ['detail'], help: 'back to the calls pane', footer: 'back' },
  { command: 'filter.edit', keys: ['f'], help: 'edit the filter (calls, stats and log)', footer: 'filter' },
  { command: 'search.edit', keys: ['/'], panes: ['calls', 'log'], help: 'search', footer: 'search' },
  { command: 'search.next', keys: ['n'], panes: ['calls', 'log'], help: 'next match of the search' },
  { command: 'search.prev', keys: ['N'], panes: ['calls', 'log'], help: 'previous match of the search' },
  { command: 'stats.sort', keys: ['s'], panes: ['stats'], help: 'sort by the next column', footer: 'sort' },
  { command: 'stats.reverse', keys: ['r'], panes: ['stats'], help: 'reverse the sort order' },
  { command: 'stats.group', keys: ['o'], panes: ['stats'], help: 'per method / per executing thread / per serving process (as ipc-trace stats --by)', footer: 'group' },
  { command: 'hold.rule', keys: ['b'], mode: 'live', help: 'add an intercept rule: hold|delay|fail|disconnect EXPR (a breakpoint on the wire)', footer: 'rule' },
  { command: 'hold.release', keys: ['h'], mode: 'live', help: 'release the held message of the selected call, or the oldest held (--hold rules)', footer: 'release' },
  { command: 'hold.releaseAll', keys: ['H'], mode: 'live', help: 'release every held message' },
  { command: 'hold.step', keys: ['.'], mode: 'live', help: 'step: release the selected (or oldest) held message and hold exactly the next match of its rule' },
  { command: 'hold.fail', keys: ['!'], mode: 'live', help: 'answer the selected (or oldest) held Call with an exception instead of forwarding it' },
  { command: 'replay.next', keys: [']'], mode: 'replay', help: 'time cursor: to the next call', footer: 'step' },
  { command: 'replay.prev', keys: ['['], mode: 'replay', help: 'time cursor: to the previous call' },
  { command: 'replay.play', keys: ['p'], mode: 'replay', help: 'play/pause from the time cursor', footer: 'play' },
  { command: 'replay.faster', keys: ['+'], mode: 'replay', help: 'play faster' },
  { command: 'replay.slower', keys: ['-'], mode: 'replay', help: 'play slower' },
  { command: 'replay.jump', keys: ['t'], mode: 'replay', help: 'jump to a time (+SECONDS from the start, or an ISO time)', footer: 'time' },
  { command: 'replay.end', keys: ['e'], mode: 'replay', help: 'time cursor to the end of the recording' },
];

/** The command a key runs in a pane (the first binding that matches), if any. */
export function commandFor(pane: PaneId, key: string, mode: 'live' | 'replay'): string | undefined {
  for (const b of BINDINGS) {
    if (b.mode && b.mode !== mode) continue;
    if (b.panes && !b.panes.includes(pane)) continue;
    if (b.keys.includes(key)) return b.command;
  }
  return undefined;
}

/** Key names of one ink input event: several keys may arrive as one string. */
export function keyNames(
  input: string,
  key: {
    upArrow?: boolean;
    downArrow?: boolean;
    leftArrow?: boolean;
    rightArrow?: boolean;
    pageUp?: boolean;
    pageDown?: boolean;
    home?: boolean;
    end?: boolean;
    return?: boolean;
    escape?: boolean;
    tab?: boolean;
    backspace?: boolean;
    delete?: boolean;
    ctrl?: boolean;
    shift?: boolean;
  },
): string[] {
  if (key.upArrow) return ['up'];
  if (key.downArrow) return ['down'];
  if (key.leftArrow) return ['left'];
  if (key.rightArrow) return ['right'];
  if (key.pageUp) return ['pageup'];
  if (key.pageDown) return ['pagedown'];
  if (key.home) return ['home'];
  if (key.end) return ['end'];
  if (key.return) return ['enter'];
  if (key.escape) return ['escape'];
  if (key.tab) return [key.shift ? 'shift-tab' : 'tab'];
  if (key.backspace || key.delete) return ['backspace'];
  if (key.ctrl && input.length === 1) return [`ctrl-${input.toLowerCase()}`];
  const out: string[] = [];
  for (const ch of input) {
    if (ch === ' ') out.push('space');
    else if (ch === '\r' || ch === '\n') out.push('enter');
    else if (ch === '\t') out.push('tab');
    else if (ch === '\x7f' || ch === '\b') out.push('backspace');
    else if (ch === '\x1b') out.push('escape');
    else if (ch.charCodeAt(0) < 0x20) out.push(`ctrl-${String.fromCharCode(ch.charCodeAt(0) + 0x60)}`);
    else out.push(ch);
  }
  return out;
}

/** The help screen's lines, generated from the table. */
export function helpLines(mode: 'live' | 'replay'): string[] {
  const lines: string[] = [];
  for (const b of BINDINGS) {
    if (b.mode && b.mode !== mode) continue;
    const where = b.panes && b.panes.length < LISTS.length ? ` (${b.panes.join(', ')})` : '';
    lines.push(`${b.keys.join(', ').padEnd(24)} ${b.help}${where}`);
  }
  return lines;
}

/** The footer's keys for a pane: the bindings marked for the footer that apply there. */
export function footerKeys(pane: PaneId, mode: 'live' | 'replay'): { key: string; label: string }[] {
  const out: { key: string; label: string }[] = [];
  for (const b of BINDINGS) {
    if (!b.footer) continue;
    if (b.mode && b.mode !== mode) continue;
    if (b.panes && !b.panes.includes(pane)) continue;
    out.push({ key: b.keys[0]!, label: b.footer });
  }
  return out;
}
