// Intercept rules: an action and a filter expression in the terminal UI's
// filter language (src/filter/parse.ts), plus two words of its own:
// `call` and `return` pick the kind of message (a rule without either
// matches Calls). Written on the command line, typed in the TUI, or one per
// line in a --rules file:
//
//   hold EXPR                  hold matching messages until released
//   delay EXPR=DURATION        hold them for DURATION (e.g. 250ms, 2s)
//   fail EXPR[=REASON]         answer the Call with an exception (REASON, or a default)
//   disconnect EXPR            close the connection when one arrives
//
// Blank lines and lines starting with # are skipped.

import { readFileSync } from 'node:fs';
import { parseFilter, FilterExpr, FilterTerm } from '../filter/parse.js';
import { compileFilter, FilterContext } from '../filter/match.js';
import { filterTerms, foldFilter, predicateFold } from '../filter/fold.js';
import type { CallRow } from '../session/rows.js';
import { UserError } from '../decoder/sources.js';

export const ACTIONS = ['hold', 'delay', 'fail', 'disconnect'] as const;
export type Action = (typeof ACTIONS)[number];
export type MessageKind = 'call' | 'return';

export interface Rule {
  id: number;
  action: Action;
  /** The rule as written (`hold method:blockConnected`). */
  text: string;
  expr: FilterExpr;
  /** Delay for `delay`, in ms. */
  delayMs: number;
  /** Exception reason for `fail`. */
  reason: string;
}

/** What a rule is matched against: one message, seen as the call it belongs to. */
export interface MessageView {
  kind: MessageKind;
  /** A CallRow-like view (title, iface, method, conn, status, params). */
  call: CallRow;
  /**
   * Facts not known yet (the names source has not caught up with this
   * message): `names`, its call's threads and processes; `call`, the call of
   * a Return whose Call went by before a rule was in force (title, interface,
   * params, sent). Terms on them take the value `assume`.
   */
  unknown?: { names: boolean; call: boolean };
  assume?: boolean;
}

/** The facts a term needs beyond the message itself, or null. */
function termNeeds(t: FilterTerm): 'names' | 'call' | null {
  switch (t.k) {
    case 'thread':
    case 'proc':
      return 'names';
    case 'method':
    case 'word':
    case 'iface':
    case 'text':
    case 'slow':
      return 'call';
    default:
      return null;
  }
}

/** A rule's predicate over facts that may not be known yet: true, false, or 'unknown' (it depends on them). */
export function decide(f: (m: MessageView) => boolean, m: MessageView): boolean | 'unknown' {
  if (!m.unknown || (!m.unknown.names && !m.unknown.call)) return f(m);
  const yes = f({ ...m, assume: true });
  return yes === f({ ...m, assume: false }) ? yes : 'unknown';
}

export const DEFAULT_FAIL_REASON = 'ipc-trace: injected failure';

/** The error for a bad rule (one line; the CLI turns it into exit code 2). */
export class RuleError extends Error {}

const DURATION = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/;

export function parseDuration(text: string): number | null {
  const m = DURATION.exec(text);
  if (!m) return null;
  const v = Number(m[1]);
  return m[2] === 's' ? v * 1000 : m[2] === 'm' ? v * 60000 : v;
}

let nextRuleId = 1;

/** Parses `EXPR` (with `=DURATION` / `=REASON` for delay / fail) for an action. Throws RuleError. */
export function parseRule(action: string, arg: string): Rule {
  if (!(ACTIONS as readonly string[]).includes(action)) throw new RuleError(`unknown rule action '${action}' (one of ${ACTIONS.join(', ')})`);
  let exprText = arg;
  let delayMs = 0;
  let reason = DEFAULT_FAIL_REASON;
  if (action === 'delay') {
    const eq = arg.lastIndexOf('=');
    const d = eq >= 0 ? parseDuration(arg.slice(eq + 1)) : null;
    if (d === null) throw new RuleError(`delay rule '${arg}': expected EXPR=DURATION (e.g. method:getBalances=200ms)`);
    exprText = arg.slice(0, eq);
    delayMs = d;
  } else if (action === 'fail') {
    const eq = arg.indexOf('=');
    if (eq >= 0) {
      reason = arg.slice(eq + 1).trim();
      exprText = arg.slice(0, eq);
      if (!reason) throw new RuleError(`fail rule '${arg}': empty exception text after '='`);
    }
  }
  if (!exprText.trim()) throw new RuleError(`${action} rule: empty expression`);
  const r = parseFilter(exprText);
  if (!r.ok) throw new RuleError(`${action} rule '${exprText}': ${r.error} (at ${r.pos + 1})`);
  const rule: Rule = { id: nextRuleId++, action: action as Action, text: `${action} ${arg}`, expr: r.expr, delayMs, reason };
  if (rule.action === 'fail' && kindsOf(r.expr).has('return')) throw new RuleError(`fail rule '${exprText}': only Calls can be failed`);
  return rule;
}

/** Parses one line of a rules file (`ACTION ARG`); null for blank and comment lines. */
export function parseRuleLine(line: string): Rule | null {
  const t = line.trim();
  if (!t || t.startsWith('#')) return null;
  const m = /^(\S+)\s+(.+)$/.exec(t);
  if (!m) throw new RuleError(`rule '${t}': expected ACTION EXPR`);
  return parseRule(m[1]!, m[2]!);
}

/** Loads a --rules file; errors name the file and line. */
export function loadRulesFile(path: string): Rule[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UserError(`cannot read rules file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const rules: Rule[] = [];
  text.split('\n').forEach((line, i) => {
    try {
      const r = parseRuleLine(line);
      if (r) rules.push(r);
    } catch (e) {
      throw new RuleError(`${path}:${i + 1}: ${(e as Error).message}`);
    }
  });
  return rules;
}

/** The message kinds a rule's expression names (`call`/`return` words); empty = calls. */
function kindsOf(e: FilterExpr): Set<MessageKind> {
  return new Set(filterTerms(e).flatMap((t) => (t.k === 'word' && (t.value === 'call' || t.value === 'return') ? [t.value as MessageKind] : [])));
}

const NO_NAMES: FilterContext = { threadLabel: () => undefined, processLabel: () => undefined, now: 0 };

/**
 * The predicate of a rule on a message: the words `call`/`return` test its
 * kind; every other term is the filter language's, applied to the call.
 * A rule that names neither kind applies to Calls only.
 */
export function compileRule(rule: Rule, ctx: FilterContext = NO_NAMES): (m: MessageView) => boolean {
  const compile = (e: FilterExpr) =>
    foldFilter(
      e,
      predicateFold<MessageView>((t) => {
        if (t.k === 'word' && (t.value === 'call' || t.value === 'return')) {
          const k = t.value;
          return (m) => m.kind === k;
        }
        const f = compileFilter(t, ctx);
        const needs = termNeeds(t);
        if (needs === null) return (m) => f(m.call);
        return (m) => (m.unknown?.[needs] ? m.assume === true : f(m.call));
      }),
    );
  const f = compile(rule.expr);
  if (kindsOf(rule.expr).size > 0) return f;
  return (m) => m.kind === 'call' && f(m);
}
