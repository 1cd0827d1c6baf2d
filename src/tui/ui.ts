// The terminal UI's own state (help shown, the prompt being typed, the
// selected line of each pane, the detail pane's folds) and the named
// commands keys run (keys.ts maps keys to command ids). No ink here: tests
// drive it with key names.

import { heldRequest, ruleError } from './held.js';
import type { SessionView } from './view.js';
import { commandFor, PaneId, PANES } from './keys.js';
import { parseFilter } from '../filter/parse.js';
import { chainsLines, detailPaneLines, Line, logLines, statsLines, threadsLines } from './panes.js';
import { STATS_BY } from '../stats/stats.js';

export type InputKind = 'filter' | 'search' | 'time' | 'rule';

export class Ui {
  help = false;
  /** First help line shown (the help scrolls on small terminals). */
  helpTop = 0;
  input: { kind: InputKind; text: string; error?: { error: string; pos: number } } | null = null;
  searchText = '';
  message = '';
  /** Selected line of the line-list panes. */
  sel: Record<Exclude<PaneId, 'calls'>, number> = { detail: 0, threads: 0, chains: 0, stats: 0, log: 0 };
  logFollow = true;
  readonly detailToggled = new Set<string>();
  detailHex = false;
  /** Rows the pane body has (set by the renderer), for paging. */
  bodyHeight = 20;
  width = 80;

  constructor(
    readonly view: SessionView,
    private readonly onQuit: () => void,
  ) {}

  /** The lines of a line-list pane. */
  lines(pane: Exclude<PaneId, 'calls'>): Line[] {
    switch (pane) {
      case 'detail':
        return detailPaneLines(this.view, this);
      case 'threads':
        return threadsLines(this.view);
      case 'chains':
        return chainsLines(this.view);
      case 'stats':
        return statsLines(this.view, this.width);
      case 'log':
        return logLines(this.view);
    }
  }

  /** Handles one key (a name from keyNames). */
  key(k: string): void {
    const v = this.view;
    if (this.input) return this.inputKey(k);
    this.message = '';
    if (this.help) {
      // The help scrolls with the movement keys; any other key closes it.
      const step: Record<string, number> = { j: 1, down: 1, k: -1, up: -1, space: this.bodyHeight - 2, pagedown: this.bodyHeight - 2, pageup: 2 - this.bodyHeight };
      if (k === 'q' || k === 'ctrl-c') return this.onQuit();
      if (step[k] !== undefined) this.helpTop = Math.max(0, this.helpTop + step[k]);
      else this.help = false;
      v.changed();
      return;
    }
    const cmd = commandFor(v.pane, k, v.mode);
    if (cmd) this.run(cmd);
  }

  private inputKey(k: string): void {
    const inp = this.input!;
    const v = this.view;
    if (k === 'escape' || k === 'ctrl-c') {
      this.input = null;
    } else if (k === 'enter') {
      if (inp.kind === 'filter') {
        const err = v.setFilter(inp.text.trim());
        if (err) inp.error = err;
        else this.input = null;
      } else if (inp.kind === 'search') {
        this.searchText = inp.text.trim();
        const r = parseFilter(this.searchText);
        if (!r.ok) inp.error = { error: r.error, pos: r.pos };
        else {
          this.input = null;
          this.searchNext(true);
        }
      } else if (inp.kind === 'rule') {
        const err = ruleError(inp.text);
        if (err) inp.error = { error: err, pos: 0 };
        else {
          this.input = null;
          v.interceptRequest?.(`rule ${inp.text.trim()}`);
        }
      } else {
        const t = this.parseTime(inp.text.trim());
        if (t === null) inp.error = { error: 'not a time: +SECONDS from the start, or an ISO time', pos: 0 };
        else {
          this.input = null;
          v.playing = false;
          v.setCursor(t);
        }
      }
    } else if (k === 'backspace') {
      inp.text = inp.text.slice(0, -1);
    } else if (k === 'space') {
      inp.text += ' ';
    } else if ([...k].length === 1) {
      inp.text += k;
    }
    if (this.input?.kind === 'rule') {
      if (k !== 'enter') this.input.error = undefined;
    } else if (this.input && this.input.kind !== 'time' && k !== 'enter') {
      const r = parseFilter(this.input.text);
      this.input.error = r.ok ? undefined : { error: r.error, pos: r.pos };
    }
    v.changed();
  }

  private parseTime(s: string): number | null {
    const v = this.view;
    if (/^\+\d+(\.\d+)?$/.test(s)) return v.start === null ? null : v.start + Number(s.slice(1)) * 1000;
    const t = Date.parse(s);
    return Number.isNaN(t) ? null : t;
  }

  private searchNext(forward: boolean): void {
    const v = this.view;
    if (!this.searchText) {
      this.message = 'no search yet (/)';
      return;
    }
    if (v.pane === 'log') {
      const lines = this.lines('log');
      const r = parseFilter(this.searchText);
      if (!r.ok) return;
      const needle = this.searchText.toLowerCase();
      const n = lines.length;
      for (let k = 1; k <= n; k++) {
        const i = (this.sel.log + (forward ? k : -k) + 2 * n) % n;
        if (lines[i]!.text.toLowerCase().includes(needle)) {
          this.sel.log = i;
          this.logFollow = false;
          return;
        }
      }
      this.message = `no match for ${this.searchText}`;
      return;
    }
    const what = this.searchText;
    void v.search(what, forward).then((found) => {
      if (!found) {
        this.message = `no match for ${what}`;
        v.changed();
      }
    });
  }

  /** Runs a named command (see BINDINGS). */
  run(cmd: string): void {
    const v = this.view;
    const pane = v.pane;
    const page = Math.max(1, this.bodyHeight - 2);
    const lineMove = (p: Exclude<PaneId, 'calls'>, d: number | 'top' | 'bottom') => {
      const n = this.lines(p).length;
      if (d === 'top') this.sel[p] = 0;
      else if (d === 'bottom') this.sel[p] = Math.max(0, n - 1);
      else this.sel[p] = Math.max(0, Math.min(n - 1, this.sel[p] + d));
      if (p === 'log') this.logFollow = this.sel.log >= n - 1;
      v.changed();
    };
    const move = (d: number | 'top' | 'bottom') => {
      if (pane === 'calls') {
        if (d === 'top') v.top();
        else if (d === 'bottom') v.bottom();
        else v.move(d);
      } else lineMove(pane, d);
    };
    switch (cmd) {
      case 'app.quit':
        return this.onQuit();
      case 'hold.rule':
        if (!v.interceptRequest) v.addLog(['ipc-trace: rules can be added to a session started with --intercept (or any rule)'], v.logComplete);
        else this.input = { kind: 'rule', text: 'hold ' };
        break;
      case 'hold.release':
      case 'hold.releaseAll':
      case 'hold.step':
      case 'hold.fail': {
        const id = v.selectedId();
        const req = heldRequest(cmd, v.held, pane === 'calls' && id !== undefined ? v.call(id) : undefined);
        if (!v.interceptRequest) v.addLog(['ipc-trace: no intercept rules in this session (--hold, --delay, --fail, --disconnect)'], v.logComplete);
        else if (req) v.interceptRequest(req);
        break;
      }
      case 'app.help':
        this.help = true;
        this.helpTop = 0;
        break;
      case 'pane.next':
        v.cyclePane(1);
        break;
      case 'pane.prev':
        v.cyclePane(-1);
        break;
      case 'nav.down':
        return move(1);
      case 'nav.up':
        return move(-1);
      case 'nav.pageDown':
        return move(page);
      case 'nav.pageUp':
        return move(-page);
      case 'nav.top':
        return move('top');
      case 'nav.bottom':
        return move('bottom');
      case 'calls.follow':
        if (pane === 'log') {
          this.logFollow = !this.logFollow;
          break;
        }
        v.toggleFollow();
        break;
      case 'calls.open': {
        if (pane === 'calls') {
          this.resetDetail();
          v.openSelected();
          break;
        }
        const l = this.lines(pane as Exclude<PaneId, 'calls'>)[this.sel[pane as Exclude<PaneId, 'calls'>]];
        if (l?.call !== undefined) this.openCall(l.call);
        break;
      }
      case 'calls.fold':
        v.toggleFold();
        break;
      case 'detail.toggle': {
        const l = this.lines('detail')[this.sel.detail];
        if (l?.node) {
          if (this.detailToggled.has(l.node)) this.detailToggled.delete(l.node);
          else this.detailToggled.add(l.node);
        } else if (l?.call !== undefined) this.openCall(l.call);
        break;
      }
      case 'detail.hex':
        this.detailHex = !this.detailHex;
        break;
      case 'detail.back':
        v.setPane('calls');
        break;
      case 'filter.edit':
        this.input = { kind: 'filter', text: v.filterSrc };
        v.filterSoon();
        break;
      case 'search.edit':
        this.input = { kind: 'search', text: this.searchText };
        break;
      case 'search.next':
        this.searchNext(true);
        break;
      case 'search.prev':
        this.searchNext(false);
        break;
      case 'stats.sort':
        v.cycleStatsSort();
        break;
      case 'stats.reverse':
        v.statsDesc = !v.statsDesc;
        break;
      case 'stats.group': {
        v.statsBy = STATS_BY[(STATS_BY.indexOf(v.statsBy) + 1) % STATS_BY.length]!;
        break;
      }
      case 'replay.next':
        v.playing = false;
        v.step(true);
        break;
      case 'replay.prev':
        v.playing = false;
        v.step(false);
        break;
      case 'replay.play':
        if (!v.playing && v.end !== null && v.cursor >= v.end && v.start !== null) v.setCursor(v.start);
        v.playing = !v.playing;
        if (v.playing) v.follow = true;
        break;
      case 'replay.faster':
        v.speed = Math.min(1000, v.speed * 2);
        break;
      case 'replay.slower':
        v.speed = Math.max(1 / 16, v.speed / 2);
        break;
      case 'replay.jump':
        this.input = { kind: 'time', text: '' };
        break;
      case 'replay.end':
        v.playing = false;
        v.setCursor(v.end ?? v.cursor);
        v.bottom();
        break;
      default: {
        const p = PANES.find((x) => `pane.${x.id}` === cmd);
        if (p) v.setPane(p.id);
      }
    }
    v.changed();
  }

  private resetDetail(): void {
    this.sel.detail = 0;
    this.detailToggled.clear();
  }

  /** Opens a call in the detail pane (and selects it in the calls list). */
  openCall(id: number): void {
    this.resetDetail();
    this.view.focusCall(id);
    this.view.setPane('detail');
  }

  /** Advances playback by `ms` of wall time (called by the renderer's timer). */
  tick(ms: number): void {
    const v = this.view;
    if (v.mode === 'replay' && v.playing) {
      const next = v.cursor + ms * v.speed;
      if (v.end !== null && next >= v.end) {
        v.setCursor(v.end);
        v.playing = false;
      } else v.setCursor(next);
    } else if (v.mode === 'live') v.changed();
  }
}
