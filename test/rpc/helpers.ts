// Helpers for the RPC runtime tests: an in-memory socket pair that records
// the bytes of both directions, and decoding a recording with the project's
// decoder.

import { Duplex } from 'node:stream';
import { Connection } from '../../src/rpc/connection.js';
import { Threads } from '../../src/rpc/threads.js';
import { SchemaSet } from '../../src/decoder/schema.js';
import { bundledSchemaSet, rpcSchemaSet } from '../../src/decoder/sources.js';
import { MessageDecoder, StreamDecoder, DecodedMessage, Dir } from '../../src/decoder/messages.js';
import { describeRpc } from '../../src/decoder/describe.js';
import type { Cap } from '../../src/rpc/cap.js';

export interface Chunk {
  /** '>' from side a (the connecting side) to b, '<' back. */
  dir: Dir;
  bytes: Uint8Array;
}

class End extends Duplex {
  other!: End;
  constructor(
    private readonly dir: Dir,
    private readonly log: Chunk[],
  ) {
    super();
  }
  override _read(): void {}
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.log.push({ dir: this.dir, bytes: new Uint8Array(chunk) });
    const o = this.other;
    setImmediate(() => o.push(chunk));
    cb();
  }
  override _final(cb: (e?: Error | null) => void): void {
    const o = this.other;
    setImmediate(() => o.push(null));
    cb();
  }
}

/** Two connected in-memory streams; `chunks` records every write in order. */
export function duplexPair(): { a: Duplex; b: Duplex; chunks: Chunk[] } {
  const chunks: Chunk[] = [];
  const a = new End('>', chunks);
  const b = new End('<', chunks);
  a.other = b;
  b.other = a;
  return { a, b, chunks };
}

let schemas: SchemaSet | null = null;
export function bitcoinSchemas(): SchemaSet {
  schemas ??= bundledSchemaSet();
  return schemas;
}

/** Decodes a recording with the project's decoder. */
export function decodeChunks(chunks: Chunk[], set: SchemaSet = bitcoinSchemas()): DecodedMessage[] {
  const d = new StreamDecoder(new MessageDecoder(set, rpcSchemaSet()));
  const out: DecodedMessage[] = [];
  for (const c of chunks) out.push(...d.push(c.dir, c.bytes));
  return out;
}

/** One line per message: direction, wire summary, params/results name. */
export function summarize(msgs: DecodedMessage[]): string[] {
  return msgs.map((m) => `${m.dir} ${m.rpc ? describeRpc(m.rpc) : `error ${m.error}`}${m.name ? ' ' + m.name : ''}`);
}

/** Waits until the event loop has gone round a few times (writes are flushed on setImmediate). */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
}

export interface Peers {
  node: { conn: Connection; threads: Threads };
  wallet: { conn: Connection; threads: Threads };
  chunks: Chunk[];
}

/**
 * bitcoin-node connects to bitcoin-wallet (as when it spawns it): the node is
 * the client side ('>'), the wallet serves `init` as its bootstrap.
 */
export function nodeAndWallet(init: (threads: Threads) => Cap, set: SchemaSet = bitcoinSchemas()): Peers {
  const { a, b, chunks } = duplexPair();
  const nodeThreads = new Threads({ schemas: set, exe: 'bitcoin-node', pid: 100, loopThreadName: 'b-capnp-loop' });
  const walletThreads = new Threads({ schemas: set, exe: 'bitcoin-wallet', pid: 200 });
  const bootstrap = init(walletThreads);
  const walletConn = new Connection(b, { schemas: set, bootstrap, name: 'wallet' });
  bootstrap.release();
  walletThreads.attach(walletConn);
  const nodeConn = new Connection(a, { schemas: set, name: 'node' });
  nodeThreads.attach(nodeConn);
  return { node: { conn: nodeConn, threads: nodeThreads }, wallet: { conn: walletConn, threads: walletThreads }, chunks };
}
