// The direct reader of the common RPC messages (src/decoder/rpc-direct.ts)
// against the schema-driven decoder it stands in for: on every message of
// every capture and synthetic fixture, and on corrupted copies of the
// capture messages, both give the same RPC message and charge the same
// traversal budget, and the direct reader never accepts what the
// schema-driven decoder rejects.

import { describe, it, expect } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers.js';
import { parseHexlog } from '../../src/decoder/hexlog.js';
import { Framer } from '../../src/decoder/framer.js';
import { WireMessage } from '../../src/decoder/wire.js';
import { OpaquePointer } from '../../src/decoder/dynamic.js';
import { decodeEnvelope, interpret, readRpc, RpcMessage } from '../../src/decoder/rpc.js';
import { readRpcDirect } from '../../src/decoder/rpc-direct.js';
import { rpcSchemaSet } from '../../src/decoder/sources.js';
import { prng as rng } from '../../src/bench/synthetic-session.js';

const rpc = rpcSchemaSet();

/** Every whole frame of a fixture hexlog, as segment lists. */
function frames(dir: string): { name: string; segments: Uint8Array[][] }[] {
  return readdirSync(join(ROOT, dir))
    .filter((f) => f.endsWith('.hexlog'))
    .map((f) => {
      const h = parseHexlog(readFileSync(join(ROOT, dir, f), 'latin1'));
      const segments: Uint8Array[][] = [];
      for (const d of ['>', '<']) {
        const framer = new Framer();
        for (const c of h.chunks) if (c.dir === d) for (const e of framer.push(c.bytes)) if (e.kind === 'frame') segments.push(e.frame.segments);
      }
      return { name: `${dir}/${f}`, segments };
    });
}

/** An RPC message with its opaque payload pointers as plain positions (comparable). */
function plain(r: RpcMessage): unknown {
  return JSON.parse(
    JSON.stringify(r, (_k, v: unknown) => (v instanceof OpaquePointer ? { loc: v.loc, nest: v.nest } : typeof v === 'bigint' ? String(v) : v)),
  );
}

type Outcome = { ok: unknown; remaining: number } | { error: string } | { skipped: true };

function direct(segments: Uint8Array[]): Outcome {
  const w = new WireMessage(segments);
  try {
    const r = readRpcDirect(w);
    return r ? { ok: plain(r), remaining: w.remaining } : { skipped: true };
  } catch (e) {
    return { error: String(e) };
  }
}

function generic(segments: Uint8Array[]): Outcome {
  const w = new WireMessage(segments);
  try {
    return { ok: plain(interpret(decodeEnvelope(rpc, w), w)), remaining: w.remaining };
  } catch (e) {
    return { error: String(e) };
  }
}

/** Deterministic pseudo-random numbers (xorshift32). */

describe('direct RPC reader matches the schema-driven decoder', () => {
  for (const f of [...frames('test/fixtures/captures'), ...frames('test/fixtures/synthetic')]) {
    it(f.name, () => {
      let readDirectly = 0;
      for (const segs of f.segments) {
        const d = direct(segs);
        const g = generic(segs);
        if ('skipped' in d) continue;
        if ('error' in d) expect('error' in g, `direct reader rejected what the decoder accepts: ${d.error}`).toBe(true);
        else {
          expect(d).toEqual(g);
          readDirectly++;
        }
        // The one entry point gives the schema-driven decoder's answer either way.
        const w = new WireMessage(segs);
        let viaEntry: Outcome;
        try {
          viaEntry = { ok: plain(readRpc(rpc, w)), remaining: w.remaining };
        } catch (e) {
          viaEntry = { error: String(e) };
        }
        expect(viaEntry).toEqual(g);
      }
      if (f.name.includes('captures/')) expect(readDirectly).toBeGreaterThan(0);
    });
  }

  it('on corrupted capture messages, accepts nothing the decoder rejects and reads the rest alike', () => {
    const next = rng(0x5eed);
    const messages = frames('test/fixtures/captures').flatMap((f) => f.segments);
    let compared = 0;
    let rejected = 0;
    for (let round = 0; round < 16; round++) {
      for (const segs of messages) {
        // Corrupt a few bytes of the first segment's first 64 bytes (where the envelope lies).
        const copy = segs.map((s) => Uint8Array.from(s));
        const s0 = copy[0]!;
        const n = 1 + Math.floor(next() * 3);
        for (let i = 0; i < n; i++) s0[Math.floor(next() * Math.min(64, s0.length))] = Math.floor(next() * 256);
        const d = direct(copy);
        const g = generic(copy);
        if ('skipped' in d) continue;
        if ('error' in d) {
          expect('error' in g, `direct reader rejected what the decoder accepts: ${d.error}`).toBe(true);
          rejected++;
        } else {
          expect(d).toEqual(g);
          compared++;
        }
      }
    }
    expect(compared).toBeGreaterThan(100);
    expect(rejected).toBeGreaterThan(10);
  });
});
