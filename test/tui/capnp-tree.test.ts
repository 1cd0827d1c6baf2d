import { describe, expect, it } from 'vitest';
import { parseCapnpText, treeLines, unescapeBytes, hex } from '../../src/tui/capnp-tree.js';

describe('capnp text as a tree', () => {
  const text =
    '(context = (thread = <external capability>, callbackThread = <external capability>), block = (height = 192, hash = "\\n[,\\271\\243;\\272\\363\\345=MFt\\343\\315\\356\\v\\213\\371\\332\\215X4\\001Z\\203\\035\\257\\313r\\n\\350", found = true), names = ["a", "b\\"c"], empty = [])';

  it('unescapes C escapes to bytes', () => {
    expect(Array.from(unescapeBytes('a\\n\\001\\377\\x41\\"'))).toEqual([0x61, 10, 1, 255, 0x41, 0x22]);
  });

  it('nests structs and lists, shows data as hex and a hash in display order', () => {
    const root = parseCapnpText(text, 'params');
    expect(root.children.map((c) => c.name)).toEqual(['context', 'block', 'names', 'empty']);
    const block = root.children[1]!;
    expect(block.children.map((c) => `${c.name}:${c.kind}`)).toEqual(['height:atom', 'hash:data', 'found:atom']);
    const hash = block.children[1]!;
    expect(hash.bytes!.length).toBe(32);
    expect(hex(hash.bytes!).slice(0, 8)).toBe('0a5b2cb9');
    const rev = hash.children.find((c) => c.name === 'display order')!;
    expect(rev.summary).toBe(hex(hash.bytes!.slice().reverse()));
    expect(rev.summary.endsWith('b92c5b0a')).toBe(true);
    expect(root.children[2]!.children.map((c) => c.summary)).toEqual(['"a"', '"b\\"c"']);
    expect(root.children[3]!.summary).toBe('[0 items]');
  });

  it('folds: a folded node shows its summary, its children hidden', () => {
    const root = parseCapnpText(text, 'params');
    const open = treeLines(root, new Set());
    expect(open.map((l) => l.text)).toContain('height = 192');
    const folded = treeLines(root, new Set(['params.block']));
    expect(folded.map((l) => l.text)).not.toContain('height = 192');
    expect(folded.find((l) => l.path === 'params.block')).toMatchObject({ folded: true, text: 'block = (3 fields)' });
  });
});
