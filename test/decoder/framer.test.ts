// Framing: chunks split anywhere, many messages per chunk, and the live
// reader's limits (fewer than 512 segments, at most 8 Mi words) as errors
// after which framing goes on where the stream allows.

import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Framer, FramerEvent } from '../../src/decoder/framer.js';
import { parseHexlog } from '../../src/decoder/hexlog.js';
import { ROOT } from '../helpers.js';
import { prng as rng } from '../../src/bench/synthetic-session.js';

function streamOf(capture: string, dir: '>' | '<'): Buffer {
  const h = parseHexlog(readFileSync(join(ROOT, 'test/fixtures/captures', capture), 'latin1'));
  return Buffer.concat(h.chunks.filter((c) => c.dir === dir).map((c) => c.bytes));
}

function frames(events: FramerEvent[]): string[] {
  return events.map((e) => (e.kind === 'frame' ? Buffer.from(e.frame.bytes).toString('hex') : `error@${e.offset}: ${e.reason}`));
}

function feed(stream: Uint8Array, cuts: number[]): FramerEvent[] {
  const f = new Framer();
  const out: FramerEvent[] = [];
  let at = 0;
  for (const c of [...cuts, stream.length]) {
    out.push(...f.push(stream.subarray(at, c)));
    at = c;
  }
  out.push(...f.end());
  return out;
}

/** A deterministic pseudo-random generator, so failures reproduce. */

/** A valid single-segment message: one word, a null root pointer. */
const TINY = Buffer.from('00000000010000000000000000000000', 'hex');

describe('framer', () => {
  const big = streamOf('big-01.hexlog', '>');
  const whole = frames(feed(big, []));

  it('frames a real multi-segment stream into whole messages with nothing left over', () => {
    expect(whole.length).toBeGreaterThan(5);
    expect(whole.every((f) => !f.startsWith('error'))).toBe(true);
    expect(whole.join('')).toBe(big.toString('hex'));
    // big-01 carries multi-segment messages (segment count word > 0)
    expect(whole.some((f) => f.slice(0, 8) !== '00000000')).toBe(true);
  });

  it('gives the same frames whatever the chunking (random cuts, 1-byte chunks)', () => {
    const r = rng(7);
    for (let round = 0; round < 20; round++) {
      const cuts = [...new Set(Array.from({ length: 40 }, () => Math.floor(r() * big.length)))].sort((a, b) => a - b);
      expect(frames(feed(big, cuts))).toEqual(whole);
    }
    const small = streamOf('echo-01.hexlog', '<');
    const ones = Array.from({ length: small.length - 1 }, (_, i) => i + 1);
    expect(frames(feed(small, ones))).toEqual(frames(feed(small, [])));
  });

  it('reports offsets of frames in the stream', () => {
    const f = new Framer();
    const ev = f.push(Buffer.concat([TINY, TINY, TINY]));
    expect(ev.map((e) => (e.kind === 'frame' ? e.frame.offset : -1))).toEqual([0, 16, 32]);
  });

  it('rejects 512 or more segments, skips the frame and goes on', () => {
    const count = 600;
    const table = Buffer.alloc((4 + 4 * count + 7) & ~7);
    table.writeUInt32LE(count - 1, 0);
    const ev = feed(Buffer.concat([table, TINY]), []);
    expect(frames(ev)).toEqual([expect.stringMatching(/^error@0: Message has too many segments \(600/), TINY.toString('hex')]);
  });

  it('accepts 511 segments', () => {
    const count = 511;
    const table = Buffer.alloc((4 + 4 * count + 7) & ~7);
    table.writeUInt32LE(count - 1, 0);
    table.writeUInt32LE(1, 4);
    const msg = Buffer.concat([table, Buffer.alloc(8)]);
    const ev = feed(msg, []);
    expect(ev).toHaveLength(1);
    expect(ev[0]!.kind).toBe('frame');
    expect((ev[0] as Extract<FramerEvent, { kind: 'frame' }>).frame.segments).toHaveLength(511);
  });

  it('rejects a message over 64 MiB without buffering it, then frames the next one', () => {
    const words = 8 * 1024 * 1024 + 1;
    const header = Buffer.alloc(8);
    header.writeUInt32LE(0, 0);
    header.writeUInt32LE(words, 4);
    const f = new Framer();
    const out: FramerEvent[] = [...f.push(header)];
    const block = Buffer.alloc(1 << 20);
    let left = words * 8;
    while (left > 0) {
      const n = Math.min(left, block.length);
      out.push(...f.push(block.subarray(0, n)));
      left -= n;
    }
    out.push(...f.push(TINY), ...f.end());
    expect(frames(out)).toEqual([expect.stringMatching(/^error@0: Message is too large/), TINY.toString('hex')]);
  });

  it('gives up on a segment table that cannot be skipped and counts the bytes it did not decode', () => {
    const f = new Framer();
    const ev = [...f.push(Buffer.from('0000100000000000', 'hex')), ...f.push(TINY), ...f.end()];
    expect(frames(ev)).toEqual([expect.stringMatching(/too many segments \(1048577\).*framing lost/)]);
    expect(f.undecodedBytes).toBe(8 + TINY.length);
  });

  it('wraps the segment count like the C++ readers: 0xffffffff + 1 is an empty 8-byte frame', () => {
    const ev = feed(Buffer.concat([Buffer.from('ffffffff00000000', 'hex'), TINY]), []);
    expect(frames(ev)).toEqual(['ffffffff00000000', TINY.toString('hex')]);
    expect((ev[0] as Extract<FramerEvent, { kind: 'frame' }>).frame.segments).toHaveLength(0);
  });

  it('reports a stream that ends inside a message', () => {
    const ev = feed(Buffer.concat([TINY, TINY.subarray(0, 12)]), []);
    expect(frames(ev)).toEqual([TINY.toString('hex'), 'error@16: stream ended inside a message (12 of 16 bytes)']);
    expect(frames(feed(Buffer.from('0300', 'hex'), []))).toEqual([
      'error@0: stream ended inside a segment table (2 bytes left over)',
    ]);
  });
});
