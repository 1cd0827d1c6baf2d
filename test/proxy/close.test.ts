// How a relayed connection ends: a write that fails because the other side
// already sent EOF and closed (the node's Abort after the client hung up) is
// a normal close (resets without EOF stay errors: see relay.test.ts).

import { describe, it, expect, afterEach } from 'vitest';
import net from 'node:net';
import { once } from 'node:events';
import { join } from 'node:path';
import { Relay } from '../../src/proxy/relay.js';
import { RecordingTap, tempDir, connect, within } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(onUpstream: (s: net.Socket) => void) {
  const tmp = tempDir();
  cleanups.push(tmp.cleanup);
  const srv = net.createServer({ allowHalfOpen: true }, onUpstream);
  srv.listen(join(tmp.dir, 'up.sock'));
  await once(srv, 'listening');
  cleanups.push(() => srv.close());
  const tap = new RecordingTap(true);
  const relay = new Relay({ listen: { kind: 'unix', path: join(tmp.dir, 'p.sock') }, connect: { kind: 'unix', path: join(tmp.dir, 'up.sock') }, tap });
  await relay.listen();
  cleanups.push(() => relay.stop());
  return { tap, path: join(tmp.dir, 'p.sock') };
}

describe('relay close reasons', () => {
  it('the server writing after the client sent EOF and closed is a normal close (no EPIPE error)', async () => {
    const { tap, path } = await setup((s) => {
      s.on('data', () => {});
      s.on('end', () => {
        // Like bitcoin-node: after the client's EOF, write an Abort, then close.
        setTimeout(() => {
          s.write(Buffer.alloc(64, 1));
          setTimeout(() => s.end(Buffer.alloc(64, 2)), 50);
        }, 100);
      });
    });
    const c = await connect({ path });
    c.on('error', () => {});
    c.end('bye');
    await once(c, 'finish');
    c.destroy();
    await within(tap.allClosed(), 5000, 'tap close');
    const t = [...tap.conns.values()][0]!;
    expect(t.close!.reason).toBeNull();
    expect(t.ends).toContain('>');
    expect(tap.problems).toEqual([]);
  });
});
