// The intercept options of the recording commands (demo, --listen, exec):
//
//   --hold EXPR  --delay EXPR=DURATION  --fail EXPR[=REASON]  --disconnect EXPR  --rules FILE
//
// Any of them puts an Interceptor on the relay (every connection framed);
// without them the relay is as before.

import { UsageError } from '../cli/args.js';
import { loadSchemaBundle, rpcSchemaSet } from '../decoder/sources.js';
import { Interceptor, Intervention } from './engine.js';
import { loadRulesFile, parseRule, Rule, RuleError } from './rules.js';
import { listenControl } from './control.js';
import type { RecordingHandle } from '../cli/recording.js';
import type { NamesSource } from './names.js';

export const INTERCEPT_OPTIONS = {
  hold: { kind: 'string', repeat: true },
  delay: { kind: 'string', repeat: true },
  fail: { kind: 'string', repeat: true },
  disconnect: { kind: 'string', repeat: true },
  rules: { kind: 'string' },
  intercept: { kind: 'flag' },
} as const;

export const INTERCEPT_HELP = `  --hold EXPR      hold matching Calls (or Returns: 'return & method:X') until released
                   (in the terminal UI, or 'ipc-trace release DB' from another shell)
  --delay EXPR=DURATION  delay matching messages (e.g. 'method:getBalances=200ms')
  --fail EXPR[=TEXT]     answer matching Calls with an exception (TEXT) instead of forwarding them
  --disconnect EXPR      close the connection when a matching message arrives
  --rules FILE     rules, one per line: hold|delay|fail|disconnect EXPR (# comments)
                   EXPR is the filter language of the terminal UI (method:, iface:, thread:,
                   proc:, conn:, ! & |) plus the words call and return; a held message holds
                   what follows it in its direction of its connection
  --intercept      no rule yet, but rules can be added while live (the terminal UI's b key);
                   until one is, chunks are relayed as they come (and decoded for the
                   thread and process names rules match)
`;

/** The rules given on the command line; a bad one is bad usage (exit 2). */
export function rulesFromOptions(options: Record<string, unknown>): Rule[] {
  const rules: Rule[] = [];
  try {
    if (typeof options.rules === 'string') rules.push(...loadRulesFile(options.rules));
    for (const action of ['hold', 'delay', 'fail', 'disconnect'] as const) {
      for (const arg of (options[action] as string[] | undefined) ?? []) rules.push(parseRule(action, arg));
    }
  } catch (e) {
    if (e instanceof RuleError) throw new UsageError(e.message);
    throw e;
  }
  return rules;
}

/** An interceptor for the given rules, or undefined when there are none (and --intercept was not given). */
export function interceptorFor(
  rules: Rule[],
  schemaFiles: string[],
  importDirs: string[],
  onEvent: (e: Intervention) => void,
  always = false,
  names?: NamesSource,
): Interceptor | undefined {
  if (rules.length === 0 && !always) return undefined;
  return new Interceptor(loadSchemaBundle(schemaFiles, importDirs).set, rpcSchemaSet(), rules, onEvent, names);
}

/**
 * The interceptor of a recording command and its control socket (for
 * `ipc-trace release`), or nothing when no rule is given and --intercept is
 * not set. If the socket cannot be made, the recording is finished before
 * the error goes on.
 */
export async function startIntercept(
  recording: RecordingHandle,
  rules: Rule[],
  schemaFiles: string[],
  importDirs: string[],
  always: boolean,
): Promise<{ interceptor: Interceptor | undefined; control: Awaited<ReturnType<typeof listenControl>> | null }> {
  // Names for thread: and proc: from the recording's model (no second one here).
  const interceptor = rules.length > 0 || always ? interceptorFor(rules, schemaFiles, importDirs, (ev) => recording.intervention(ev), always, recording.names()) : undefined;
  try {
    return { interceptor, control: interceptor ? await listenControl(recording.dbPath, interceptor) : null };
  } catch (e) {
    await recording.finish();
    throw e;
  }
}
