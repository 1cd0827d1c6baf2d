// Writing to stdout without losing bytes: decoded text is a byte string (one
// char per byte), so it is written as latin1, byte for byte what C++ prints.

import { writeSync } from 'node:fs';

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

/** Buffered writer to a file descriptor (stdout by default), latin1-encoded. */
export class ByteWriter {
  private buf: string[] = [];
  private size = 0;
  constructor(private readonly fd = 1) {}
  line(s: string): void {
    this.buf.push(s, '\n');
    this.size += s.length + 1;
    if (this.size > 1 << 16) this.flush();
  }
  flush(): void {
    if (this.buf.length === 0) return;
    const data = Buffer.from(this.buf.join(''), 'latin1');
    this.buf = [];
    this.size = 0;
    let off = 0;
    while (off < data.length) {
      try {
        off += writeSync(this.fd, data, off);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') continue;
        if ((e as NodeJS.ErrnoException).code === 'EPIPE') process.exit(0);
        throw e;
      }
    }
  }
}
