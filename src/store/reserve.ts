// A few hundred KiB of disk held next to a session database while it is
// recorded, released when writing fails for lack of space (or at the end) so
// the database can still say why the recording stopped and close cleanly.

import { closeSync, openSync, unlinkSync, writeSync, fstatSync, lstatSync } from 'node:fs';

export class SpaceReserve {
  private constructor(
    readonly path: string,
    readonly ino: number,
  ) {}

  /** A reserve another thread created (its path and inode), to release it in its place. */
  static adopt(path: string, ino: number): SpaceReserve {
    return new SpaceReserve(path, ino);
  }

  /** Creates DB-reserve (mode 0600, never replacing an existing file); null if it cannot. */
  static create(dbPath: string, bytes = 256 * 1024): SpaceReserve | null {
    const path = `${dbPath}-reserve`;
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o600);
    } catch {
      return null;
    }
    const ino = fstatSync(fd).ino;
    try {
      writeSync(fd, Buffer.alloc(bytes));
    } catch {
      // a partial reserve is better than none
    } finally {
      closeSync(fd);
    }
    return new SpaceReserve(path, ino);
  }

  /** Gives the space back (removes the file, if it is still ours). */
  release(): void {
    try {
      if (lstatSync(this.path).ino === this.ino) unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}
