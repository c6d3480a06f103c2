// Regular expressions (ECMAScript syntax, the part that describes a regular language) into the grammar of
// ast.ts. Matching is an automaton (program.ts, matcher.ts), never backtracking: a "catastrophic" pattern such as
// (a+)+$ costs what any other pattern of its size costs. Unsupported: backreferences, lookaround, \b, flags.
import {
  ASCII, type ByteSet, ConstraintError, EPSILON, type Node, add, alt, emptySet, isEmpty, literal, minus, range, rep, seq, set,
  union, utf8Multibyte,
} from "./ast.ts";

export const MAX_PATTERN_CHARS = 4096;
/** Largest bound of a counted repetition ({m,n}); the compile budget bounds the total too. */
export const MAX_REPEAT = 10_000;

export interface RegexOptions {
  /** ASCII bytes the language never contains (inside a JSON string: the quote, the backslash, control bytes). */
  exclude?: ByteSet;
  /** The field named in errors. */
  param?: string;
}

export interface ParsedRegex {
  node: Node;
  /** Whether the pattern began with ^ / ended with $ (JSON Schema patterns match anywhere unless anchored). */
  anchoredStart: boolean;
  anchoredEnd: boolean;
}

const DIGITS = () => range(0x30, 0x39);
const WORD = () => { const s = union(union(range(0x30, 0x39), range(0x41, 0x5a)), range(0x61, 0x7a)); add(s, 0x5f); return s; };
const SPACE = () => { const s = emptySet(); for (const b of [0x20, 0x09, 0x0a, 0x0d, 0x0c, 0x0b]) add(s, b); return s; };

export function parseRegex(pattern: string, options: RegexOptions = {}): ParsedRegex {
  const param = options.param ?? "response_format";
  const fail = (msg: string): never => { throw new ConstraintError(`pattern ${JSON.stringify(pattern.slice(0, 80))}: ${msg}`, 400, param); };
  if (pattern.length > MAX_PATTERN_CHARS) throw new ConstraintError(`a pattern of ${pattern.length} characters is over the ${MAX_PATTERN_CHARS}-character limit`, 413, param);
  const cps = Array.from(pattern, (c) => c.codePointAt(0)!);
  const exclude = options.exclude ?? emptySet();
  let i = 0, depth = 0;
  const anchoredStart = cps[0] === 0x5e; // ^
  if (anchoredStart) i = 1;
  let end = cps.length, anchoredEnd = false;
  if (end > i && cps[end - 1] === 0x24 && !(end >= 2 && cps[end - 2] === 0x5c && !escapedBackslashBefore(cps, end - 2))) { anchoredEnd = true; end--; }

  const ascii = (s: ByteSet): Node => {
    const r = minus(s, exclude);
    return set(r);
  };
  const char = (cp: number): Node => {
    if (cp < 0x80) {
      const s = emptySet(); add(s, cp);
      if (!isEmpty(minus(s, minus(s, exclude)))) fail(`it matches the byte 0x${cp.toString(16).padStart(2, "0")}, which cannot appear here (inside a JSON string it must be escaped)`);
      return set(s);
    }
    return literal(String.fromCodePoint(cp));
  };
  const anyBut = (s: ByteSet): Node => alt(ascii(minus(ASCII(), s)), utf8Multibyte());

  const hex = (n: number): number => {
    let v = 0;
    for (let k = 0; k < n; k++) {
      const c = cps[i++];
      const d = c === undefined ? NaN : parseInt(String.fromCodePoint(c), 16);
      if (Number.isNaN(d)) fail("a malformed hexadecimal escape");
      v = v * 16 + d;
    }
    return v;
  };

  /** An escape after the backslash: a code point, or a class (as a node) for \d \w \s and their negations. */
  const escape = (inClass: boolean): { cp: number } | { cls: ByteSet; negated: boolean } => {
    const c = cps[i++];
    if (c === undefined) fail("a trailing backslash");
    const ch = String.fromCodePoint(c);
    switch (ch) {
      case "d": return { cls: DIGITS(), negated: false };
      case "D": return { cls: DIGITS(), negated: true };
      case "w": return { cls: WORD(), negated: false };
      case "W": return { cls: WORD(), negated: true };
      case "s": return { cls: SPACE(), negated: false };
      case "S": return { cls: SPACE(), negated: true };
      case "n": return { cp: 0x0a };
      case "r": return { cp: 0x0d };
      case "t": return { cp: 0x09 };
      case "f": return { cp: 0x0c };
      case "v": return { cp: 0x0b };
      case "0": return { cp: 0 };
      case "x": return { cp: hex(2) };
      case "u": {
        if (cps[i] === 0x7b) { // \u{…}
          i++;
          let v = 0, n = 0;
          while (cps[i] !== undefined && cps[i] !== 0x7d) {
            const d = parseInt(String.fromCodePoint(cps[i++]), 16);
            if (Number.isNaN(d) || ++n > 6) fail("a malformed \\u{…} escape");
            v = v * 16 + d;
          }
          if (cps[i++] !== 0x7d || v > 0x10ffff) fail("a malformed \\u{…} escape");
          return { cp: v };
        }
        return { cp: hex(4) };
      }
      case "b": if (inClass) return { cp: 0x08 }; return fail("\\b (a word boundary) is not supported");
      case "B": return fail("\\B is not supported");
      case "c": return fail("\\c control escapes are not supported");
      case "k": return fail("backreferences are not supported");
      default:
        if (c >= 0x31 && c <= 0x39) fail("backreferences are not supported");
        if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) fail(`the escape \\${ch} is not supported`);
        return { cp: c };
    }
  };

  const classAtom = (): Node => {
    // at '[' already consumed
    let negated = false;
    if (cps[i] === 0x5e) { negated = true; i++; }
    let s = emptySet();
    const wide: Node[] = [];
    let first = true;
    for (;;) {
      const c = cps[i];
      if (c === undefined || i >= end + (anchoredEnd ? 1 : 0)) fail("an unterminated character class");
      if (c === 0x5d && !first) { i++; break; }
      if (c === 0x5d && first) { i++; add(s, 0x5d); first = false; continue; }
      first = false;
      i++;
      let lo: number;
      if (c === 0x5c) {
        const e = escape(true);
        if ("cls" in e) {
          if (e.negated) fail("a negated shorthand (\\D, \\W, \\S) inside a class is not supported");
          s = union(s, e.cls);
          continue;
        }
        lo = e.cp;
      } else lo = c;
      let hi = lo;
      if (cps[i] === 0x2d && cps[i + 1] !== undefined && cps[i + 1] !== 0x5d) {
        i++;
        const c2 = cps[i++];
        if (c2 === 0x5c) {
          const e = escape(true);
          if ("cls" in e) fail("a class shorthand cannot end a range");
          hi = (e as { cp: number }).cp;
        } else hi = c2;
        if (hi < lo) fail("a character range out of order");
      }
      for (let cp = lo; cp <= Math.min(hi, 0x7f); cp++) add(s, cp);
      if (hi >= 0x80) {
        if (negated) fail("a negated class listing characters beyond ASCII is not supported");
        if (hi - Math.max(lo, 0x80) > 255) fail("a character range of more than 256 characters beyond ASCII is not supported");
        for (let cp = Math.max(lo, 0x80); cp <= hi; cp++) if (cp < 0xd800 || cp > 0xdfff) wide.push(literal(String.fromCodePoint(cp)));
      }
    }
    if (negated) return anyBut(s);
    const items: Node[] = [];
    const a = minus(s, exclude);
    if (!isEmpty(a)) items.push(set(a));
    items.push(...wide);
    if (items.length === 0) fail("a character class that matches nothing here");
    return alt(...items);
  };

  const atom = (): Node | null => {
    const c = cps[i];
    switch (c) {
      case 0x28: { // (
        i++;
        if (cps[i] === 0x3f) { // (?
          const n = cps[i + 1];
          if (n === 0x3a) i += 2; // (?:
          else if (n === 0x3c && cps[i + 2] !== 0x3d && cps[i + 2] !== 0x21) { // (?<name>
            i += 2;
            while (cps[i] !== undefined && cps[i] !== 0x3e) i++;
            i++;
          } else fail("lookaround and inline flags are not supported");
        }
        if (++depth > 256) fail("groups nested more than 256 deep");
        const inner = alternation();
        depth--;
        if (cps[i] !== 0x29) fail("an unclosed group");
        i++;
        return inner;
      }
      case 0x5b: i++; return classAtom();
      case 0x2e: i++; return anyBut(new Uint32Array([0x2400, 0, 0, 0, 0, 0, 0, 0])); // not \n (0x0a) or \r (0x0d)
      case 0x5c: {
        i++;
        const e = escape(false);
        if ("cls" in e) return e.negated ? anyBut(e.cls) : ascii(e.cls);
        return char(e.cp);
      }
      case 0x5e: case 0x24: return fail("an anchor (^ or $) inside the pattern is not supported (only at its ends)");
      case 0x2a: case 0x2b: case 0x3f: return fail("a quantifier with nothing to repeat");
      case 0x7b: {
        if (quantifierAt(i) !== null) fail("a quantifier with nothing to repeat");
        i++;
        return char(0x7b);
      }
      default: i++; return char(c);
    }
  };

  /** A {m}, {m,}, {m,n} at k: [min, max, length] or null when the brace is a literal. */
  const quantifierAt = (k: number): [number, number, number] | null => {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(String.fromCodePoint(...cps.slice(k, k + 24)));
    if (!m) return null;
    const min = Number(m[1]), max = m[2] === undefined ? min : m[3] === "" ? Infinity : Number(m[3]);
    return [min, max, m[0].length];
  };

  const quantified = (): Node | null => {
    let a = atom();
    if (a === null) return null;
    for (;;) {
      const c = cps[i];
      let min: number, max: number;
      if (c === 0x2a) { min = 0; max = Infinity; i++; }
      else if (c === 0x2b) { min = 1; max = Infinity; i++; }
      else if (c === 0x3f) { min = 0; max = 1; i++; }
      else if (c === 0x7b && quantifierAt(i)) {
        const q = quantifierAt(i)!;
        [min, max] = q; i += q[2];
        if (max < min) fail("a repetition {m,n} with n < m");
        if (min > MAX_REPEAT || (max !== Infinity && max > MAX_REPEAT)) throw new ConstraintError(`pattern: a repetition bound over ${MAX_REPEAT}`, 413, param);
      } else return a;
      if (cps[i] === 0x3f) i++; // lazy: the same language
      else if (cps[i] === 0x2b) fail("possessive quantifiers are not supported");
      a = rep(a, min, max);
    }
  };

  const concat = (): Node => {
    const items: Node[] = [];
    while (i < end && cps[i] !== 0x7c && cps[i] !== 0x29) {
      const q = quantified();
      if (q) items.push(q);
    }
    return items.length === 0 ? EPSILON : seq(...items);
  };

  function alternation(): Node {
    const items = [concat()];
    while (cps[i] === 0x7c && i < end) { i++; items.push(concat()); }
    return alt(...items);
  }

  const node = alternation();
  if (i < end) fail(cps[i] === 0x29 ? "an unmatched ')'" : "unexpected input");
  return { node, anchoredStart, anchoredEnd };
}

/** Whether the backslash at k is itself escaped (an odd run of backslashes before it). */
function escapedBackslashBefore(cps: number[], k: number): boolean {
  let n = 0;
  while (k - 1 - n >= 0 && cps[k - 1 - n] === 0x5c) n++;
  return n % 2 === 1;
}
