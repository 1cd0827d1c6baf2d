// Files ipc-trace writes on request (--out): created mode 0600, never through
// a symlink, and an existing file only replaced with --force.

import { constants, lstatSync, openSync, writeSync } from 'node:fs';
import { UserError } from '../decoder/sources.js';

/** Opens `path` for writing and returns the descriptor (UserError if it exists without --force, or is a symlink). */
export function openOutFile(path: string, force: boolean): number {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    st = null;
  }
  if (st?.isSymbolicLink()) throw new UserError(`${path} is a symbolic link: ipc-trace does not write through one`);
  if (st && !force) throw new UserError(`${path} already exists (--force replaces it)`);
  if (st && !st.isFile()) throw new UserError(`${path} is not a regular file`);
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | (st ? constants.O_TRUNC : constants.O_EXCL);
  try {
    return openSync(path, flags, 0o600);
  } catch (e) {
    throw new UserError(`cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Buffered UTF-8 text output to a descriptor (the JSON exports). */
export class TextWriter {
  private buf: string[] = [];
  private size = 0;
  constructor(private readonly fd: number) {}
  write(s: string): void {
    this.buf.push(s);
    this.size += s.length;
    if (this.size > 1 << 20) this.flush();
  }
  flush(): void {
    if (!this.buf.length) return;
    const data = Buffer.from(this.buf.join(''), 'utf8');
    this.buf = [];
    this.size = 0;
    let off = 0;
    while (off < data.length) {
      try {
        off += writeSync(this.fd, data, off);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') continue;
        if (code === 'EPIPE') process.exit(0);
        throw e;
      }
    }
  }
}
