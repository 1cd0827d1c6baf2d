// Bitcoin Core style command-line arguments: `-name=value`, `-name` (true),
// `-noname` (false), and `-ipcfd N` as libmultiprocess passes it (two words).

export class ArgError extends Error {}

export type BitcoinArgs = Map<string, string>;

/** Parses argv; `known` lists the accepted names, `twoWord` the ones that may take the next word as value. */
export function parseBitcoinArgs(argv: string[], known: readonly string[], twoWord: readonly string[] = []): BitcoinArgs {
  const out: BitcoinArgs = new Map();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('-') || a === '-' || a === '--') throw new ArgError(`unexpected argument '${a}'`);
    const body = a.replace(/^--?/, '');
    const eq = body.indexOf('=');
    let name = eq < 0 ? body : body.slice(0, eq);
    let value: string;
    if (eq >= 0) value = body.slice(eq + 1);
    else if (twoWord.includes(name) && i + 1 < argv.length && !argv[i + 1]!.startsWith('-')) value = argv[++i]!;
    else if (!known.includes(name) && name.startsWith('no') && known.includes(name.slice(2))) {
      name = name.slice(2);
      value = '0';
    } else value = '1';
    if (!known.includes(name)) throw new ArgError(`unknown option -${name}`);
    out.set(name, value);
  }
  return out;
}

/** A non-negative number option. */
export function numberArg(args: BitcoinArgs, name: string, dflt: number): number {
  const v = args.get(name);
  if (v === undefined) return dflt;
  if (!/^\d+(\.\d+)?$/.test(v)) throw new ArgError(`-${name} needs a non-negative number, got '${v}'`);
  return Number(v);
}

export const SCENARIOS = ['normal', 'deadlock', 'busy', 'disconnect', 'slow'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export function scenarioArg(v: string | undefined): Scenario {
  const s = v ?? 'normal';
  if (!(SCENARIOS as readonly string[]).includes(s)) throw new ArgError(`unknown -scenario=${s} (one of ${SCENARIOS.join(', ')})`);
  return s as Scenario;
}

/** `unix:PATH` or PATH → PATH. */
export function unixPath(v: string, opt: string): string {
  const p = v.startsWith('unix:') ? v.slice(5) : v;
  if (!p || p === '1') throw new ArgError(`-${opt} needs unix:PATH`);
  return p;
}
