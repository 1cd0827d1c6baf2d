// The control channel between exec shims (shim.ts, one process per interposed
// child) and the main ipc-trace process (exec.ts). Each shim opens one stream
// connection to the Unix socket named by IPC_TRACE_CONTROL and sends one
// connection's worth of records over it:
//
//   frame   = u32 BE length of the rest, then: u8 type, f64 BE time (ms since
//             the epoch, measured in the shim when the event happened), body
//   OPEN  1   body = UTF-8 JSON ShimOpenInfo                  (first frame)
//   DATA  2   body = u8 dir ('>' 0x3e or '<' 0x3c), then the relayed bytes
//   END   3   body = u8 dir                                    (EOF that way)
//   EXIT  4   body = UTF-8 JSON { code, signal } of the real child
//   CLOSE 5   body = UTF-8 JSON reason (null or a string)      (last frame)
//
//
// With intercept rules (src/intercept/), the main process also sends frames
// back to the shim: DATA (bytes to write on), END (EOF to pass on), CLOSE
// (cut the connection), and
//
//   MODE  6   body = u8 mode: 'i' hand every chunk over and write only what
//             comes back (intercepted); 'p' stop reading and acknowledge
//             (before relaying by itself); 'd' relay by itself, sending
//             copies only (no rule in force)
//   ACK   7   body = u8 mode  (shim → main: 'i' or 'p' taken; in the stream,
//             so every chunk before it was sent in the old mode)
//   PAUSE 8   body = u8 dir, u8 on (stop / resume reading that direction's
//             sender: too much waits behind a hold)
//
// '>' is the spawning parent → child direction (the parent is the connecting
// side, like a client of a listening socket). Standard library only: this
// module is loaded by the shim process.

export const FRAME_OPEN = 1;
export const FRAME_DATA = 2;
export const FRAME_END = 3;
export const FRAME_EXIT = 4;
export const FRAME_CLOSE = 5;
export const FRAME_MODE = 6;
export const FRAME_ACK = 7;
export const FRAME_PAUSE = 8;

/** 'i' intercepted, 'p' pausing before relaying by itself, 'd' relaying by itself. */
export type RelayMode = 'i' | 'p' | 'd';
const MODES: readonly RelayMode[] = ['i', 'p', 'd'];

/** Frames larger than this are rejected as corrupt (DATA frames carry one socket read, ≤ 64 KiB in practice). */
export const MAX_FRAME = 64 * 1024 * 1024;

export interface ShimOpenInfo {
  parentPid: number;
  parentExe: string;
  childPid: number;
  childExe: string;
  /** The real executable the shim started. */
  childPath: string;
  /** The fd number the parent passed (`-ipcfd N`, or `N` alone). */
  fd: number;
  /** The shim's pid: the pid the parent spawned and knows the child by. */
  shimPid?: number;
}

export type Frame =
  | { type: typeof FRAME_OPEN; time: number; info: ShimOpenInfo }
  | { type: typeof FRAME_DATA; time: number; dir: '>' | '<'; bytes: Buffer }
  | { type: typeof FRAME_END; time: number; dir: '>' | '<' }
  | { type: typeof FRAME_EXIT; time: number; code: number | null; signal: string | null }
  | { type: typeof FRAME_CLOSE; time: number; reason: string | null }
  | { type: typeof FRAME_MODE | typeof FRAME_ACK; time: number; mode: RelayMode }
  | { type: typeof FRAME_PAUSE; time: number; dir: '>' | '<'; on: boolean };

/** A frame's header, with room for `extra` bytes of its body after it. */
function header(type: number, time: number, bodyLength: number, extra = 0): Buffer {
  const h = Buffer.allocUnsafe(13 + extra);
  h.writeUInt32BE(9 + bodyLength, 0);
  h.writeUInt8(type, 4);
  h.writeDoubleBE(time, 5);
  return h;
}

function jsonFrame(type: number, time: number, value: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  return Buffer.concat([header(type, time, body.length), body]);
}

const DIR_BYTE = { '>': 0x3e, '<': 0x3c } as const;

export function encodeOpen(time: number, info: ShimOpenInfo): Buffer {
  return jsonFrame(FRAME_OPEN, time, info);
}

/** The DATA frame as [header, bytes], so the payload is written without copying. */
export function encodeData(time: number, dir: '>' | '<', bytes: Buffer): [Buffer, Buffer] {
  const h = header(FRAME_DATA, time, 1 + bytes.length, 1);
  h[13] = DIR_BYTE[dir];
  return [h, bytes];
}

export function encodeEnd(time: number, dir: '>' | '<'): Buffer {
  const h = header(FRAME_END, time, 1, 1);
  h[13] = DIR_BYTE[dir];
  return h;
}

export function encodeExit(time: number, code: number | null, signal: string | null): Buffer {
  return jsonFrame(FRAME_EXIT, time, { code, signal });
}

export function encodeClose(time: number, reason: string | null): Buffer {
  return jsonFrame(FRAME_CLOSE, time, reason);
}

/** MODE (main → shim) or ACK (shim → main). */
export function encodeMode(type: typeof FRAME_MODE | typeof FRAME_ACK, time: number, mode: RelayMode): Buffer {
  const h = header(type, time, 1, 1);
  h[13] = mode.charCodeAt(0);
  return h;
}

export function encodePause(time: number, dir: '>' | '<', on: boolean): Buffer {
  const h = header(FRAME_PAUSE, time, 2, 2);
  h[13] = DIR_BYTE[dir];
  h[14] = on ? 1 : 0;
  return h;
}

function modeOf(b: number): RelayMode {
  const m = String.fromCharCode(b) as RelayMode;
  if (!MODES.includes(m)) throw new Error(`control frame: bad mode 0x${b.toString(16)}`);
  return m;
}

function dirOf(b: number): '>' | '<' {
  if (b === 0x3e) return '>';
  if (b === 0x3c) return '<';
  throw new Error(`control frame: bad direction byte 0x${b.toString(16)}`);
}

/** Splits a control stream into frames. push() throws on corrupt input. */
export class FrameReader {
  private chunks: Buffer[] = [];
  private length = 0;

  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.length += chunk.length;
    const out: Frame[] = [];
    for (;;) {
      if (this.length < 4) break;
      const size = this.peekSize();
      if (size < 9 || size > MAX_FRAME) throw new Error(`control frame: bad length ${size}`);
      if (this.length < 4 + size) break;
      this.take(4);
      out.push(this.decode(this.take(size)));
    }
    return out;
  }

  /** Bytes received that do not yet make a whole frame. */
  get pending(): number {
    return this.length;
  }

  private peekSize(): number {
    const first = this.chunks[0]!;
    if (first.length >= 4) return first.readUInt32BE(0);
    return Buffer.concat(this.chunks).readUInt32BE(0);
  }

  /** Removes and returns the next n bytes (a view when they lie in one chunk). */
  private take(n: number): Buffer {
    this.length -= n;
    const first = this.chunks[0]!;
    if (first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    return out;
  }

  private decode(f: Buffer): Frame {
    const type = f.readUInt8(0);
    const time = f.readDoubleBE(1);
    const body = f.subarray(9);
    switch (type) {
      case FRAME_OPEN:
        return { type, time, info: JSON.parse(body.toString('utf8')) as ShimOpenInfo };
      case FRAME_DATA:
        if (body.length < 1) throw new Error('control frame: empty DATA');
        return { type, time, dir: dirOf(body[0]!), bytes: body.subarray(1) };
      case FRAME_END:
        if (body.length !== 1) throw new Error('control frame: bad END');
        return { type, time, dir: dirOf(body[0]!) };
      case FRAME_EXIT: {
        const v = JSON.parse(body.toString('utf8')) as { code: number | null; signal: string | null };
        return { type, time, code: v.code ?? null, signal: v.signal ?? null };
      }
      case FRAME_CLOSE: {
        const v = JSON.parse(body.toString('utf8')) as unknown;
        return { type, time, reason: typeof v === 'string' ? v : null };
      }
      case FRAME_MODE:
      case FRAME_ACK:
        if (body.length !== 1) throw new Error('control frame: bad MODE/ACK');
        return { type, time, mode: modeOf(body[0]!) };
      case FRAME_PAUSE:
        if (body.length !== 2) throw new Error('control frame: bad PAUSE');
        return { type, time, dir: dirOf(body[0]!), on: body[1] === 1 };
      default:
        throw new Error(`control frame: unknown type ${type}`);
    }
  }
}
