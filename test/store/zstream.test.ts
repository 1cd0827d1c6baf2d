import { describe, expect, it } from 'vitest';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { deflateRawScratch, inflateRaw } from '../../src/store/zstream.js';
import { prng } from '../../src/bench/synthetic-session.js';

/** Bytes that compress somewhat (text-like runs) or not at all (random), of any size. */
function sample(rnd: () => number, n: number, random: boolean): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = random ? Math.floor(rnd() * 256) : 97 + Math.floor(rnd() * 6) + (i % 64 === 0 ? 10 : 0);
  return b;
}

describe('kept zlib streams', () => {
  it('deflate as deflateRawSync does, byte for byte, at each level and size (the stream is reset between calls)', () => {
    const rnd = prng(7);
    for (const level of [1, 6, 9]) {
      for (const n of [0, 1, 100, 32 << 10, 70 << 10, 300 << 10]) {
        for (const random of [false, true]) {
          const input = sample(rnd, n, random);
          const ours = Buffer.from(deflateRawScratch(input, level));
          expect(ours.equals(deflateRawSync(input, { level })), `level ${level}, ${n} bytes, random ${random}`).toBe(true);
        }
      }
    }
  });

  it('inflate gives back the input, whether it fits the first buffer or needs a bigger one', () => {
    const rnd = prng(11);
    for (const n of [0, 5, 4096, 128 << 10, 129 << 10, 1 << 20]) {
      const input = sample(rnd, n, n % 2 === 1);
      const z = deflateRawSync(input, { level: 6 });
      expect(inflateRaw(z).equals(input), `${n} bytes`).toBe(true);
      expect(inflateRaw(z, true).equals(input), `${n} bytes, scratch`).toBe(true);
    }
  });

  it('a kept result stays as it was after later calls; a scratch one is the shared buffer', () => {
    const a = Buffer.from('first block '.repeat(1000));
    const b = Buffer.from('second block '.repeat(1000));
    const kept = inflateRaw(deflateRawSync(a));
    const scratch = inflateRaw(deflateRawSync(a), true);
    inflateRaw(deflateRawSync(b), true);
    expect(kept.equals(a)).toBe(true);
    expect(scratch.equals(a)).toBe(false);
  });

  it('a corrupt or truncated input fails as inflateRawSync does, and the next call works', () => {
    const good = deflateRawSync(Buffer.from('hello '.repeat(500)));
    const bad = Buffer.from(good);
    bad[0] = 0xff;
    const truncated = good.subarray(0, good.length - 5);
    for (const input of [bad, truncated]) {
      let want = '';
      try {
        inflateRawSync(input);
      } catch (e) {
        want = (e as Error).message;
      }
      expect(want).not.toBe('');
      expect(() => inflateRaw(input)).toThrow(want);
      expect(inflateRaw(good).toString()).toBe('hello '.repeat(500));
    }
  });
});
