// Each pane's content as lines (text with colour, and the call a line
// stands for), computed from the view; the ink components only window and
// print them. The header and the footer too.

import { callAge } from '../session/row-index.js';
import { heldBehind, heldFor, heldLines, heldSummary } from './held.js';
import chalk from 'chalk';
import type { SessionView } from './view.js';
import type { Ui } from './ui.js';
import { PANES, footerKeys } from './keys.js';
import { bytes, clock, duration, fit, latencyColor, selected, shortProcess, shortThread, STATUS_SHORT, statusColor } from './format.js';
import { detailLines } from './detail.js';
import { formatChains, verdict, ChainNode } from '../chains/chains.js';
import { isoTime } from '../log/ipclog.js';
import { G } from './glyphs.js';

export interface Line {
  text: string;
  call?: number;
  node?: string;
}

export function headerLines(view: SessionView, width: number): string[] {
  const procs = [...view.processes.values()].map((p) => shortProcess(p.label) + (p.pid ? `[${p.pid}]` : ''));
  const conns = [...view.connections.values()];
  const open = conns.filter((c) => c.closed === null).length;
  const at = view.at();
  const report = view.chains();
  let count: number;
  let oldest = 0;
  if (view.mode === 'live') {
    const o = view.outstanding();
    count = o.count;
    oldest = o.oldestSent !== null ? at - o.oldestSent : 0;
  } else {
    // At the cursor: the chains report (calls a disconnect interrupted are not outstanding).
    count = report.outstanding;
    const walk = (n: ChainNode) => {
      if (!n.interrupted) oldest = Math.max(oldest, n.ageMs);
      n.children.forEach(walk);
    };
    report.chains.forEach(walk);
  }
  const mode = view.mode === 'live' ? chalk.bgGreen.black(' LIVE ') : chalk.bgBlue.white(' REPLAY ');
  const outstanding = `${count} outstanding${count ? `, oldest ${duration(oldest)}` : ''}`;
  const gaps = view.gapBytes();
  // Most important first: a narrow terminal cuts the end of the line.
  const l1 = [
    `${mode} ${chalk.bold('ipc-trace')}`,
    `${procs.join(' ⇄ ') || 'no processes yet'}`,
    oldest >= view.stuckMs ? chalk.red.bold(outstanding) : count ? chalk.yellow(outstanding) : outstanding,
    `${view.callsPerSecond().toFixed(1)} calls/s`,
    `${view.totalCalls} calls`,
    `${conns.length} conn${conns.length === 1 ? '' : 's'}${open !== conns.length ? ` (${open} open)` : ''}`,
  ].join(chalk.dim(' │ '));
  const parts: string[] = [];
  if (view.mode === 'replay') {
    const rel = view.start !== null ? ` +${((view.cursor - view.start) / 1000).toFixed(3)}s/${(((view.end ?? view.cursor) - view.start) / 1000).toFixed(3)}s` : '';
    parts.push(`${view.playing ? chalk.green('▶') : '⏸'} ${view.speed}x ${clock(view.cursor)}${rel}`);
  }
  if (report.deadlocks.length) {
    // "Found 1 IPC deadlock", and the threads of its cycle, waiter by waiter.
    const d = report.deadlocks[0]!;
    const cycle = d.steps.map((st) => shortThread(st.waiter.label));
    parts.push(chalk.bgRed.white.bold(` ${verdict(report)} `) + chalk.red(` ${cycle.join(' → ')} → ${cycle[0]}${d.behind.length ? `, ${d.behind.length} more blocked behind` : ''} (4: Chains)`));
  } else if (report.stuck.length) {
    const st = report.stuck[0]!;
    parts.push(chalk.red(`STUCK ${st.title} [call ${st.call}] ${duration(st.ageMs)}: ${st.blocked.thread.processLabel} {${shortThread(st.blocked.thread.label)}}`));
  }
  const held = heldSummary(view.held, performance.timeOrigin + performance.now());
  if (held) parts.unshift(held);
  parts.push(chalk.dim(`db ${view.dbPath} ${bytes(view.dbSize())}`), gaps ? chalk.red(`${bytes(gaps)} not recorded (gaps)`) : chalk.dim('no gaps'));
  const l2 = parts.join(chalk.dim(' │ '));
  return [l1, l2].map((l) => l.slice(0, width * 4));
}

export function tabLine(view: SessionView, ui: Ui): string {
  const tabs = PANES.map((p) => (p.id === view.pane ? chalk.inverse(`[${p.key} ${p.title}]`) : ` ${chalk.dim(p.key)} ${p.title} `)).join('');
  const filter = view.filterSrc ? chalk.cyan(` filter: ${view.filterSrc}`) : chalk.dim(' no filter (f)');
  const follow = view.pane === 'calls' ? (view.follow ? chalk.green(' follow') : chalk.dim(' paused')) : '';
  // A filter's matches show as they are found; the count follows (as Wireshark does), and says when it is still running.
  const busy = !view.complete
    ? chalk.yellow(' reading the index…')
    : view.filtering
      ? chalk.yellow(' filtering…')
      : view.counting
        ? chalk.yellow(` ${view.matchCount} so far, counting…`)
        : view.filterSrc
          ? chalk.cyan(` ${view.matchCount} of ${view.totalCalls} calls`)
          : '';
  return `${tabs}${filter}${follow}${busy}${ui.message ? chalk.yellow(`  ${ui.message}`) : ''}`;
}

export function footerLine(view: SessionView, ui: Ui): string {
  if (ui.input) {
    const label = ui.input.kind === 'filter' ? 'filter' : ui.input.kind === 'search' ? 'search' : ui.input.kind === 'rule' ? 'rule' : 'time (+SECONDS or ISO)';
    const err = ui.input.error
      ? chalk.red(`  ✗ ${ui.input.error.error}${ui.input.kind === 'rule' ? '' : ` (at ${ui.input.error.pos + 1})`}`)
      : ui.input.kind !== 'time' && ui.input.kind !== 'rule' && ui.input.text ? chalk.green('  ✓') : '';
    return `${chalk.bold(label + ':')} ${ui.input.text}${chalk.inverse(' ')}${err}`;
  }
  const keys = footerKeys(view.pane, view.mode).map((k) => `${chalk.bold(k.key)} ${k.label}`);
  return [...keys, `${chalk.bold('1-6')} panes`].join('  ');
}

export function callsHeader(width: number): string {
  const c = callColumns(width);
  return (
    ' ' +
    chalk.dim.underline(
      fit('time', c.time) + ' ' + fit('c#', c.conn) + ' ' + fit('caller', c.thread) + ' ' + fit('method', c.method) + ' ' + (c.target ? fit('target', c.target) + ' ' : '') +
        fit('executor', c.thread) + ' ' + fit('stat', 4) + ' ' + fit('latency', c.latency, true),
    )
  );
}

/** Column widths: narrow terminals drop the target and the hour, and give the method what is left. */
function callColumns(width: number) {
  const narrow = width < 100;
  const time = narrow ? 9 : 12;
  const conn = narrow ? 2 : 3;
  const latency = narrow ? 7 : 8;
  const thread = width >= 120 ? 24 : width >= 100 ? 20 : 14;
  const target = width >= 110 ? 12 : 0;
  const method = Math.max(12, width - 1 - time - conn - thread * 2 - (target ? target + 1 : 0) - 4 - latency - 6);
  return { time, conn, thread, target, method, latency };
}

export function callsLines(view: SessionView, start: number, height: number, width: number): string[] {
  const cols = callColumns(width);
  const at = view.at();
  return view.window(start, height).map(({ row: c, depth, hasKids, folded, index }) => {
    const lat = callAge(c, at, view.connections.get(c.conn)?.closed);
    const fold = hasKids ? (folded ? G.folded : G.unfolded) : ' ';
    const method = `${'  '.repeat(Math.min(depth, 6))}${depth ? G.nested : ''}${fold}${c.title}`;
    const text =
      chalk.dim(clock(c.sent).slice(12 - cols.time)) + ' ' +
      fit(`c${c.conn}`, cols.conn) + ' ' +
      fit(shortThread(view.threadLabel(c.caller)), cols.thread) + ' ' +
      fit(method, cols.method) + ' ' +
      (cols.target ? chalk.dim(fit(c.target, cols.target)) + ' ' : '') +
      fit(shortThread(view.threadLabel(c.executor)), cols.thread) + ' ' +
      (heldFor(view.held, c) ? chalk.bgMagenta.white('held') : statusColor(c.status)(fit(STATUS_SHORT[c.status], 4))) + ' ' +
      latencyColor(lat, view.stuckMs)(fit(duration(lat), cols.latency, true));
    return selected(text, index === view.sel);
  });
}

export function detailPaneLines(view: SessionView, ui: Ui): Line[] {
  if (view.detailCall === null) return [{ text: chalk.dim('no call selected: pick one in the calls pane (1) and press enter') }];
  return detailLines(view, view.detailCall, ui.detailToggled, ui.detailHex);
}

export function threadsLines(view: SessionView): Line[] {
  const report = view.chains();
  const stacks = new Map(report.threads.filter((t) => t.thread.thread !== null).map((t) => [t.thread.thread!, t]));
  const L: Line[] = [];
  const byProcess = new Map<number, { id: number; label: string }[]>();
  for (const t of view.threads.values()) {
    const l = byProcess.get(t.process) ?? [];
    l.push({ id: t.id, label: t.label });
    byProcess.set(t.process, l);
  }
  const line = (label: string, s: (typeof report.threads)[number] | undefined) => {
    L.push({ text: `  ${s ? chalk.yellow('●') : chalk.dim('○')} {${label}}${s ? '' : chalk.dim('  idle')}` });
    for (const e of s?.stack ?? []) {
      const as = e.as === 'waiting' ? chalk.cyan('waiting on ') : e.as === 'queued' ? chalk.magenta('queued     ') : chalk.green('executing  ');
      L.push({ text: `      ${as} ${e.title} [call ${e.call}] ${latencyColor(e.ageMs, view.stuckMs)(duration(e.ageMs))}`, call: e.call });
    }
  };
  for (const [p, threads] of [...byProcess].sort((a, b) => a[0] - b[0])) {
    L.push({ text: chalk.bold(view.processLabel(p)) });
    for (const t of threads.sort((a, b) => a.label.localeCompare(b.label))) line(t.label, stacks.get(t.id));
  }
  // Threads the session never named (calls without a Context).
  for (const t of report.threads) if (t.thread.thread === null) line(t.thread.label, t);
  if (!L.length) L.push({ text: chalk.dim('no threads yet') });
  return L;
}

/**
 * The `ipc-trace chains` report, from the same formatter (with every chain and
 * thread stack); each line naming a call opens it.
 */
export function chainsLines(view: SessionView): Line[] {
  const r = view.chains();
  const when = view.mode === 'live' ? `${isoTime(r.at)} (now)` : `${isoTime(r.at)} (the time cursor)`;
  const text = formatChains(r, { when, threads: true }).replace(/\n$/, '').split('\n');
  // What ipc-trace itself holds (--hold rules) comes first; calls it holds, or that wait behind a hold, are marked.
  const held: Line[] = heldLines(view.held, performance.timeOrigin + performance.now()).map((l) => ({ text: chalk.magenta(l) }));
  return [
    ...held,
    ...text.map((t, i) => {
      const m = /\[call (\d+)/.exec(t);
      const id = m ? Number(m[1]) : undefined;
      const c = id !== undefined ? view.call(id) : undefined;
      const behind = c ? heldBehind(view.held, c) : undefined;
      const mark = c && heldFor(view.held, c) ? chalk.magenta.bold('  HELD by ipc-trace') : behind ? chalk.magenta(`  queued behind held #${behind.id}`) : '';
      const styled = i === 0 && r.deadlocks.length ? chalk.bgRed.white.bold(` ${t} `) : /^(Deadlock|  Attach)/.test(t) ? chalk.red(t) : /STUCK/.test(t) ? chalk.red(t) : t;
      return { text: styled + mark, call: id };
    }),
  ];
}

export function statsLines(view: SessionView, width: number): Line[] {
  const rows = view.stats();
  const keyW = Math.max(20, width - 6 * 7 - 9 - 8);
  const arrow = (c: string) => (view.statsSort === c ? (view.statsDesc ? G.down : G.up) : '');
  const col = (name: string, id: string, w: number) => fit(name + arrow(id), w, true);
  const L: Line[] = [];
  L.push({
    text: chalk.dim.underline(
      fit(`${view.statsBy === 'method' ? 'method' : view.statsBy === 'thread' ? 'executing thread' : 'serving process'}${arrow('key')}`, keyW) + col('calls', 'calls', 7) + col('errors', 'errors', 7) + col('flight', 'inFlight', 7) + col('p50', 'p50', 9) + col('p90', 'p90', 9) + col('p99', 'p99', 9) + col('max', 'max', 9),
    ),
  });
  const d = (x: number | null) => (x === null ? '-' : duration(x));
  for (const r of rows) {
    L.push({
      text:
        fit(r.key, keyW) +
        fit(String(r.calls), 7, true) +
        (r.errors ? chalk.red(fit(String(r.errors), 7, true)) : fit('0', 7, true)) +
        (r.inFlight ? chalk.yellow(fit(String(r.inFlight), 7, true)) : fit('0', 7, true)) +
        fit(d(r.p50), 9, true) +
        fit(d(r.p90), 9, true) +
        latencyColor(r.p99 ?? 0, view.stuckMs)(fit(d(r.p99), 9, true)) +
        latencyColor(r.max ?? 0, view.stuckMs)(fit(d(r.max), 9, true)),
    });
  }
  if (rows.length === 0) L.push({ text: chalk.dim(view.statsLoading ? 'computing…' : 'no calls') });
  return L;
}

export function logLines(view: SessionView): Line[] {
  const w = logWindow(view);
  return w.slice(0, w.length);
}

/** The log pane's lines as a window: how many, and the Line objects of a range only. */
export function logWindow(view: SessionView): { length: number; slice(a: number, b: number): Line[] } {
  const lines = view.logLines();
  const extra: Line[] = [];
  if (!view.logComplete) extra.push({ text: chalk.dim('… (reading the recording)') });
  if (!lines.length && !extra.length) extra.push({ text: chalk.dim('no log lines yet') });
  const n = lines.length;
  return {
    length: n + extra.length,
    slice: (a, b) => {
      const out: Line[] = [];
      for (let i = Math.max(0, a); i < Math.min(b, n + extra.length); i++) {
        const l = i < n ? lines[i]! : undefined;
        out.push(l !== undefined ? { text: l.length > 2000 ? l.slice(0, 2000) + '…' : l } : extra[i - n]!);
      }
      return out;
    },
  };
}
