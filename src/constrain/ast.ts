// The grammar every constraint compiles to before it becomes a byte automaton (program.ts): named rules whose
// bodies are trees of byte sets, sequences, alternatives, bounded or unbounded repetitions and rule references.
// JSON Schema (json-schema.ts), regular expressions (regex.ts) and GBNF grammars (gbnf.ts) all build these.
// Everything is over bytes: a character outside ASCII is the sequence of its UTF-8 bytes.

/** The typed error of everything in src/constrain: a constraint that is malformed, unsupported or too large. */
export class ConstraintError extends Error {
  override name = "ConstraintError";
  /** `param`: the request field it concerns; `status`: 400 (malformed, unsupported) or 413 (too large to compile). */
  constructor(message: string, readonly status: 400 | 413 = 400, readonly param = "response_format") { super(message); }
}

/** A set of bytes, 256 bits. */
export type ByteSet = Uint32Array;

export type Node =
  | { k: "set"; set: ByteSet }
  | { k: "seq"; items: Node[] }
  | { k: "alt"; items: Node[] }
  | { k: "rep"; item: Node; min: number; max: number } // max Infinity: unbounded
  | { k: "ref"; name: string };

export interface Grammar {
  rules: Map<string, Node>;
  root: string;
}

/**
 * The compile work a constraint may take, in units of grammar nodes and automaton elements; a constraint that
 * needs more is refused (413) rather than compiled slowly.
 */
export class Budget {
  used = 0;
  constructor(readonly limit = 400_000) {}
  charge(units: number, what = "the constraint"): void {
    this.used += units;
    if (this.used > this.limit) throw new ConstraintError(`${what} is too large to compile (over ${this.limit} grammar elements)`, 413);
  }
}

export const emptySet = (): ByteSet => new Uint32Array(8);
export const has = (s: ByteSet, b: number): boolean => (s[b >>> 5] & (1 << (b & 31))) !== 0;
export const add = (s: ByteSet, b: number): void => { s[b >>> 5] |= 1 << (b & 31); };
export function range(lo: number, hi: number): ByteSet {
  const s = emptySet();
  for (let b = lo; b <= hi; b++) add(s, b);
  return s;
}
export function bytes(...list: number[]): ByteSet {
  const s = emptySet();
  for (const b of list) add(s, b);
  return s;
}
export function union(a: ByteSet, b: ByteSet): ByteSet {
  const s = emptySet();
  for (let i = 0; i < 8; i++) s[i] = a[i] | b[i];
  return s;
}
export function minus(a: ByteSet, b: ByteSet): ByteSet {
  const s = emptySet();
  for (let i = 0; i < 8; i++) s[i] = a[i] & ~b[i];
  return s;
}
export const isEmpty = (s: ByteSet): boolean => s.every((w) => w === 0);

export const set = (s: ByteSet): Node => ({ k: "set", set: s });
export const byte = (b: number): Node => set(bytes(b));
export const seq = (...items: Node[]): Node => (items.length === 1 ? items[0] : { k: "seq", items });
export const alt = (...items: Node[]): Node => (items.length === 1 ? items[0] : { k: "alt", items });
export const rep = (item: Node, min: number, max: number): Node => ({ k: "rep", item, min, max });
export const opt = (item: Node): Node => rep(item, 0, 1);
export const star = (item: Node): Node => rep(item, 0, Infinity);
export const ref = (name: string): Node => ({ k: "ref", name });
export const EPSILON: Node = { k: "seq", items: [] };

const utf8 = new TextEncoder();

/** The exact bytes of a string (UTF-8). */
export function literal(text: string | Uint8Array): Node {
  const b = typeof text === "string" ? utf8.encode(text) : text;
  return seq(...Array.from(b, byte));
}

/** ASCII bytes 0x00–0x7F. */
export const ASCII = (): ByteSet => range(0, 0x7f);

/**
 * One well-formed UTF-8 character of two to four bytes (no surrogates, no overlong forms): what a `.` or a
 * negated class matches beyond ASCII.
 */
export function utf8Multibyte(): Node {
  const cont = () => set(range(0x80, 0xbf));
  return alt(
    seq(set(range(0xc2, 0xdf)), cont()),
    seq(byte(0xe0), set(range(0xa0, 0xbf)), cont()),
    seq(set(union(range(0xe1, 0xec), range(0xee, 0xef))), cont(), cont()),
    seq(byte(0xed), set(range(0x80, 0x9f)), cont()),
    seq(byte(0xf0), set(range(0x90, 0xbf)), cont(), cont()),
    seq(set(range(0xf1, 0xf3)), cont(), cont(), cont()),
    seq(byte(0xf4), set(range(0x80, 0x8f)), cont(), cont()),
  );
}

/**
 * Alternatives between literal byte strings, as a trie (shared prefixes are matched once): a thousand-value enum
 * costs its total length, not a thousand live branches per byte.
 */
export function literalChoice(values: Uint8Array[], budget: Budget): Node {
  interface Trie { end: boolean; next: Map<number, Trie> }
  const root: Trie = { end: false, next: new Map() };
  for (const v of values) {
    budget.charge(v.length + 1, "the enum");
    let t = root;
    for (const b of v) {
      let n = t.next.get(b);
      if (!n) t.next.set(b, (n = { end: false, next: new Map() }));
      t = n;
    }
    t.end = true;
  }
  const build = (t: Trie): Node => {
    const branches: Node[] = [];
    for (const [b, first] of t.next) {
      // a chain of single successors is one sequence (recursion only at branch points)
      const chain: Node[] = [byte(b)];
      let n = first;
      while (!n.end && n.next.size === 1) { const [[c, m]] = n.next; chain.push(byte(c)); n = m; }
      if (n.next.size > 0) chain.push(build(n));
      branches.push(seq(...chain));
    }
    if (t.end) branches.push(EPSILON);
    return alt(...branches);
  };
  return build(root);
}
