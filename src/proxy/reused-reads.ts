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

/** This process's counts (for tests and figures): sockets made with a slot, reads, buffers lent, reads written as a copy. */
export const reuseCounts = { slots: 0, reads: 0, lent: 0, copied: 0 };

/** Where a socket's reads go. */
export class ReadSlot {
  /** The buffer the next read goes into. */
  buf: Buffer = Buffer.allocUnsafeSlow(READ_BYTES);
  /** Called with each read: a view of buf, valid until the next read. Set by the Splice that takes the socket. */
  onRead: (chunk: Buffer) => void;
  readonly onread: net.OnReadOpts;

  constructor(sock: () => Socket) {
    this.onRead = () => sock().destroy(new Error('read before a splice took the socket'));
    this.onread = {
      buffer: () => this.buf,
      callback: (n, b) => {
        reuseCounts.reads++;
        this.onRead((b as Buffer).subarray(0, n));
        return true; // pausing is done with pause(), by the splice's flow control
      },
    };
  }

  /** The current buffer now belongs to someone else (a socket still writing from it): reads go into a new one. */
  lend(): void {
    reuseCounts.lent++;
    this.buf = Buffer.allocUnsafeSlow(READ_BYTES);
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
