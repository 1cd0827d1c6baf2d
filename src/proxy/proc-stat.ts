// Linux's /proc/…/stat files, read in one place: a thread's nice value (the
// recorder's and the UI's priority), and CPU time for the stop's account and
// the benchmarks.

import { readFileSync } from 'node:fs';

/**
 * The fields of a /proc stat file after the command name, so that index 0 is
 * field 3 (`state`) of proc(5); null where there is no such file. The name
 * (field 2) is in parentheses and may hold spaces: fields are counted from
 * after its closing one.
 */
export function statFields(path: string): string[] | null {
  try {
    const stat = readFileSync(path, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** CPU time (user + system, fields 14 and 15) of the process or thread of a stat file, in ms (10 ms steps: 100 ticks a second), or null. */
export function statCpuMs(path: string): number | null {
  const f = statFields(path);
  return f ? (Number(f[11]) + Number(f[12])) * 10 : null;
}

/** CPU time of the children this process has waited for (fields 16 and 17), in ms, or null. */
export function childrenCpuMs(): number | null {
  const f = statFields('/proc/self/stat');
  return f ? (Number(f[13]) + Number(f[14])) * 10 : null;
}
