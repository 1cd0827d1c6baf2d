// The chains report as text, in the shape of the anchors (jstack's "Found
// one Java-level deadlock", lockdep's chain): first line the verdict, then
// only the cycle's members, one line per edge, then the threads blocked
// behind it, then the other stuck calls with the thread to attach a
// debugger to; every chain and thread stack only on request.

import { formatDuration, workerLabel } from '../mp/concepts.js';
import type { BlockedCall, ChainNode, ChainReport, CycleStep, Deadlock, HeldMark, StuckChain, ThreadRef } from './types.js';

export interface FormatOptions {
  /** The report's time as shown (`2026-… (end of session)`). */
  when: string;
  /** Every chain and each thread's stack of outstanding calls. */
  threads?: boolean;
}

const age = (ms: number) => formatDuration(ms);
const plural = (n: number, one: string, many = one + 's') => `${n} ${n === 1 ? one : many}`;

/** The verdict: the report's first line. */
export function verdict(r: ChainReport): string {
  if (r.deadlocks.length) return `Found ${r.deadlocks.length === 1 ? '1 IPC deadlock' : `${r.deadlocks.length} IPC deadlocks`}`;
  return `No deadlock; ${plural(r.outstanding, 'outstanding call')}`;
}

export function formatChains(r: ChainReport, opts: FormatOptions): string {
  const lines: string[] = [verdict(r)];
  const stuckCount = r.chains.filter((n) => n.stuck).length;
  const facts = [
    r.deadlocks.length ? plural(r.outstanding, 'outstanding call') : '',
    r.interrupted ? `${r.interrupted} interrupted by a disconnect` : '',
    stuckCount ? `${stuckCount} stuck past ${age(r.stuckMs)}` : '',
  ].filter(Boolean);
  lines.push(`  at ${opts.when}${facts.length ? `: ${facts.join(', ')}` : ''}`);
  const nodes = new Map<number, ChainNode>();
  const index = (n: ChainNode): void => {
    nodes.set(n.call, n);
    n.children.forEach(index);
  };
  r.chains.forEach(index);
  r.deadlocks.forEach((d, i) => {
    lines.push('');
    lines.push(...deadlockLines(d, r.deadlocks.length > 1 ? i + 1 : null, nodes));
  });
  if (r.stuck.length) {
    lines.push('');
    lines.push(r.deadlocks.length ? 'Other stuck calls:' : 'Stuck calls:');
    for (const s of r.stuck) lines.push(...stuckLines(s));
  }
  const listed = new Set([...r.stuck.map((x) => x.call), ...r.deadlocks.flatMap((d) => [...d.steps.map((x) => x.call), ...d.behind.map((x) => x.call)])]);
  const cut = r.chains.filter((n) => n.interrupted && !listed.has(n.call));
  if (cut.length) {
    lines.push('');
    lines.push('Cut by a disconnect (as they stood when the connection closed):');
    for (const n of cut) lines.push(`  ${n.waiter.label} waited ${age(n.ageMs)} on ${n.title} [call ${n.call}], run by ${n.executor.label}`);
  }
  if (opts.threads) {
    lines.push('');
    lines.push(...chainLines(r));
    lines.push('');
    lines.push(...threadLines(r));
  } else if (r.outstanding + r.interrupted > 0) {
    lines.push('');
    lines.push('(--threads: every chain and each thread\'s stack of outstanding calls)');
  }
  return lines.join('\n') + '\n';
}

function stepLines(s: CycleStep, next: CycleStep, first: CycleStep, last: boolean, nodes: Map<number, ChainNode>): string[] {
  const out = [`  ${s.waiter.label} waits ${age(s.ageMs)} on ${s.title} [call ${s.call}]`];
  // The hops between the waited-on call and the blocked one.
  for (let i = 1; i < s.path.length; i++) {
    const via = nodes.get(s.path[i - 1]!);
    const hop = nodes.get(s.path[i]!);
    out.push(`    → runs in ${via?.executor.label ?? '?'}, which waits on ${hop?.title ?? '?'} [call ${s.path[i]}]`);
  }
  const b = s.blocked;
  const from = s.path.length > 1 ? nodes.get(s.path[s.path.length - 2]!)?.executor ?? s.waiter : s.waiter;
  if (b.heldBy) {
    out.push(`    → ${heldSentence(b.heldBy, b.thread)}${last ? ': the cycle closes at the first line' : ''}`);
  } else if (s.how === 'queued') {
    const on = last ? `${first.title} [call ${first.call}] (first line): the cycle closes` : `${next.title} [call ${next.call}] (next line)`;
    out.push(`    → queued on ${b.thread.label}, busy running`, `      ${on}`);
  } else {
    const tail = last ? `where ${first.waiter.label} waits (first line): the cycle closes` : '(a lock or condition the wire cannot show)';
    out.push(`    → runs in ${runner(b.thread, from)}, makes no call: blocked inside ${b.thread.processLabel}`, `      ${tail}`);
  }
  return out;
}

/**
 * A thread as the caller sees it, short: the worker a process made for the
 * calling thread (`P (from CALLER)`) is `P on the worker serving it`, the
 * calling thread itself (a callback run while it waits) `the same thread`.
 */
function runner(t: ThreadRef, caller: ThreadRef): string {
  if (t.thread !== null && t.thread === caller.thread) return 'the same thread';
  if (t.label === workerLabel(t.processLabel, caller.label)) return `${t.processLabel} on the worker serving it`;
  return t.label;
}

const label = (t: ThreadRef) => t.label;

/** What ipc-trace's own hold does to a call, for people. */
export function heldSentence(h: HeldMark, runner: ThreadRef): string {
  if (h.what === 'call') return `held by ipc-trace (hold #${h.hold}): ${runner.processLabel} has not received it`;
  if (h.what === 'return') return `answered by ${runner.label}; its Return held by ipc-trace (hold #${h.hold})`;
  return `queued on the wire behind ipc-trace's hold #${h.hold}`;
}

/** Where to look with gdb: the process, the frame, and the thread (by LWP when its name carries it, else by the request it runs). */
export function attach(b: BlockedCall): string {
  const t = b.thread;
  if (b.heldBy) return `held by ipc-trace, not by the process: release hold #${b.heldBy.hold} (ipc-trace release DB ${b.heldBy.hold}, or in the UI)`;
  const gdb = t.pid !== null ? `gdb -p ${t.pid}` : `attach to ${t.processLabel}`;
  const lwp = t.role === 'client' ? /-(\d+)$/.exec(t.label)?.[1] : undefined;
  const which = lwp
    ? `in thread LWP ${lwp} (${t.label.slice(t.label.indexOf('/') + 1)})`
    : b.requestNo !== null
      ? `in the thread running request #${b.requestNo} (its -debug=ipc line "IPC server executing request #${b.requestNo}" names the LWP)`
      : `in the thread running ${b.title}`;
  if (b.queuedBehind !== null) return `not started: queued on that thread behind call ${b.queuedBehind}, the one to look at`;
  return `${gdb}, thread apply all bt: frame ${methodName(b.title)}, ${which}`;
}

/** `attach` as report lines: its explanation in brackets on a line of its own. */
function attachLines(b: BlockedCall, indent: string): string[] {
  const text = attach(b);
  const cut = text.indexOf(' (its -debug=ipc line');
  return cut < 0 ? [indent + text] : [indent + text.slice(0, cut), `${indent}  ${text.slice(cut + 1)}`];
}

function methodName(title: string): string {
  return title.includes('.') ? title.slice(title.lastIndexOf('.') + 1) : title;
}

function deadlockLines(d: Deadlock, n: number | null, nodes: Map<number, ChainNode>): string[] {
  const procs = [...new Set(d.steps.flatMap((s) => [s.waiter.processLabel, s.blocked.thread.processLabel]))];
  const lines = [`${n !== null ? `Deadlock ${n}` : 'Deadlock'} between ${procs.join(' and ')} (${plural(d.steps.length, 'thread')} waiting on each other):`];
  d.steps.forEach((s, i) => lines.push(...stepLines(s, d.steps[(i + 1) % d.steps.length]!, d.steps[0]!, i === d.steps.length - 1, nodes)));
  if (d.behind.length) {
    lines.push(`  ${plural(d.behind.length, 'thread')} blocked behind it:`);
    for (const b of d.behind) {
      const tail = b.blocked.call === b.call ? `run by ${runner(b.blocked.thread, b.waiter)}` : `→ ${b.blocked.title} [call ${b.blocked.call}] in ${runner(b.blocked.thread, b.waiter)}`;
      const how = b.blocked.heldBy
        ? heldSentence(b.blocked.heldBy, b.blocked.thread)
        : b.blocked.queuedBehind !== null
          ? `queued behind call ${b.blocked.queuedBehind}`
          : `blocked inside ${b.blocked.thread.processLabel}`;
      lines.push(`    ${label(b.waiter)} waits ${age(b.ageMs)} on ${b.title} [call ${b.call}]`, `      ${tail}, ${how}`);
    }
  }
  lines.push('  Attach a debugger:');
  for (const s of d.steps) lines.push(...attachLines(s.blocked, '    '));
  return lines;
}

function stuckLines(s: StuckChain): string[] {
  const flags = [
    s.interrupted ? 'interrupted by a disconnect' : '',
    s.hung && !s.stuck ? 'longer than usual' : '',
    s.blocked.heldBy ? heldSentence(s.blocked.heldBy, s.blocked.thread) : '',
  ].filter(Boolean);
  const deeper = s.blocked.call !== s.call ? ` → ${s.blocked.title} [call ${s.blocked.call}]` : '';
  return [
    `  ${label(s.waiter)} waits ${age(s.ageMs)} on ${s.title} [call ${s.call}]${deeper}, run by ${label(s.blocked.thread)}${flags.length ? ` (${flags.join(', ')})` : ''}`,
    ...attachLines(s.blocked, '    '),
  ];
}

function chainLines(r: ChainReport): string[] {
  const lines: string[] = [r.chains.length ? 'Chains:' : 'Chains: no outstanding calls'];
  const draw = (n: ChainNode, indent: string) => {
    const flags = [
      n.interrupted ? 'interrupted by disconnect' : '',
      n.stuck ? 'STUCK' : n.hung ? 'longer than usual' : '',
      n.cancelRequested ? 'cancel requested' : '',
      n.queuedBehind !== null ? `queued behind call ${n.queuedBehind}` : '',
      n.heldBy ? heldSentence(n.heldBy, n.executor) : '',
    ].filter(Boolean);
    const req = n.requestNo !== null ? `, #${n.requestNo}` : '';
    lines.push(`${indent}{${n.waiter.label}} waits ${age(n.ageMs)} on ${n.title} [call ${n.call}${req}, c${n.conn} q${n.questionId}] -> ${n.target}${flags.length ? `  (${flags.join(', ')})` : ''}`);
    const state = n.children.length
      ? ''
      : n.heldBy && n.heldBy.what !== 'return'
        ? ', not received (held by ipc-trace)'
        : n.queuedBehind !== null
          ? ', not started'
          : ', executing (no outgoing call)';
    lines.push(`${indent}  run by {${n.executor.label}}${state}`);
    for (const c of n.children) draw(c, indent + '    ');
  };
  r.chains.forEach((n, i) => {
    lines.push(`chain ${i + 1}:`);
    draw(n, '  ');
  });
  return lines;
}

function threadLines(r: ChainReport): string[] {
  const lines = ['Threads:'];
  for (const t of r.threads) {
    lines.push(`  {${t.thread.label}}`);
    for (const e of t.stack) {
      const as = e.as === 'waiting' ? 'waiting on ' : e.as === 'queued' ? 'queued     ' : 'executing  ';
      lines.push(`    ${as} ${e.title} [call ${e.call}] ${age(e.ageMs)}`);
    }
  }
  return lines;
}
