// The hexlog capture format (the oracle's input): one chunk a line,
// `> HEX` from the connecting side, `< HEX` back, `#` comments.

import { UserError } from './sources.js';
import type { Dir } from './messages.js';

export interface HexlogChunk {
  dir: Dir;
  bytes: Uint8Array;
  line: number;
}

export interface HexlogComment {
  text: string;
  line: number;
  /** The relay's microsecond timestamp, when the comment starts with one. */
  timeMicros?: number;
}

export interface Hexlog {
  chunks: HexlogChunk[];
  comments: HexlogComment[];
}

export function parseHexlog(text: string, name = 'hexlog'): Hexlog {
  const chunks: HexlogChunk[] = [];
  const comments: HexlogComment[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '');
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const body = line.slice(1).trim();
      const m = /^(\d{10,})\s/.exec(body);
      comments.push({ text: body, line: i + 1, ...(m ? { timeMicros: Number(m[1]) } : {}) });
      continue;
    }
    const dir = line[0];
    if ((dir !== '>' && dir !== '<') || (line.length > 1 && line[1] !== ' ')) {
      throw new UserError(`${name}:${i + 1}: expected '> HEX', '< HEX' or '# comment'`);
    }
    const hex = line.slice(2).trim();
    if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
      throw new UserError(`${name}:${i + 1}: not an even number of hex digits`);
    }
    chunks.push({ dir, bytes: Buffer.from(hex, 'hex'), line: i + 1 });
  }
  return { chunks, comments };
}
