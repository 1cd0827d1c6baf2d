// A small command-line parser: `--name value`, `--name=value`, `-I DIR`,
// `-IDIR`, repeatable options, flags, and positionals.

export class UsageError extends Error {}

export interface OptionSpec {
  /** string: takes a value; flag: boolean; number: a non-negative integer. */
  kind: 'string' | 'flag' | 'number';
  repeat?: boolean;
  short?: string;
}

export type Parsed = {
  options: Record<string, string | boolean | number | string[] | undefined>;
  positionals: string[];
  /** Everything after `--`. */
  rest: string[];
};

export function parseArgs(argv: string[], spec: Record<string, OptionSpec>, maxPositionals = 0): Parsed {
  const options: Parsed['options'] = {};
  const positionals: string[] = [];
  const byShort = new Map(Object.entries(spec).filter(([, s]) => s.short).map(([n, s]) => [s.short!, n]));
  for (const [name, s] of Object.entries(spec)) if (s.repeat) options[name] = [];
  // `--listen --help`: help wins over an option that would take it as its value.
  if (spec.help) {
    const end = argv.indexOf('--');
    if ((end < 0 ? argv : argv.slice(0, end)).some((a) => a === '--help' || (spec.help!.short !== undefined && a === `-${spec.help!.short}`))) {
      return { options: { ...options, help: true }, positionals: [], rest: [] };
    }
  }
  let i = 0;
  const take = (name: string, inline: string | undefined): string => {
    if (inline !== undefined) return inline;
    const v = argv[++i];
    if (v === undefined) throw new UsageError(`option --${name} needs a value`);
    return v;
  };
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      return { options, positionals, rest: argv.slice(i + 1) };
    }
    let name: string | undefined;
    let inline: string | undefined;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      inline = eq < 0 ? undefined : a.slice(eq + 1);
      if (!spec[name]) throw new UsageError(`unknown option ${a.slice(0, eq < 0 ? undefined : eq)}`);
    } else if (a.length > 1 && a.startsWith('-') && !/^-\d/.test(a)) {
      name = byShort.get(a[1]!);
      if (!name) throw new UsageError(`unknown option ${a}`);
      inline = a.length > 2 ? a.slice(2) : undefined;
    }
    if (name === undefined) {
      if (positionals.length >= maxPositionals) throw new UsageError(`unexpected argument '${a}'`);
      positionals.push(a);
      continue;
    }
    const s = spec[name]!;
    if (s.kind === 'flag') {
      if (inline !== undefined) throw new UsageError(`option --${name} takes no value`);
      options[name] = true;
      continue;
    }
    const raw = take(name, inline);
    let v: string | number = raw;
    if (s.kind === 'number') {
      if (!/^\d+(\.\d+)?$/.test(raw)) throw new UsageError(`option --${name} needs a number, got '${raw}'`);
      v = Number(raw);
    }
    if (s.repeat) (options[name] as (string | number)[]).push(v);
    else options[name] = v;
  }
  return { options, positionals, rest: [] };
}
