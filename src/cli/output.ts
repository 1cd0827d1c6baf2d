// Writing to stdout without losing bytes: decoded text is a byte string (one
// char per byte), so it is written as latin1, byte for byte what C++ prints.

import { accessSync, closeSync, constants, fchmodSync, fstatSync, lstatSync, openSync, statSync, writeSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import { UserError } from '../decoder/sources.js';

/** JSON string escaping exactly as capnp-oracle does it. */
export function jsonString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c < 0x20) out += '\\u' + c.toString(16).padStart(4, '0');
    else out += s[i];
  }
  return out + '"';
}

/** A JSON object from ordered [key, value] pairs; string values are byte strings. */
export function jsonObject(entries: [string, string | number | boolean | undefined | null][]): string {
  const parts: string[] = [];
  for (const [k, v] of entries) {
    if (v === undefined) continue;
    parts.push(jsonString(k) + ':' + (typeof v === 'string' ? jsonString(v) : String(v)));
  }
  return '{' + parts.join(',') + '}';
}

/**
 * Buffered writer to a file descriptor (stdout by default): latin1 for the
 * log and hexlogs (byte strings), utf8 for the JSON exports.
 * When the reader goes away (EPIPE, e.g. `| head -1`) a one-shot command
 * exits quietly; with `onClosed` (a recording) the writer instead drops
 * everything from then on and tells its owner, which carries on.
 */
export class ByteWriter {
  /** Pending bytes: text is encoded straight into it, never joined first. */
  private readonly buf = Buffer.allocUnsafe(1 << 16);
  private size = 0;
  /** The reader went away: nothing more is written. */
  closed = false;
  constructor(
    private readonly fd = 1,
    private readonly onClosed?: () => void,
    private readonly encoding: 'latin1' | 'utf8' = 'latin1',
  ) {}
  line(s: string): void {
    if (this.encoding !== 'latin1' || this.closed || this.size + s.length + 1 > this.buf.length) {
      this.write(s);
      this.write('\n');
      return;
    }
    // The common case in one call: the text, then the newline as a byte.
    this.size += this.buf.write(s, this.size, s.length, 'latin1');
    this.buf[this.size++] = 0x0a;
  }
  write(s: string): void {
    if (this.closed) return;
    const bytes = this.encoding === 'latin1' ? s.length : Buffer.byteLength(s, 'utf8');
    if (this.size + bytes > this.buf.length) {
      this.flush();
      if (bytes > this.buf.length) {
        this.writeAll(Buffer.from(s, this.encoding), bytes);
        return;
      }
    }
    this.size += this.buf.write(s, this.size, bytes, this.encoding);
  }
  flush(): void {
    if (this.size === 0) return;
    const n = this.size;
    this.size = 0;
    this.writeAll(this.buf, n);
  }
  private writeAll(data: Buffer, length: number): void {
    if (this.closed) return;
    let off = 0;
    while (off < length) {
      try {
        off += writeSync(this.fd, data, off, length - off);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') continue;
        if ((e as NodeJS.ErrnoException).code === 'EPIPE') {
          if (!this.onClosed) process.exit(0);
          this.closed = true;
          this.onClosed();
          return;
        }
        throw e;
      }
    }
  }
}

/** How an output file may be created. */
export interface OutputFileOptions {
  /** Replace an existing regular file (never a symbolic link, never anything else). */
  force?: boolean;
  /** The option that named the file, for messages (`--log`, `--out`, `--db`). */
  option?: string;
}

/**
 * Checks, without creating anything, that `path` can be created as an output
 * file: its directory exists, and nothing is there (or, with `force`, only a
 * regular file). Throws a one-line UserError otherwise. Commands check every
 * output before creating any, so a bad one leaves nothing behind.
 */
export function checkOutputFile(path: string, opts: OutputFileOptions = {}): void {
  const what = opts.option ? `${opts.option} ${path}` : path;
  let st: Stats | undefined;
  try {
    st = lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new UserError(`cannot create ${what}: ${(e as NodeJS.ErrnoException).code}`);
  }
  if (st) {
    if (st.isSymbolicLink()) throw new UserError(`${what} is a symbolic link: ipc-trace does not write through one`);
    if (!st.isFile()) throw new UserError(`${what} exists and is not a regular file`);
    if (!opts.force) throw new UserError(`${what} already exists (use --force to replace it)`);
    return;
  }
  const dir = dirname(path);
  let d: Stats;
  try {
    d = statSync(dir);
  } catch (e) {
    throw new UserError(`cannot create ${what}: no directory ${dir}`);
  }
  if (!d.isDirectory()) throw new UserError(`cannot create ${what}: ${dir} is not a directory`);
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new UserError(`cannot create ${what}: ${dir} is not writable`);
  }
}

/**
 * Creates an output file ipc-trace writes (a log, an export, a session
 * database) and returns its descriptor, open for writing: mode 0600 whatever
 * the umask, never through a symbolic link, never over an existing file
 * unless `force` (then an existing regular file is truncated and made 0600).
 */
export function createOutputFile(path: string, opts: OutputFileOptions = {}): number {
  checkOutputFile(path, opts);
  const what = opts.option ? `${opts.option} ${path}` : path;
  const { O_WRONLY, O_CREAT, O_EXCL, O_TRUNC, O_NOFOLLOW } = constants;
  const flags = O_WRONLY | O_CREAT | O_NOFOLLOW | (opts.force ? O_TRUNC : O_EXCL);
  let fd: number;
  try {
    fd = openSync(path, flags, 0o600);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new UserError(`${what} already exists (use --force to replace it)`);
    if (code === 'ELOOP') throw new UserError(`${what} is a symbolic link: ipc-trace does not write through one`);
    throw new UserError(`cannot create ${what}: ${code}`);
  }
  try {
    if (!fstatSync(fd).isFile()) throw new UserError(`${what} exists and is not a regular file`);
    fchmodSync(fd, 0o600);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return fd;
}

/**
 * Appends to an output file this process created (createOutputFile) and
 * another thread wrote: only if the path still names that file (device and
 * inode), never through a symbolic link. False when it does not.
 */
export function appendToOwnFile(file: { path: string; dev: number; ino: number }, text: string): boolean {
  const { O_WRONLY, O_APPEND, O_NOFOLLOW } = constants;
  let fd: number;
  try {
    fd = openSync(file.path, O_WRONLY | O_APPEND | O_NOFOLLOW);
  } catch {
    return false;
  }
  try {
    const st = fstatSync(fd);
    if (st.dev !== file.dev || st.ino !== file.ino) return false;
    writeSync(fd, text);
    return true;
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}

/** Writes a whole output file created as createOutputFile does. */
export function writeOutputFile(path: string, data: Uint8Array, opts: OutputFileOptions = {}): void {
  const fd = createOutputFile(path, opts);
  try {
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off);
  } finally {
    closeSync(fd);
  }
}

/** Rows as aligned columns: the first left-aligned, the others right-aligned (numbers), two spaces apart. */
export function alignTable(head: string[], rows: string[][]): string[] {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ').trimEnd();
  return [fmt(head), ...rows.map(fmt)];
}
