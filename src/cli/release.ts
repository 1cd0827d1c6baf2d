// `ipc-trace release DB [ID|all]`: releases messages held by a running
// session's --hold rules, from another shell (src/intercept/control.ts).

import { parseArgs, UsageError } from './args.js';
import { UserError } from '../decoder/sources.js';
import { sendControl } from '../intercept/control.js';

export const RELEASE_HELP = `usage: ipc-trace release DB [ID|all] [--list] [--step [ID]] [--fail ID [--reason TEXT]] [--rules] [--add-rule RULE] [--drop-rule N]

Talks to the running ipc-trace session recording to DB (started with --hold,
--delay, --fail, --disconnect or --rules) through its control socket DB.ctl.

  release DB          release every held message (same as 'all')
  release DB ID       release held message #ID (as numbered in the log: 'IPC wire hold #ID …')
  --list              list the held messages and what waits behind each
  --step [ID]         release held message #ID (default: the oldest) and hold exactly the next
                      message its rule matches, even if the rule was dropped (walk match by match)
  --fail ID           answer held Call #ID with an exception instead (--reason TEXT)
  --rules             list the rules in force, numbered
  --add-rule RULE     add a rule while live: 'hold method:blockConnected', 'delay method:x=200ms', …
  --drop-rule N       remove rule N
`;

export async function runRelease(argv: string[]): Promise<number> {
  const { options, positionals } = parseArgs(
    argv,
    { list: { kind: 'flag' }, step: { kind: 'flag' }, rules: { kind: 'flag' }, 'add-rule': { kind: 'string' }, 'drop-rule': { kind: 'number' }, fail: { kind: 'number' }, reason: { kind: 'string' }, help: { kind: 'flag', short: 'h' } },
    2,
  );
  if (options.help) {
    process.stdout.write(RELEASE_HELP);
    return 0;
  }
  const [db, which] = positionals;
  const stepId = options.step && which !== undefined ? which : undefined;
  if (!db) throw new UsageError('release needs the session database: ipc-trace release DB [ID|all]');
  const modes = [options.list, options.step, options.fail !== undefined, which !== undefined && stepId === undefined, options.rules, options['add-rule'] !== undefined, options['drop-rule'] !== undefined].filter(Boolean).length;
  if (modes > 1) throw new UsageError('give one of ID, all, --list, --step, --fail, --rules, --add-rule, --drop-rule');
  let request: string;
  if (options.list) request = 'list';
  else if (options.rules) request = 'rules';
  else if (options['add-rule'] !== undefined) request = `rule ${String(options['add-rule'])}`;
  else if (options['drop-rule'] !== undefined) request = `unrule ${options['drop-rule'] as number}`;
  else if (options.step) {
    if (stepId !== undefined && !/^#?\d+$/.test(stepId)) throw new UsageError(`--step takes a held message number, not '${stepId}'`);
    request = stepId !== undefined ? `step ${stepId.replace(/^#/, '')}` : 'step';
  }
  else if (options.fail !== undefined) request = `fail ${options.fail as number}${options.reason ? ' ' + String(options.reason) : ''}`;
  else {
    if (which !== undefined && which !== 'all' && !/^#?\d+$/.test(which)) throw new UsageError(`release takes a held message number or 'all', not '${which}'`);
    request = `release ${which ?? 'all'}`;
  }
  const answer = await sendControl(db, request);
  if (answer.startsWith('error: ')) throw new UserError(answer.slice(7));
  process.stdout.write(answer + '\n');
  return 0;
}
