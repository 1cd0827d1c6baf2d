// Progress on stderr: a bar with rate and ETA on a terminal, nothing when piped.

import { describe, it, expect } from 'vitest';
import { Progress } from '../../src/cli/progress.js';

function stream(isTTY: boolean): { s: NodeJS.WriteStream; out: string[] } {
  const out: string[] = [];
  return { s: { isTTY, write: (x: string) => out.push(x) } as unknown as NodeJS.WriteStream, out };
}

describe('progress', () => {
  it('draws a bar with count, rate and ETA on a terminal, and clears it', () => {
    const { s, out } = stream(true);
    const p = new Progress('importing', 10, s);
    for (let i = 0; i < 10; i++) p.tick();
    p.finish();
    expect(out.some((l) => /^\rimporting \[#+\.*\] \d+% \d+\/10 \d+\/s ETA /.test(l))).toBe(true);
    expect(out.some((l) => l.includes('100% 10/10'))).toBe(true);
    expect(out[out.length - 1]).toBe('\r\x1b[K');
  });

  it('writes nothing when stderr is not a terminal', () => {
    const { s, out } = stream(false);
    const p = new Progress('importing', 10, s);
    for (let i = 0; i < 10; i++) p.tick();
    p.finish();
    expect(out).toEqual([]);
  });
});
