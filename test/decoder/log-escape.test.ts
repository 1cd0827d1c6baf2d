// libmultiprocess's LogEscape as the log applies it to params/results.

import { describe, it, expect } from 'vitest';
import { escapeData, logEscape } from '../../src/decoder/text.js';

describe('logEscape', () => {
  it('leaves printable ASCII as it is', () => {
    expect(logEscape('(height = 12, hash = "ab~ ")')).toBe('(height = 12, hash = "ab~ ")');
    expect(logEscape('')).toBe('');
  });

  it('doubles backslashes and writes other bytes as two hex digits', () => {
    expect(logEscape('a\\b')).toBe('a\\\\b');
    expect(logEscape('x\ny\x00\x7f\xff')).toBe('x\\0ay\\00\\7f\\ff');
  });

  it('cuts after maxChars characters of output, with ...', () => {
    expect(logEscape('abcdef', 3)).toBe('abcd...');
    expect(logEscape('abc', 3)).toBe('abc');
    expect(logEscape('a\nbc', 3)).toBe('a\\0a...');
    expect(logEscape('abc', 0)).toBe('a...');
  });

  it('escapes texts longer than its scratch buffer, and each result stays its own', () => {
    const long = 'a\\\x01'.repeat(400_000); // 1.2 MB: output past the 1 MiB scratch
    const out = logEscape(long);
    expect(out.length).toBe(400_000 * 6);
    expect(out.slice(0, 12)).toBe('a\\\\\\01a\\\\\\01');
    expect(logEscape('x\x00')).toBe('x\\00');
    expect(out.slice(0, 6)).toBe('a\\\\\\01');
    expect(logEscape(long, 10)).toBe('a\\\\\\01a\\\\\\01...');
  });

  it('escapes a character beyond a byte with all its hex digits', () => {
    expect(logEscape('a\u0100b')).toBe('a\\100b');
  });
});

describe('escapeData', () => {
  it('writes Data as kj does: named escapes, other control bytes and bytes >= 0x7f in octal', () => {
    expect(escapeData(new Uint8Array([0x61, 0x07, 0x0a, 0x27, 0x22, 0x5c, 0x00, 0x1f, 0x7e, 0x7f, 0xff]))).toBe('a\\a\\n\\\'\\"\\\\\\000\\037~\\177\\377');
    expect(escapeData(new Uint8Array(0))).toBe('');
  });

  it('escapes Data longer than its scratch buffer', () => {
    const b = new Uint8Array(300_000).fill(0x80); // 1.2 MB escaped
    const out = escapeData(b);
    expect(out.length).toBe(1_200_000);
    expect(out.slice(0, 8)).toBe('\\200\\200');
  });
});
