// GBNF (llama.cpp's grammar notation) into the grammar of ast.ts: `name ::= alternatives`, "literals",
// [character classes] (with ^ and ranges), rule names, ( groups ), `.`, postfix * + ? {m} {m,} {m,n}, # comments.
// The start rule is `root`. Left recursion is refused (a top-down byte automaton cannot run it).
import {
  ASCII, type ByteSet, ConstraintError, EPSILON, type Grammar, type Node, add, alt, emptySet, literal, minus, ref, rep, seq, set,
  utf8Multibyte,
} from "./ast.ts";
import { MAX_REPEAT } from "./regex.ts";

export const MAX_GRAMMAR_CHARS = 65_536;

export function parseGbnf(text: string): Grammar {
  const fail = (msg: string, at?: number): never => {
    const where = at === undefined ? "" : ` (line ${text.slice(0, at).split("\n").length})`;
    throw new ConstraintError(`grammar${where}: ${msg}`);
  };
  if (text.length > MAX_GRAMMAR_CHARS) throw new ConstraintError(`a grammar of ${text.length} characters is over the ${MAX_GRAMMAR_CHARS}-character limit`, 413);
  const cps = Array.from(text, (c) => c.codePointAt(0)!);
  let i = 0, depth = 0;
  const rules = new Map<string, Node>();
  const used = new Map<string, number>();

  const isName = (c: number | undefined) => c !== undefined && (/[A-Za-z0-9_-]/.test(String.fromCodePoint(c)));
  const skip = (newlines: boolean) => {
    for (;;) {
      const c = cps[i];
      if (c === 0x23) { while (cps[i] !== undefined && cps[i] !== 0x0a) i++; continue; }
      if (c === 0x20 || c === 0x09 || c === 0x0d || (newlines && c === 0x0a)) { i++; continue; }
      // a newline followed by more indented text or a continuing operator keeps the rule going
      if (c === 0x0a && !newlines) {
        let k = i + 1;
        while (cps[k] === 0x20 || cps[k] === 0x09 || cps[k] === 0x0d || cps[k] === 0x0a) k++;
        if (startsRule(k) || cps[k] === undefined) return;
        i = k; continue;
      }
      return;
    }
  };
  const name = (): string => {
    const s = i;
    while (isName(cps[i])) i++;
    if (s === i) fail("a rule name expected", s);
    return String.fromCodePoint(...cps.slice(s, i));
  };
  /** Whether a rule definition (`name ::=`) starts at k. */
  function startsRule(k: number): boolean {
    let j = k;
    while (isName(cps[j])) j++;
    if (j === k) return false;
    while (cps[j] === 0x20 || cps[j] === 0x09) j++;
    return cps[j] === 0x3a && cps[j + 1] === 0x3a && cps[j + 2] === 0x3d;
  }
  const escapeChar = (): number => {
    const c = cps[i++];
    const hex = (n: number) => {
      const h = String.fromCodePoint(...cps.slice(i, i + n));
      if (!/^[0-9a-fA-F]+$/.test(h) || h.length !== n) fail("a malformed escape", i);
      i += n;
      return parseInt(h, 16);
    };
    switch (c) {
      case 0x6e: return 0x0a;
      case 0x72: return 0x0d;
      case 0x74: return 0x09;
      case 0x78: return hex(2);
      case 0x75: return hex(4);
      case 0x55: return hex(8);
      case 0x5c: case 0x22: case 0x5b: case 0x5d: case 0x2d: case 0x5e: return c;
      default: return fail("an unknown escape", i - 1);
    }
  };
  const charNode = (cp: number): Node => (cp < 0x80 ? set(((s) => (add(s, cp), s))(emptySet())) : literal(String.fromCodePoint(cp)));

  const classNode = (): Node => {
    const at = i;
    i++; // [
    let negated = false;
    if (cps[i] === 0x5e) { negated = true; i++; }
    const s: ByteSet = emptySet();
    const wide: Node[] = [];
    while (cps[i] !== 0x5d) {
      if (cps[i] === undefined) fail("an unterminated character class", at);
      let lo = cps[i++];
      if (lo === 0x5c) lo = escapeChar();
      let hi = lo;
      if (cps[i] === 0x2d && cps[i + 1] !== 0x5d && cps[i + 1] !== undefined) {
        i++;
        hi = cps[i++];
        if (hi === 0x5c) hi = escapeChar();
        if (hi < lo) fail("a character range out of order", at);
      }
      for (let cp = lo; cp <= Math.min(hi, 0x7f); cp++) add(s, cp);
      if (hi >= 0x80) {
        if (negated) fail("a negated class listing characters beyond ASCII is not supported", at);
        if (hi - Math.max(lo, 0x80) > 255) fail("a character range of more than 256 characters beyond ASCII is not supported", at);
        for (let cp = Math.max(lo, 0x80); cp <= hi; cp++) if (cp < 0xd800 || cp > 0xdfff) wide.push(literal(String.fromCodePoint(cp)));
      }
    }
    i++;
    if (negated) return alt(set(minus(ASCII(), s)), utf8Multibyte());
    return alt(set(s), ...wide);
  };

  const term = (): Node => {
    const c = cps[i];
    if (c === 0x22) { // "literal"
      const at = i++;
      const parts: Node[] = [];
      while (cps[i] !== 0x22) {
        if (cps[i] === undefined || cps[i] === 0x0a) fail("an unterminated string", at);
        let cp = cps[i++];
        if (cp === 0x5c) cp = escapeChar();
        parts.push(charNode(cp));
      }
      i++;
      return parts.length ? seq(...parts) : EPSILON;
    }
    if (c === 0x5b) return classNode();
    if (c === 0x2e) { i++; return alt(set(minus(ASCII(), ((s) => (add(s, 0x0a), s))(emptySet()))), utf8Multibyte()); }
    if (c === 0x28) {
      const at = i++;
      if (++depth > 256) fail("groups nested more than 256 deep", at);
      skip(true);
      const inner = alternatives(true);
      depth--;
      if (cps[i] !== 0x29) fail("an unclosed group", at);
      i++;
      return inner;
    }
    if (isName(c)) {
      const at = i, n = name();
      if (!used.has(n)) used.set(n, at);
      return ref(n);
    }
    return fail(c === undefined ? "unexpected end of the grammar" : `unexpected ${JSON.stringify(String.fromCodePoint(c))}`, i);
  };

  const postfix = (): Node => {
    let t = term();
    for (;;) {
      const c = cps[i];
      if (c === 0x2a) { i++; t = rep(t, 0, Infinity); }
      else if (c === 0x2b) { i++; t = rep(t, 1, Infinity); }
      else if (c === 0x3f) { i++; t = rep(t, 0, 1); }
      else if (c === 0x7b) {
        const m = /^\{\s*(\d+)\s*(,\s*(\d*)\s*)?\}/.exec(String.fromCodePoint(...cps.slice(i, i + 32)));
        if (!m) fail("a malformed repetition {m,n}", i);
        const min = Number(m![1]), max = m![2] === undefined ? min : m![3] === "" ? Infinity : Number(m![3]);
        if (max < min) fail("a repetition {m,n} with n < m", i);
        if (min > MAX_REPEAT || (max !== Infinity && max > MAX_REPEAT)) throw new ConstraintError(`grammar: a repetition bound over ${MAX_REPEAT}`, 413);
        i += m![0].length;
        t = rep(t, min, max);
      } else return t;
    }
  };

  const sequence = (nested: boolean): Node => {
    const items: Node[] = [];
    for (;;) {
      skip(nested);
      const c = cps[i];
      if (c === undefined || c === 0x7c || c === 0x29 || c === 0x0a) break;
      if (!nested && startsRule(i)) break;
      items.push(postfix());
    }
    return items.length === 0 ? EPSILON : seq(...items);
  };

  function alternatives(nested: boolean): Node {
    const items = [sequence(nested)];
    while (cps[i] === 0x7c) { i++; items.push(sequence(nested)); }
    return alt(...items);
  }

  skip(true);
  while (i < cps.length) {
    const at = i, n = name();
    skip(false);
    if (!(cps[i] === 0x3a && cps[i + 1] === 0x3a && cps[i + 2] === 0x3d)) fail(`"::=" expected after ${n}`, at);
    i += 3;
    const body = alternatives(false);
    if (rules.has(n)) fail(`rule ${n} is defined twice`, at);
    rules.set(n, body);
    skip(true);
  }
  if (!rules.has("root")) fail("no rule named root");
  for (const [n, at] of used) if (!rules.has(n)) fail(`rule ${n} is used but not defined`, at);
  const g: Grammar = { rules, root: "root" };
  refuseLeftRecursion(g);
  return g;
}

/** Whether a node can match the empty string, given the rules known to (nullable). */
function nullable(n: Node, rules: Set<string>): boolean {
  switch (n.k) {
    case "set": return false;
    case "seq": return n.items.every((x) => nullable(x, rules));
    case "alt": return n.items.some((x) => nullable(x, rules));
    case "rep": return n.min === 0 || nullable(n.item, rules);
    case "ref": return rules.has(n.name);
  }
}

/** The rules a node may begin with (before consuming any byte). */
function leftRefs(n: Node, nul: Set<string>, out: Set<string>): void {
  switch (n.k) {
    case "set": return;
    case "seq": for (const x of n.items) { leftRefs(x, nul, out); if (!nullable(x, nul)) return; } return;
    case "alt": for (const x of n.items) leftRefs(x, nul, out); return;
    case "rep": leftRefs(n.item, nul, out); return;
    case "ref": out.add(n.name);
  }
}

/** Throws when some rule can reach itself without consuming a byte (A ::= A "x" | …, directly or through others). */
export function refuseLeftRecursion(g: Grammar): void {
  const nul = new Set<string>();
  for (let changed = true; changed;) {
    changed = false;
    for (const [n, body] of g.rules) if (!nul.has(n) && nullable(body, nul)) { nul.add(n); changed = true; }
  }
  const first = new Map<string, Set<string>>();
  for (const [n, body] of g.rules) { const s = new Set<string>(); leftRefs(body, nul, s); first.set(n, s); }
  for (const start of g.rules.keys()) {
    const seen = new Set<string>(), todo = [...first.get(start)!];
    while (todo.length) {
      const r = todo.pop()!;
      if (r === start) throw new ConstraintError(`grammar: rule ${start} is left-recursive (it can reach itself before reading a byte)`);
      if (seen.has(r)) continue;
      seen.add(r);
      todo.push(...(first.get(r) ?? []));
    }
  }
}
