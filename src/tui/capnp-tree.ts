// Params and results in Cap'n Proto text format as a foldable tree: a
// struct's fields and a list's items become child nodes; quoted strings are
// unescaped to their bytes, shown as text when printable and as hex when
// not; a 32-byte value in a field named like a hash also in Bitcoin's
// reversed display order.

export interface TreeNode {
  /** Path from the root (`params.block.hash`), the key folding is remembered by. */
  path: string;
  name: string;
  kind: 'struct' | 'list' | 'text' | 'data' | 'atom';
  /** One-line summary of the value. */
  summary: string;
  children: TreeNode[];
  bytes?: Uint8Array;
}

const SIMPLE_ESC: Record<string, number> = { n: 10, t: 9, r: 13, a: 7, b: 8, f: 12, v: 11, '\\': 92, "'": 39, '"': 34, '?': 63 };

/** The bytes of a capnp text-format string body (between the quotes), unescaped. */
export function unescapeBytes(s: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c !== '\\') {
      out.push(s.charCodeAt(i) & 0xff);
      continue;
    }
    const n = s[++i];
    if (n === undefined) break;
    if (n === 'x') {
      const m = /^[0-9a-fA-F]{1,2}/.exec(s.slice(i + 1));
      if (m) {
        out.push(parseInt(m[0], 16));
        i += m[0].length;
      }
    } else if (/[0-7]/.test(n)) {
      const m = /^[0-7]{1,3}/.exec(s.slice(i))!;
      out.push(parseInt(m[0], 8) & 0xff);
      i += m[0].length - 1;
    } else out.push(SIMPLE_ESC[n] ?? n.charCodeAt(0));
  }
  return Uint8Array.from(out);
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
}

const printable = (b: Uint8Array) => b.every((x) => (x >= 0x20 && x < 0x7f) || x === 10 || x === 9 || x >= 0xc2);

export const isHashField = (name: string) => /hash|txid|^id$|uint256/i.test(name);

class P {
  i = 0;
  constructor(readonly s: string) {}
  ws() {
    while (this.i < this.s.length && /\s/.test(this.s[this.i]!)) this.i++;
  }
  peek() {
    this.ws();
    return this.s[this.i];
  }
}

function parseValue(p: P, name: string, path: string): TreeNode {
  const c = p.peek();
  if (c === '(') {
    p.i++;
    const children: TreeNode[] = [];
    while (p.peek() !== ')' && p.i < p.s.length) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(p.s.slice(p.i));
      if (!m) break;
      p.i += m[0].length;
      if (p.peek() === '=') p.i++;
      children.push(parseValue(p, m[0], `${path}.${m[0]}`));
      if (p.peek() === ',') p.i++;
    }
    if (p.peek() === ')') p.i++;
    return { path, name, kind: 'struct', summary: children.length ? `(${children.length} field${children.length > 1 ? 's' : ''})` : '()', children };
  }
  if (c === '[') {
    p.i++;
    const children: TreeNode[] = [];
    while (p.peek() !== ']' && p.i < p.s.length) {
      const before = p.i;
      children.push(parseValue(p, `[${children.length}]`, `${path}[${children.length}]`));
      if (p.peek() === ',') p.i++;
      if (p.i === before) break;
    }
    if (p.peek() === ']') p.i++;
    return { path, name, kind: 'list', summary: `[${children.length} item${children.length === 1 ? '' : 's'}]`, children };
  }
  if (c === '"') {
    const start = ++p.i;
    while (p.i < p.s.length && p.s[p.i] !== '"') p.i += p.s[p.i] === '\\' ? 2 : 1;
    const body = p.s.slice(start, p.i);
    p.i++;
    const bytes = unescapeBytes(body);
    if (printable(bytes)) {
      return { path, name, kind: 'text', summary: `"${body}"`, children: [], bytes };
    }
    const children: TreeNode[] = [];
    if (bytes.length === 32 && isHashField(name)) {
      children.push({ path: `${path}#rev`, name: 'display order', kind: 'atom', summary: hex(bytes.slice().reverse()), children: [] });
    }
    for (let o = 0; o < bytes.length; o += 16) {
      const row = bytes.subarray(o, o + 16);
      children.push({ path: `${path}#${o}`, name: o.toString(16).padStart(4, '0'), kind: 'atom', summary: hexRow(row), children: [] });
    }
    return { path, name, kind: 'data', summary: `<${bytes.length} bytes> ${hex(bytes.subarray(0, 16))}${bytes.length > 16 ? '…' : ''}`, children, bytes };
  }
  // An atom: number, enum, void, <external capability>, up to the next separator.
  const start = p.i;
  let depth = 0;
  while (p.i < p.s.length) {
    const ch = p.s[p.i]!;
    if (ch === '<') depth++;
    else if (ch === '>') depth--;
    else if (depth <= 0 && (ch === ',' || ch === ')' || ch === ']')) break;
    p.i++;
  }
  return { path, name, kind: 'atom', summary: p.s.slice(start, p.i).trim(), children: [] };
}

function hexRow(b: Uint8Array): string {
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
  const a = Array.from(b, (x) => (x >= 0x20 && x < 0x7f ? String.fromCharCode(x) : '.')).join('');
  return `${h.padEnd(47)}  ${a}`;
}

/** The tree of a capnp text-format value (params or results). */
export function parseCapnpText(text: string, name: string): TreeNode {
  const p = new P(text);
  return parseValue(p, name, name);
}

export interface TreeLine {
  path: string;
  depth: number;
  text: string;
  foldable: boolean;
  folded: boolean;
  kind: TreeNode['kind'];
}

/** The visible lines of a tree: a folded node shows its summary only. Data nodes start folded unless listed in `open`. */
export function treeLines(root: TreeNode, toggled: ReadonlySet<string>, depth = 0, out: TreeLine[] = []): TreeLine[] {
  const foldable = root.children.length > 0;
  const defaultFolded = root.kind === 'data' && root.bytes !== undefined && root.bytes.length > 32;
  const folded = foldable && (toggled.has(root.path) ? !defaultFolded : defaultFolded);
  const showSummary = root.kind !== 'struct' && root.kind !== 'list' ? root.summary : folded ? root.summary : root.kind === 'list' ? root.summary : '';
  out.push({ path: root.path, depth, text: `${root.name}${showSummary ? ' = ' + showSummary : ''}`, foldable, folded, kind: root.kind });
  if (!folded) for (const c of root.children) treeLines(c, toggled, depth + 1, out);
  return out;
}
