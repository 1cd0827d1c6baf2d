// The detail of one call as lines: who called whom, the times, the chain of
// calls it is nested in and the callbacks nested in it (each line of those
// opens that call), params and results as foldable trees (Data as hex,
// hashes also in display order), exception, capabilities created while it
// ran, and the Call/Return messages, with a hex dump of their bytes.

import { callAge } from '../session/row-index.js';
import chalk from 'chalk';
import type { SessionView } from './view.js';
import { parseCapnpText, treeLines } from './capnp-tree.js';
import { clock, duration, statusColor } from './format.js';
import { G } from './glyphs.js';

export interface DetailLine {
  text: string;
  /** Selecting the line opens this call. */
  call?: number;
  /** Selecting the line folds/unfolds this tree node. */
  node?: string;
}

export function hexDump(b: Uint8Array, indent = '  '): string[] {
  const out: string[] = [];
  for (let o = 0; o < b.length; o += 16) {
    const row = b.subarray(o, o + 16);
    const h = Array.from(row, (x) => x.toString(16).padStart(2, '0')).join(' ');
    const a = Array.from(row, (x) => (x >= 0x20 && x < 0x7f ? String.fromCharCode(x) : '.')).join('');
    out.push(`${indent}${o.toString(16).padStart(6, '0')}  ${h.padEnd(47)}  ${a}`);
  }
  return out;
}

export function detailLines(view: SessionView, id: number, toggled: ReadonlySet<string>, showHex: boolean): DetailLine[] {
  const c = view.call(id);
  if (!c) return [{ text: `call ${id} not found` }];
  const L: DetailLine[] = [];
  const head = chalk.bold;
  const at = view.at();
  const age = callAge(c, at, view.connections.get(c.conn)?.closed);
  L.push({
    text: `${head(`call ${c.id}`)}  ${chalk.bold(c.title)}  ${statusColor(c.status)(c.status)}${c.status === 'pending' ? ` for ${duration(age)}` : ` in ${duration(age)}`}  c${c.conn} q${c.questionId}${c.requestNo !== null ? ` #${c.requestNo}` : ''}`,
  });
  L.push({ text: `  caller    {${view.threadLabel(c.caller)}}  ${view.processLabel(c.clientProcess)}` });
  L.push({ text: `  executor  {${view.threadLabel(c.executor)}}  ${view.processLabel(c.serverProcess)}` });
  L.push({ text: `  target    ${c.target}${c.hasContext ? '' : '  (no Context)'}` });
  const rel = (t: number | null) => (t === null ? '-' : `${clock(t)} (+${duration(t - c.sent)})`);
  L.push({ text: `  sent      ${clock(c.sent)}   returned ${rel(c.returned)}   finished ${rel(c.finished)}${c.cancelRequested !== null ? `   cancel ${rel(c.cancelRequested)}` : ''}` });
  if (c.exception) L.push({ text: chalk.red(`  exception ${c.exception}`) });

  // The chain up (the calls it is nested in) and the callbacks down.
  const up: number[] = [];
  for (let p = c.parent, guard = 0; p !== null && guard < 64; guard++) {
    up.unshift(p);
    p = view.call(p)?.parent ?? null;
  }
  const kids = view.reader.callChildren(c.id).filter((k) => k.sent <= at);
  if (up.length || kids.length) {
    L.push({ text: head('follow this call') + chalk.dim('  (enter opens a call)') });
    up.forEach((p, i) => {
      const r = view.call(p);
      if (r) L.push({ text: `  ${' '.repeat(i * 2)}↑ call ${r.id} ${r.title}  {${view.threadLabel(r.caller)}} → {${view.threadLabel(r.executor)}}`, call: r.id });
    });
    L.push({ text: `  ${' '.repeat(up.length * 2)}${chalk.inverse(`• call ${c.id} ${c.title}`)}` });
    for (const k of kids) {
      const r = view.call(k.id) ?? k;
      L.push({ text: `  ${' '.repeat(up.length * 2 + 2)}↓ call ${r.id} ${r.title}  ${statusColor(r.status)(r.status)}`, call: r.id });
    }
  }

  const tree = (label: string, text: string | null) => {
    L.push({ text: head(label) });
    if (text === null) {
      L.push({ text: chalk.dim('  (none)') });
      return;
    }
    const lines = treeLines(parseCapnpText(text, label), toggled);
    if (lines.length === 1) L.push({ text: chalk.dim('  () (no fields)') });
    for (const t of lines) {
      if (t.depth === 0) continue;
      const mark = t.foldable ? `${t.folded ? G.folded : G.unfolded} ` : '  ';
      L.push({ text: `${'  '.repeat(t.depth)}${mark}${t.kind === 'data' ? chalk.cyan(t.text) : t.text}`, node: t.foldable ? t.path : undefined });
    }
  };
  tree('params', c.params);
  if (c.status !== 'pending') tree('results', c.results);

  const caps = view.reader.caps().filter((k) => k.conn === c.conn && k.created >= c.sent && k.created <= (c.returned ?? at) && k.created <= at);
  if (caps.length) {
    L.push({ text: head('capabilities created while it ran') });
    for (const k of caps) L.push({ text: `  ${k.label}  ${k.iface ?? '?'} export ${k.exportId} by ${k.owner}${k.promise ? ' (promise)' : ''}${k.released !== null && k.released <= at ? ' released' : ''}` });
  }

  L.push({ text: head('messages') + chalk.dim(showHex ? '  (x hides the hex)' : '  (x shows the bytes)') });
  for (const m of view.reader.callMessages(c.id)) {
    if (m.time > at) continue;
    L.push({ text: `  ${m.dir} ${m.type ?? '?'} ${m.name ?? ''}  n=${m.n ?? '-'} offset ${m.offset} ${m.size ?? '?'} bytes  ${clock(m.time)}` });
    if (showHex && view.redact) L.push({ text: chalk.dim('    (bytes not shown: --redact)') });
    else if (showHex && m.size !== null) {
      const b = view.reader.streamBytes(m.conn, m.dir, m.offset, m.size);
      for (const h of hexDump(b, '    ')) L.push({ text: chalk.dim(h) });
    }
  }
  return L;
}
