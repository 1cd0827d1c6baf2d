// Byte-replaying peers: a client and a server that replay a hexlog capture's
// two directions over real sockets, each side sending its next chunk only
// once it has received every byte the capture shows arriving before it.

import net from 'node:net';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseHexlog, HexlogChunk } from '../../src/decoder/hexlog.js';

export interface PeerResult {
  /** SHA-256 of the bytes each side received. */
  clientGot: string;
  serverGot: string;
  /** SHA-256 of each direction as the capture has it. */
  expectedToServer: string;
  expectedToClient: string;
}

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Drives one side: sends its chunks in order, waiting for the other side's earlier bytes (stopping before chunk `holdAt` of its own, if given). */
function drive(sock: net.Socket, chunks: HexlogChunk[], mine: '>' | '<', onDone: (got: Buffer) => void, holdAt = Infinity): void {
  let mineSent = 0;
  let received = 0;
  const got: Buffer[] = [];
  let i = 0;
  let theirsBefore = 0; // bytes the other side sent before chunk i
  const step = () => {
    while (i < chunks.length) {
      const c = chunks[i]!;
      if (c.dir !== mine) {
        theirsBefore += c.bytes.length;
        i++;
        continue;
      }
      if (received < theirsBefore || mineSent >= holdAt) return;
      sock.write(c.bytes);
      mineSent++;
      i++;
    }
    if (received >= theirsBefore) sock.end();
  };
  sock.on('data', (d: Buffer) => {
    got.push(d);
    received += d.length;
    step();
  });
  sock.on('end', () => onDone(Buffer.concat(got)));
  sock.on('error', () => onDone(Buffer.concat(got)));
  step();
}

/** Serves the capture's B side on `serverPath` to every connection; `got` resolves with what `count` connections received. */
export function startReplayServer(hexlog: string, serverPath: string, count = 1): Promise<{ got: Promise<Buffer[]>; close: () => void }> {
  const { chunks } = parseHexlog(readFileSync(hexlog, 'latin1'));
  return new Promise((resolve) => {
    const results: Buffer[] = [];
    let done!: (b: Buffer[]) => void;
    const got = new Promise<Buffer[]>((r) => (done = r));
    const server = net.createServer({ allowHalfOpen: true }, (s) =>
      drive(s, chunks, '<', (b) => {
        results.push(b);
        if (results.length === count) done(results);
      }),
    );
    server.listen(serverPath, () => resolve({ got, close: () => server.close() }));
  });
}

/** Replays a capture through `proxyPath` with `clients` concurrent connections, the server side on `serverPath`. */
export async function replayThrough(hexlog: string, proxyPath: string, serverPath: string, clients = 1): Promise<PeerResult[]> {
  const { chunks } = parseHexlog(readFileSync(hexlog, 'latin1'));
  const server = await startReplayServer(hexlog, serverPath, clients);
  const clientGot = await Promise.all(
    Array.from(
      { length: clients },
      () =>
        new Promise<Buffer>((resolve, reject) => {
          const s = net.createConnection({ path: proxyPath, allowHalfOpen: true });
          s.once('error', reject);
          s.once('connect', () => drive(s, chunks, '>', resolve));
        }),
    ),
  );
  const serverGot = await server.got;
  server.close();
  const dirBytes = (d: '>' | '<') => Buffer.concat(chunks.filter((c) => c.dir === d).map((c) => c.bytes));
  return clientGot.map((c, i) => ({
    clientGot: sha(c),
    serverGot: sha(serverGot[i]!),
    expectedToServer: sha(dirBytes('>')),
    expectedToClient: sha(dirBytes('<')),
  }));
}

/**
 * Replays a capture's client side only up to (not including) its `holdAt`-th
 * chunk and keeps the connection open, the server side answering as far as
 * it can: calls whose answers need the rest stay outstanding. `close()` ends it.
 */
export async function replayPartly(hexlog: string, proxyPath: string, serverPath: string, holdAt: number): Promise<{ close: () => void }> {
  const { chunks } = parseHexlog(readFileSync(hexlog, 'latin1'));
  const server = await startReplayServer(hexlog, serverPath);
  const s = net.createConnection({ path: proxyPath, allowHalfOpen: true });
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.once('connect', () => resolve());
  });
  drive(s, chunks, '>', () => {}, holdAt);
  return {
    close: () => {
      s.destroy();
      server.close();
    },
  };
}
