// `ipc-trace schemas`: lists the loaded interfaces with IDs and methods with ordinals.

import { parseArgs } from './args.js';
import { loadSchemas } from '../decoder/sources.js';

export const SCHEMAS_HELP = `usage: ipc-trace schemas [--schema FILE.capnp]... [-I DIR]...

Lists the interfaces of the loaded schemas (the bundled ones, or the given
files compiled with the capnp tool) with their IDs, and their methods with
ordinals. Methods marked '*' take a Proxy.Context (they run on a named
worker thread); the others run on the server's event loop.
`;

export function runSchemas(argv: string[]): number {
  const { options } = parseArgs(argv, {
    schema: { kind: 'string', repeat: true },
    import: { kind: 'string', repeat: true, short: 'I' },
    help: { kind: 'flag', short: 'h' },
  });
  if (options.help) {
    process.stdout.write(SCHEMAS_HELP);
    return 0;
  }
  const schemas = loadSchemas(options.schema as string[], options.import as string[]);
  const ifaces = [...schemas.interfaces.values()].sort((a, b) => a.displayName.localeCompare(b.displayName));
  const lines: string[] = [];
  for (const i of ifaces) {
    const file = i.displayName.slice(0, i.displayName.indexOf(':'));
    const supers = i.superclasses.map((s) => schemas.interfaces.get(s)?.name ?? s);
    lines.push(`${i.name} ${i.id} (${file})${supers.length ? ` extends ${supers.join(', ')}` : ''}`);
    for (const m of i.methods) lines.push(`  @${m.ordinal} ${m.name}${m.hasContext ? ' *' : ''}`);
  }
  lines.push(`${ifaces.length} interfaces, ${ifaces.reduce((n, i) => n + i.methods.length, 0)} methods`);
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}
