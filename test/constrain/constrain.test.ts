// The byte automaton of structured output (src/constrain): what each response format accepts and refuses, the
// errors that name what is unsupported, bounded compile work, and a seeded fuzz of schemas and patterns.
import { describe, expect, it } from "vitest";
import { Budget, ConstraintError } from "../../src/constrain/ast.ts";
import { compileFormat, Matcher } from "../../src/constrain/index.ts";
import { Rng } from "../../src/engine/decode/sampler.ts";

const matcher = (rf: unknown) => new Matcher(compileFormat(rf)!);
const schema = (s: unknown) => ({ type: "json_schema", json_schema: { name: "t", schema: s, strict: true } });
const refusal = (rf: unknown): ConstraintError => {
  try { compileFormat(rf); } catch (e) { if (e instanceof ConstraintError) return e; throw e; }
  throw new Error(`compiled: ${JSON.stringify(rf).slice(0, 200)}`);
};

describe("json_object", () => {
  const m = matcher({ type: "json_object" });
  it.each(['{}', '{"a": 1}', '{"a":[1,-2.5e3,{"b":null}],"c":"x\\n\\u00e9é","d":true}', '{"nested":{"deeper":{"deepest":[[],[{}]]}}}'])("accepts %s", (s) => {
    expect(m.matches(s)).toBe(true);
    expect(() => JSON.parse(s)).not.toThrow();
  });
  it.each(['{"a":}', '{', '{"a":1} ', '[1]', '"x"', '{"a":01}', '{"a":"\u0001"}', '{"a":"\\q"}', '{a:1}'])("refuses %s", (s) => expect(m.matches(s)).toBe(false));
  it("ends: after the closing brace nothing is allowed", () => {
    let s = m.start;
    for (const b of new TextEncoder().encode('{"k": [1]}')) s = s.advance(b)!;
    expect(s.done).toBe(true);
  });
  it("refuses bytes that are not UTF-8 inside strings", () => {
    expect(m.matches(new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]))).toBe(false);
    expect(m.matches(new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc3, 0xa9, 0x22, 0x7d]))).toBe(true);
  });
});

describe("json_schema", () => {
  const person = {
    type: "object",
    properties: {
      name: { type: "string", minLength: 1, maxLength: 5 }, age: { type: "integer", minimum: 0 },
      tags: { type: "array", items: { enum: ["x", "y"] }, maxItems: 2 },
      o: { anyOf: [{ type: "null" }, { $ref: "#/$defs/P" }] }, kind: { const: "k" },
    },
    required: ["name", "age"], additionalProperties: false,
    $defs: { P: { type: "object", properties: { z: { type: "boolean" } }, required: ["z"], additionalProperties: false } },
  };
  const m = matcher(schema(person));
  it.each(['{"name":"ab","age":3}', '{"name": "ab", "age": 3, "tags": ["x","y"]}', '{"name":"ab","age":3,"o":{"z":true}}',
    '{"name":"ab","age":3,"o":null,"kind":"k"}', '{"name":"ab","age":3,"tags":[]}', '{"name":"ééééé","age":0}'])("accepts %s", (s) => expect(m.matches(s)).toBe(true));
  it.each(['{"name":"ab","age":3,"tags":["x","y","x"]}', '{"name":"","age":3}', '{"name":"abcdef","age":3}', '{"name":"ab","age":-3}',
    '{"age":3}', '{"name":"ab","tags":[],"age":3}', '{"name":"ab","age":3,"extra":1}', '{"name":"ab","age":3,"kind":"j"}', '{"name":"ab","age":3.5}'])("refuses %s", (s) => expect(m.matches(s)).toBe(false));

  it("types, numbers, arrays with bounds, type lists, allOf of one, recursion through $ref", () => {
    expect(matcher(schema({ type: "number" })).matches("-12.5e+3")).toBe(true);
    expect(matcher(schema({ type: "integer" })).matches("12.5")).toBe(false);
    const arr = matcher(schema({ type: "array", items: { type: "integer" }, minItems: 2, maxItems: 3 }));
    expect([arr.matches("[1]"), arr.matches("[1, 2]"), arr.matches("[1,2,3]"), arr.matches("[1,2,3,4]")]).toEqual([false, true, true, false]);
    const nullable = matcher(schema({ type: ["string", "null"] }));
    expect([nullable.matches('"a"'), nullable.matches("null"), nullable.matches("1")]).toEqual([true, true, false]);
    expect(matcher(schema({ allOf: [{ type: "boolean" }] })).matches("false")).toBe(true);
    const tree = matcher(schema({ $ref: "#/$defs/T", $defs: { T: { type: "object", properties: { kids: { type: "array", items: { $ref: "#/$defs/T" } } }, required: ["kids"], additionalProperties: false } } }));
    expect(tree.matches('{"kids":[{"kids":[]},{"kids":[{"kids":[]}]}]}')).toBe(true);
    expect(tree.matches('{"kids":[{}]}')).toBe(false);
  });

  it("string patterns: anchored ones match whole, others anywhere; never a raw quote", () => {
    const p = matcher(schema({ type: "object", properties: { e: { type: "string", pattern: "^[a-z]+@[a-z]+\\.com$" }, f: { type: "string", pattern: "ab" } }, required: ["e", "f"], additionalProperties: false }));
    expect(p.matches('{"e":"x@y.com","f":"zzabzz"}')).toBe(true);
    expect(p.matches('{"e":"x@y.org","f":"ab"}')).toBe(false);
    expect(p.matches('{"e":"x@y.com","f":"a"}')).toBe(false);
    expect(refusal(schema({ type: "string", pattern: '^a"b$' })).message).toMatch(/0x22/);
  });

  it.each([
    [{ type: "string", format: "email" }, "format"], [{ type: "object", patternProperties: {} }, "patternProperties"],
    [{ oneOf: [{ type: "null" }] }, "oneOf"], [{ type: "number", multipleOf: 2 }, "multipleOf"], [{ type: "integer", minimum: 5 }, "minimum"],
    [{ type: "array", prefixItems: [] }, "prefixItems"], [{ not: {} }, "not"], [{ type: "object", additionalProperties: { type: "string" } }, "additionalProperties"],
    [{ if: {} }, "if"], [{ type: "string", contentEncoding: "base64" }, "contentEncoding"],
  ])("refuses %j naming %s", (s, keyword) => {
    const e = refusal(schema(s));
    expect(e.status).toBe(400);
    expect(e.message).toContain(keyword);
  });

  it("refuses malformed schemas with 400", () => {
    for (const s of [{ type: "strng" }, { type: "object", required: ["x"], properties: {} }, { $ref: "#/$defs/missing" }, { enum: [] }, { type: "string", minLength: -1 }, 5]) {
      expect(refusal(schema(s)).status).toBe(400);
    }
    expect(refusal({ type: "json_schema" }).param).toBe("response_format.json_schema");
    expect(refusal({ type: "yaml" }).param).toBe("response_format.type");
  });

  it("a large enum is a trie: compiled and matched quickly", () => {
    const m = matcher(schema({ enum: Array.from({ length: 3000 }, (_, i) => `value-${i}`) }));
    expect(m.matches('"value-2999"')).toBe(true);
    expect(m.matches('"value-3000"')).toBe(false);
    expect(m.start.stacks.length).toBeLessThan(4);
  });
});

describe("regex and grammar extensions", () => {
  it("regex: full match, classes, counted repetition, UTF-8", () => {
    const m = matcher({ type: "regex", regex: "(a+)+b|\\d{3}-[A-Z]{2}|caf\u00e9" });
    expect(["aaab", "123-AB", "café"].map((s) => m.matches(s))).toEqual([true, true, true]);
    expect(["aaaa", "b", "12-AB", "cafe"].map((s) => m.matches(s))).toEqual([false, false, false, false]);
    const dot = matcher({ type: "regex", regex: "x.y[^abc]z" });
    expect(dot.matches("xéyéz")).toBe(true);
    expect(dot.matches("x\nydz")).toBe(false);
    expect(dot.matches("xdyaz")).toBe(false);
  });
  it.each(["(?=a)b", "(a)\\1", "a\\bb", "[z-a]", "(ab", "ab)", "*a", "a{3,2}"])("regex %s is refused", (re) => {
    expect(refusal({ type: "regex", regex: re }).status).toBe(400);
  });
  it("GBNF: rules, classes, repetition, comments", () => {
    const m = matcher({ type: "grammar", grammar: 'root ::= answer " " num  # comment\nanswer ::= "yes" | "no"\nnum ::= [0-9]{1,3} ("." [0-9]+)?\n' });
    expect(["yes 12.5", "no 7", "no 1234", "maybe 1"].map((s) => m.matches(s))).toEqual([true, true, false, false]);
  });
  it("GBNF: left recursion, undefined rules and a missing root are refused", () => {
    expect(refusal({ type: "grammar", grammar: 'root ::= root "a" | "b"' }).message).toMatch(/left-recursive/);
    expect(refusal({ type: "grammar", grammar: 'root ::= x? root "a"\nx ::= "y"' }).message).toMatch(/left-recursive/);
    expect(refusal({ type: "grammar", grammar: "root ::= other" }).message).toMatch(/not defined/);
    expect(refusal({ type: "grammar", grammar: 'start ::= "a"' }).message).toMatch(/root/);
  });
});

describe("bounded work", () => {
  it("nested empty repetitions ((a*)*) and counted ones run as an automaton, without blow-up", () => {
    const m = matcher({ type: "regex", regex: "(a*)*(a|aa)*(a?){30}a{30}b" });
    expect(m.matches("a".repeat(200))).toBe(false);
    expect(m.matches("a".repeat(40) + "b")).toBe(true);
    expect(m.truncatedSteps).toBe(0);
  });
  it("too large: 413", () => {
    expect(refusal({ type: "regex", regex: "a{20000}" }).status).toBe(413);
    // nested counted repetitions share their unit: 10¹² a's in a program of a few thousand elements
    expect(compileFormat({ type: "regex", regex: "((((a{1000}){1000}){1000}){1000})" })!.elements.length).toBeLessThan(20_000);
    expect(refusal(schema({ type: "string", maxLength: 10_000_000 })).status).toBe(413);
    expect(refusal({ type: "regex", regex: "a".repeat(5000) }).status).toBe(413);
    expect(refusal(schema({ enum: Array.from({ length: 20000 }, (_, i) => `a-rather-long-value-${i}`) })).status).toBe(413);
    // more live branches at the first byte than a step keeps: refused, not followed approximately
    expect(refusal({ type: "grammar", grammar: "root ::= " + Array.from({ length: 5000 }, (_, i) => `"x${String.fromCharCode(97 + (i % 26))}"`).join("|") }).status).toBe(413);
    let deep: unknown = { type: "null" };
    for (let i = 0; i < 100; i++) deep = { type: "array", items: deep };
    expect(refusal(schema(deep)).status).toBe(413);
  });

  // random schemas: nesting, unsupported keywords, huge enums, pathological patterns; each compiles or is refused
  // with the typed error, within the compile budget; compiled ones run a random walk through their automaton
  it("fuzz (seed 26): no error but ConstraintError, bounded work", () => {
    const rng = new Rng(26);
    const int = (n: number) => Math.floor(rng.next() * n);
    const pick = <T>(xs: T[]) => xs[int(xs.length)];
    const patterns = ["(a+)+$", "^(a|a)*b$", "(x*)*y", "[a-z]{0,50}", "((ab)*|c)+", "(?<n>q)", "\\p{L}", "a{2,1}", "[^\"]+", "(((((((((((a)))))))))))*", "\\d+(\\.\\d+)?"];
    const keywords = ["format", "oneOf", "not", "if", "minimum", "uniqueItems", "patternProperties", "dependentRequired", "$anchor"];
    const gen = (d: number): unknown => {
      const r = int(d > 5 ? 5 : 10);
      switch (r) {
        case 0: return { type: "string", ...(rng.next() < 0.5 ? { maxLength: int(40) } : {}) };
        case 1: return { type: pick(["integer", "number", "boolean", "null"]) };
        case 2: return { enum: Array.from({ length: 1 + int(rng.next() < 0.2 ? 5000 : 8) }, (_, i) => pick([`v${i}`, i, null, true, { k: i }])) };
        case 3: return { type: "string", pattern: pick(patterns) };
        case 4: return { [pick(keywords)]: pick([1, "x", {}, []]), type: "string" };
        case 5: case 6: {
          const props: Record<string, unknown> = {};
          const n = int(5);
          for (let i = 0; i < n; i++) props[`p${i}`] = gen(d + 1);
          return { type: "object", properties: props, required: Object.keys(props).filter(() => rng.next() < 0.6), additionalProperties: rng.next() < 0.8 ? false : true };
        }
        case 7: return { type: "array", items: gen(d + 1), ...(rng.next() < 0.5 ? { minItems: int(3), maxItems: 3 + int(100) } : {}) };
        case 8: return { anyOf: [gen(d + 1), gen(d + 1)] };
        default: return rng.next() < 0.1 ? "not a schema" : { type: ["string", "null"] };
      }
    };
    let compiled = 0, refused = 0;
    for (let t = 0; t < 300; t++) {
      const rf = schema(gen(0));
      const budget = new Budget();
      let program;
      try { program = compileFormat(rf, budget); } catch (e) {
        expect(e).toBeInstanceOf(ConstraintError);
        expect([400, 413]).toContain((e as ConstraintError).status);
        refused++;
        continue;
      }
      expect(budget.used).toBeLessThanOrEqual(budget.limit);
      compiled++;
      // a random walk of allowed bytes: every state reached has a mask, an allowed byte always advances
      const m = new Matcher(program!);
      let s = m.start;
      for (let i = 0; i < 200 && !s.done; i++) {
        const allowed = [...Array(256).keys()].filter((b) => s.allows(b));
        if (allowed.length === 0) break;
        s = s.advance(pick(allowed))!;
        expect(s).not.toBeNull();
      }
      expect(m.truncatedSteps).toBe(0);
    }
    expect(compiled).toBeGreaterThan(50);
    expect(refused).toBeGreaterThan(20);
  });
});
