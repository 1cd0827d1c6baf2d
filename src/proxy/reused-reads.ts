// Sockets a Splice reads into a buffer it reuses (Node's `onread` socket
// option), rather than into a fresh 64 KiB buffer per read that only a GC
// frees: on a busy relay those waited by the tens of MB, and the scavenges
// they caused landed on round trips. Standard library only (shim.ts runs from
// dist/ as a process of its own).
//
// Every socket made here starts paused (nothing reads it until a Splice
// starts it) and has a ReadSlot: the buffer its next read goes into and who
// gets the bytes. A read's bytes are valid only until the next read from that
// socket: whoever keeps them (a queued write, an interceptor) needs a copy, or
// the slot must lend its buffer (splice.ts decides which).
//
// `onread` exists only for sockets we create. An accepted socket (net.Server)
// and a child's stdio socket (child_process) are re-made around the same
// libuv handle (adoptForSplice): the old Socket object gives the handle up and
// is destroyed without it, so it closes nothing (and the server stops counting
// it). If that is not possible (a Node whose sockets keep the handle
// elsewhere, bytes already read into the old socket), the socket is kept as it
// is and the Splice reads it with 'data' events, as before.

import net from 'node:net';
import type { Socket } from 'node:net';

/** Size of a read buffer: what libuv reads at once into its own buffers (64 KiB). */
export const READ_BYTES = 64 * 1024;
/** Once less than this is left after the chunks a socket still writes, reads go into another buffer. */
const MIN_READ = 16 * 1024;
/** Free read buffers kept for the next slots (this thread's). */
const POOL_MAX = 32;
const pool: Buffer[] = [];

/** This thread's counts (for tests and figures): sockets made with a slot, reads, chunks left with a socket, buffers allocated. */
export const reuseCounts = { slots: 0, reads: 0, kept: 0, allocated: 0 };

function takeBuffer(): Buffer {
  const b = pool.pop();
  if (b) return b;
  reuseCounts.allocated++;
  return Buffer.allocUnsafeSlow(READ_BYTES);
}

function giveBack(b: Buffer): void {
  if (pool.length < POOL_MAX) pool.push(b);
}

/**
 * Where a socket's reads go: into `buf` from `off` on. A chunk that a socket
 * keeps (its write was queued) stays where it is and the next read goes
 * after it, into another buffer once less than MIN_READ is left; once the
 * socket has written everything, its buffers are free again.
 */
export class ReadSlot {
  private buf: Buffer = takeBuffer();
  private off = 0;
  /** buf from off on: what the next read goes into. */
  private view: Buffer = this.buf;
  /** Earlier buffers holding chunks a socket may still be writing. */
  private full: Buffer[] = [];
  /** Called with each read: a view of the buffer, valid until the next read (unless kept). Set by the Splice that takes the socket (take). */
  onRead: (chunk: Buffer) => void;
  /** A Splice reads the socket: its buffers are released by it (else when the socket closes). */
  taken = false;
  readonly onread: net.OnReadOpts;

  constructor(sock: () => Socket) {
    this.onRead = () => sock().destroy(new Error('read before a splice took the socket'));
    this.onread = {
      buffer: () => this.view,
      callback: (n, b) => {
        reuseCounts.reads++;
        this.onRead((b as Buffer).subarray(0, n));
        return true; // pausing is done with pause(), by the splice's flow control
      },
    };
  }

  /**
   * After the last chunk read (n bytes) was written to a socket: `queued`,
   * the socket still holds bytes to write (that chunk among them: it must
   * not be read into again); otherwise everything written from this slot is
   * written, and its buffers are free.
   */
  written(n: number, queued: boolean): void {
    if (!queued) {
      for (const b of this.full) giveBack(b);
      this.full.length = 0;
      if (this.off !== 0) {
        this.off = 0;
        this.view = this.buf;
      }
      return;
    }
    reuseCounts.kept++;
    this.off += n;
    if (this.buf.length - this.off < MIN_READ) {
      this.full.push(this.buf);
      this.buf = takeBuffer();
      this.off = 0;
    }
    this.view = this.off === 0 ? this.buf : this.buf.subarray(this.off);
  }

  /** A Splice takes the socket's reads. */
  take(onRead: (chunk: Buffer) => void): void {
    this.taken = true;
    this.onRead = onRead;
  }

  /** The socket is closed and so is the one it was written to: its buffers go to the next slots. */
  release(): void {
    for (const b of this.full) giveBack(b);
    this.full.length = 0;
    giveBack(this.buf);
  }
}

const slots = new WeakMap<Socket, ReadSlot>();

/** The slot of a socket made here, or undefined for any other socket. */
export function readSlot(sock: Socket): ReadSlot | undefined {
  return slots.get(sock);
}

function made(make: (onread: net.OnReadOpts) => Socket): Socket {
  let sock: Socket | undefined;
  const slot = new ReadSlot(() => sock!);
  sock = make(slot.onread);
  sock.pause();
  // Closed without a splice (e.g. handed to the native pump, or never connected): nothing was written from its buffer.
  sock.once('close', () => {
    if (!slot.taken) slot.release();
  });
  slots.set(sock, slot);
  reuseCounts.slots++;
  return sock;
}

/** net.createConnection with reused reads (paused, with allowHalfOpen). */
export function connectForSplice(opts: net.TcpSocketConnectOpts | net.IpcSocketConnectOpts): Socket {
  return made((onread) => net.createConnection({ ...opts, allowHalfOpen: true, onread }));
}

/** A socket on an inherited file descriptor with reused reads (paused, with allowHalfOpen). */
export function fdForSplice(fd: number): Socket {
  return made((onread) => new net.Socket({ fd, readable: true, writable: true, allowHalfOpen: true, onread } as net.SocketConstructorOpts));
}

/**
 * The same connection with reused reads (paused, with allowHalfOpen): for a
 * socket made by Node (accepted, or a child's stdio) before anything read
 * from it. Use only the returned socket from then on. Falls back to returning
 * `sock` itself, paused, when its handle cannot be taken over.
 */
export function adoptForSplice(sock: Socket): Socket {
  const old = sock as unknown as { _handle?: { readStop?: unknown } | null };
  const handle = old._handle;
  if (!handle || typeof handle.readStop !== 'function' || sock.readableLength > 0 || sock.destroyed || sock.connecting) {
    sock.allowHalfOpen = true;
    sock.pause();
    return sock;
  }
  sock.pause();
  old._handle = null;
  sock.destroy(); // without its handle: closes nothing
  return made((onread) => new net.Socket({ handle, readable: true, writable: true, allowHalfOpen: true, onread } as net.SocketConstructorOpts));
}
