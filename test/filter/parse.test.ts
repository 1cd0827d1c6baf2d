import { describe, expect, it } from 'vitest';
import { parseFilter, filterText } from '../../src/filter/parse.js';

const ok = (src: string) => {
  const r = parseFilter(src);
  if (!r.ok) throw new Error(`${src}: ${r.error} at ${r.pos}`);
  return filterText(r.expr);
};
const bad = (src: string) => {
  const r = parseFilter(src);
  if (r.ok) throw new Error(`${src} parsed as ${filterText(r.expr)}`);
  return r;
};

describe('filter parser', () => {
  it('parses every key', () => {
    expect(ok('method:waitNext')).toBe('method:"waitNext"');
    expect(ok('iface:Chain')).toBe('iface:"Chain"');
    expect(ok('thread:b-http')).toBe('thread:"b-http"');
    expect(ok('proc:wallet')).toBe('proc:"wallet"');
    expect(ok('conn:2')).toBe('conn:2');
    expect(ok('conn:c3')).toBe('conn:3');
    expect(ok('status:pending|exception|canceled|disconnected')).toBe('status:pending|exception|canceled|disconnected');
    expect(ok('text:"a b|c"')).toBe('text:"a b|c"');
    expect(ok('getBalances')).toBe('"getBalances"');
  });

  it('reads latencies with units and comparisons', () => {
    expect(ok('slow:>100ms')).toBe('slow:>100ms');
    expect(ok('slow:2s')).toBe('slow:>=2000ms');
    expect(ok('slow:<=500us')).toBe('slow:<=0.5ms');
  });

  it('combines with ! & | and parentheses, & binding tighter than |', () => {
    expect(ok('a | b & c')).toBe('("a" | ("b" & "c"))');
    expect(ok('(a | b) & !c')).toBe('(("a" | "b") & !"c")');
    expect(ok('a b')).toBe('("a" & "b")');
    expect(ok('!!status:pending')).toBe('!!status:pending');
    expect(ok('status:pending | method:x')).toBe('(status:pending | method:"x")');
  });

  it('accepts the empty filter (everything)', () => {
    const r = parseFilter('   ');
    expect(r.ok && r.expr.k).toBe('all');
  });

  it('reports invalid input with a position, never throws', () => {
    expect(bad('method:')).toMatchObject({ error: 'method: needs a value', pos: 7 });
    expect(bad('foo:bar')).toMatchObject({ pos: 0 });
    expect(bad('foo:bar').error).toContain("unknown key 'foo:'");
    expect(bad('status:done').error).toContain('status: one of pending');
    expect(bad('slow:fast').error).toContain('slow: needs a latency');
    expect(bad('conn:x').error).toContain('conn: needs a connection number');
    expect(bad('text:(').error).toContain('text: invalid regular expression');
    expect(bad('(method:a')).toMatchObject({ error: "missing ')'", pos: 9 });
    expect(bad('method:a )')).toMatchObject({ error: "unexpected ')'", pos: 9 });
    expect(bad('a &')).toMatchObject({ error: 'expression ends early', pos: 3 });
    expect(bad('| a').error).toBe("unexpected '|'");
    expect(bad('text:"abc').error).toBe('unterminated quote');
    for (const s of ['(', ')', '!', '&&', '((a)', '"', 'a:b:c', 'slow:>', '!()']) expect(parseFilter(s).ok).toBe(false);
  });
});
