// Float64 values as kj prints them: the shortcut for whole numbers
// (formatFloat64 prints them with String) against the general %.15g path
// (formatG), on whole numbers of every size around the 15-digit limit, signs
// and zeros included.

import { describe, it, expect } from 'vitest';
import { formatFloat64, formatG } from '../../src/decoder/text.js';
import { prng } from '../../src/bench/synthetic-session.js';

/** formatFloat64 without the shortcut: %.15g, or %.17g when 15 digits do not round-trip. */
const general = (x: number) => {
  const s = formatG(x, 15);
  return Number(s) === x ? s : formatG(x, 17);
};

describe('formatFloat64 on whole numbers', () => {
  it('prints what the general %.15g path prints', () => {
    const rand = prng(5);
    const xs = [0, -0, 1, -1, 300, 10000, 60000, 1e14, 1e15 - 1, -(1e15 - 1), 1e15, 1e15 + 2, 2 ** 53, -(2 ** 53), 1e21, 1e300];
    for (let digits = 1; digits <= 17; digits++) {
      for (let i = 0; i < 200; i++) {
        const x = Math.floor(rand() * 10 ** digits);
        xs.push(x, -x);
      }
    }
    for (const x of xs) expect(formatFloat64(x), String(x)).toBe(general(x));
    expect(formatFloat64(-0)).toBe('-0');
    expect(formatFloat64(1e15)).toBe('1e15');
  });
});
