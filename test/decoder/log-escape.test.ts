// libmultiprocess's LogEscape as the log applies it to params/results.

import { describe, it, expect } from 'vitest';
import { logEscape } from '../../src/decoder/text.js';

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
});
