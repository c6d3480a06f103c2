// JSON Schema (the subset structured output needs) into the grammar of ast.ts. Output is compact JSON: no
// whitespace but one optional space after ':' and ','; properties in the schema's order. Every keyword is either
// honoured or refused with an error naming it: none is silently dropped (annotations such as title and description,
// which constrain nothing, are accepted).
import {
  type Budget, ConstraintError, EPSILON, type Grammar, type Node, alt, byte, bytes, literal, literalChoice, minus, opt, range, ref,
  rep, seq, set, star, union, utf8Multibyte,
} from "./ast.ts";
import { parseRegex } from "./regex.ts";

/** Keywords that describe and never constrain: accepted and ignored. */
const ANNOTATIONS = new Set(["$schema", "$id", "$comment", "title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly", "strict", "name"]);
const MAX_DEPTH = 64;
/** Digits this server writes for an integer part, a fraction and an exponent: every number it writes is a finite double (e99 at most). */
const INT_DIGITS = 15, FRAC_DIGITS = 15, EXP_DIGITS = 2;
const SAFE = Number.MAX_SAFE_INTEGER;

const utf8 = new TextEncoder();
const DQ = 0x22, BS = 0x5c;

/** Bytes never written raw inside a JSON string: the quote, the backslash and control bytes. */
export const jsonStringExcluded = () => union(range(0, 0x1f), bytes(DQ, BS));

/** One character of a JSON string's contents: an unescaped character or an escape. */
export function jsonChar(): Node {
  const hex = () => set(union(union(range(0x30, 0x39), range(0x41, 0x46)), range(0x61, 0x66)));
  return alt(
    set(minus(range(0x20, 0x7f), bytes(DQ, BS))),
    utf8Multibyte(),
    seq(byte(BS), alt(set(bytes(DQ, BS, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74)), seq(byte(0x75), hex(), hex(), hex(), hex()))),
  );
}

const sp = () => opt(byte(0x20));
const digits = (min: number, max: number) => rep(set(range(0x30, 0x39)), min, max);
const intPart = () => alt(byte(0x30), seq(set(range(0x31, 0x39)), digits(0, INT_DIGITS - 1)));
const integer = (nonNegative: boolean) => (nonNegative ? intPart() : seq(opt(byte(0x2d)), intPart()));
const number = (nonNegative: boolean) =>
  seq(integer(nonNegative), opt(seq(byte(0x2e), digits(1, FRAC_DIGITS))), opt(seq(set(bytes(0x65, 0x45)), opt(set(bytes(0x2b, 0x2d))), digits(1, EXP_DIGITS))));

/** The rules of any JSON value (json_object's grammar, and a schema that says nothing). */
function anyJsonRules(rules: Map<string, Node>): void {
  if (rules.has("json-value")) return;
  const str = seq(byte(DQ), star(jsonChar()), byte(DQ));
  rules.set("json-string", str);
  rules.set("json-value", alt(ref("json-object"), ref("json-array"), ref("json-string"), number(false), literal("true"), literal("false"), literal("null")));
  const member = seq(ref("json-string"), byte(0x3a), sp(), ref("json-value"));
  rules.set("json-object", seq(byte(0x7b), opt(seq(member, star(seq(byte(0x2c), sp(), member)))), byte(0x7d)));
  rules.set("json-array", seq(byte(0x5b), opt(seq(ref("json-value"), star(seq(byte(0x2c), sp(), ref("json-value"))))), byte(0x5d)));
}

/** `{"type": "json_object"}`: any JSON object. */
export function jsonObjectGrammar(): Grammar {
  const rules = new Map<string, Node>();
  anyJsonRules(rules);
  rules.set("root", ref("json-object"));
  return { rules, root: "root" };
}

type Schema = Record<string, unknown>;

/** A JSON Schema into a grammar (root "root"); throws ConstraintError naming the keyword or path it cannot honour. */
export function jsonSchemaGrammar(schema: unknown, budget: Budget): Grammar {
  const rules = new Map<string, Node>();
  const root = schema;
  const refNames = new Map<string, string>();

  const fail = (path: string, msg: string): never => { throw new ConstraintError(`json_schema${path}: ${msg}`); };

  const resolve = (pointer: string, path: string): unknown => {
    if (!pointer.startsWith("#")) fail(path, `$ref ${JSON.stringify(pointer.slice(0, 80))}: only references inside the schema (#/…) are supported`);
    let node: unknown = root;
    for (const raw of pointer.slice(1).split("/").slice(1)) {
      const key = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~");
      if (typeof node !== "object" || node === null || !(key in node)) fail(path, `$ref ${JSON.stringify(pointer.slice(0, 80))} points to nothing`);
      node = (node as Schema)[key];
    }
    return node;
  };

  const str = (s: Schema, path: string): Node => {
    const min = s.minLength ?? 0, max = s.maxLength ?? Infinity;
    if (!Number.isInteger(min) || (min as number) < 0) fail(path, "minLength must be a non-negative integer");
    if (max !== Infinity && (!Number.isInteger(max) || (max as number) < (min as number))) fail(path, "maxLength must be an integer ≥ minLength");
    if (s.format !== undefined) fail(path, `the keyword "format" is not supported`);
    if (s.pattern !== undefined) {
      if (typeof s.pattern !== "string") fail(path, "pattern must be a string");
      if (s.minLength !== undefined || s.maxLength !== undefined) fail(path, "pattern together with minLength/maxLength is not supported");
      const r = parseRegex(s.pattern as string, { exclude: jsonStringExcluded(), param: "response_format" });
      const any = star(jsonChar());
      return seq(byte(DQ), r.anchoredStart ? EPSILON : any, r.node, r.anchoredEnd ? EPSILON : any, byte(DQ));
    }
    budget.charge(max === Infinity ? (min as number) : (max as number), "a string's length bounds");
    return seq(byte(DQ), rep(jsonChar(), min as number, max as number), byte(DQ));
  };

  const numeric = (s: Schema, path: string, isInt: boolean): Node => {
    for (const k of ["exclusiveMinimum", "exclusiveMaximum", "multipleOf"]) if (s[k] !== undefined) fail(path, `the keyword "${k}" is not supported`);
    const lo = s.minimum, hi = s.maximum;
    if (hi !== undefined && !(typeof hi === "number" && hi >= SAFE)) fail(path, `the keyword "maximum" is supported only as ${SAFE} or more (no bound tighter than the ${INT_DIGITS}-digit numbers this server writes)`);
    if (lo !== undefined && !(typeof lo === "number" && (lo <= -SAFE || lo === 0))) fail(path, `the keyword "minimum" is supported only as 0 or as ${-SAFE} or less`);
    const nonNegative = lo === 0;
    return isInt ? integer(nonNegative) : number(nonNegative);
  };

  const object = (s: Schema, path: string, depth: number): Node => {
    const props = (s.properties ?? {}) as Schema;
    if (typeof props !== "object" || props === null || Array.isArray(props)) fail(path, "properties must be an object");
    const required = (s.required ?? []) as unknown[];
    if (!Array.isArray(required) || required.some((r) => typeof r !== "string")) fail(path, "required must be an array of strings");
    for (const r of required) if (!((r as string) in props)) fail(path, `required names ${JSON.stringify(r)}, which is not in properties`);
    const ap = s.additionalProperties;
    if (ap !== undefined && typeof ap !== "boolean") fail(path, `the keyword "additionalProperties" is supported only as a boolean`);
    for (const k of ["patternProperties", "propertyNames", "minProperties", "maxProperties", "dependentRequired", "dependentSchemas", "unevaluatedProperties"]) {
      if (s[k] !== undefined) fail(path, `the keyword "${k}" is not supported`);
    }
    const names = Object.keys(props);
    // no properties and extra ones allowed: any object
    if (names.length === 0 && ap !== false) { anyJsonRules(rules); return ref("json-object"); }
    // properties in the schema's order; the required ones always, the others optional. Extra properties are allowed
    // by a schema without additionalProperties: false, and never written (the output is valid either way).
    const member = names.map((n) => {
      budget.charge(n.length + 4, "the property names");
      return seq(literal(JSON.stringify(n)), byte(0x3a), sp(), value(props[n], `${path}.properties.${n}`, depth + 1));
    });
    const req = names.map((n) => required.includes(n));
    // tail(k, first): the members from k on, `first` when none was written yet (no comma before the next)
    const memo = new Map<string, Node>();
    const tail = (k: number, first: boolean): Node => {
      if (k === names.length) return EPSILON;
      const key = `${k}:${first}`;
      const hit = memo.get(key);
      if (hit) return hit;
      const name = `${path || "#"}/members/${k}/${first ? 1 : 0}@${rules.size}`;
      const withIt = seq(first ? EPSILON : seq(byte(0x2c), sp()), member[k], tail(k + 1, false));
      rules.set(name, req[k] ? withIt : alt(withIt, tail(k + 1, first)));
      const r = ref(name);
      memo.set(key, r);
      return r;
    };
    return seq(byte(0x7b), tail(0, true), byte(0x7d));
  };

  const array = (s: Schema, path: string, depth: number): Node => {
    for (const k of ["prefixItems", "contains", "uniqueItems", "minContains", "maxContains", "additionalItems", "unevaluatedItems"]) {
      if (s[k] !== undefined && !(k === "uniqueItems" && s[k] === false)) fail(path, `the keyword "${k}" is not supported`);
    }
    const min = s.minItems ?? 0, max = s.maxItems ?? Infinity;
    if (!Number.isInteger(min) || (min as number) < 0) fail(path, "minItems must be a non-negative integer");
    if (max !== Infinity && (!Number.isInteger(max) || (max as number) < (min as number))) fail(path, "maxItems must be an integer ≥ minItems");
    let item: Node;
    if (s.items === undefined) { anyJsonRules(rules); item = ref("json-value"); }
    else if (Array.isArray(s.items)) return fail(path, "items as an array (tuple form) is not supported");
    else item = value(s.items, `${path}.items`, depth + 1);
    const name = `${path || "#"}/item@${rules.size}`;
    rules.set(name, item);
    const it = ref(name), more = seq(byte(0x2c), sp(), it);
    const lo = min as number, hi = max as number;
    budget.charge(hi === Infinity ? lo : hi, "an array's item bounds");
    const body = hi === 0 ? EPSILON
      : lo === 0 ? opt(seq(it, rep(more, 0, hi === Infinity ? Infinity : hi - 1)))
      : seq(it, rep(more, lo - 1, hi === Infinity ? Infinity : hi - 1));
    return seq(byte(0x5b), body, byte(0x5d));
  };

  const typed = (t: string, s: Schema, path: string, depth: number): Node => {
    switch (t) {
      case "object": return object(s, path, depth);
      case "array": return array(s, path, depth);
      case "string": return str(s, path);
      case "number": return numeric(s, path, false);
      case "integer": return numeric(s, path, true);
      case "boolean": return alt(literal("true"), literal("false"));
      case "null": return literal("null");
      default: return fail(path, `unknown type ${JSON.stringify(t).slice(0, 40)}`);
    }
  };

  const KNOWN = new Set([
    "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems", "enum", "const", "anyOf",
    "minLength", "maxLength", "pattern", "$ref", "$defs", "definitions", "minimum", "maximum", "allOf", "uniqueItems",
  ]);

  function value(schema: unknown, path: string, depth: number): Node {
    budget.charge(1);
    if (depth > MAX_DEPTH) throw new ConstraintError(`json_schema${path}: nested more than ${MAX_DEPTH} deep`, 413);
    if (schema === true || (typeof schema === "object" && schema !== null && !Array.isArray(schema) && Object.keys(schema).every((k) => ANNOTATIONS.has(k) || k === "$defs" || k === "definitions"))) {
      anyJsonRules(rules);
      return ref("json-value");
    }
    if (typeof schema !== "object" || schema === null || Array.isArray(schema)) return fail(path, "a schema must be an object");
    const s = schema as Schema;
    for (const k of Object.keys(s)) if (!KNOWN.has(k) && !ANNOTATIONS.has(k)) fail(path, `the keyword "${k}" is not supported`);
    for (const k of ["$defs", "definitions"]) if (s[k] !== undefined && (typeof s[k] !== "object" || s[k] === null)) fail(path, `${k} must be an object`);
    if (s.$ref !== undefined) {
      if (typeof s.$ref !== "string") fail(path, "$ref must be a string");
      const others = Object.keys(s).filter((k) => k !== "$ref" && !ANNOTATIONS.has(k) && k !== "$defs" && k !== "definitions");
      if (others.length) fail(path, `the keyword "${others[0]}" beside $ref is not supported`);
      const p = s.$ref as string;
      let name = refNames.get(p);
      if (!name) {
        name = `ref:${p}`;
        refNames.set(p, name);
        rules.set(name, EPSILON); // placeholder: a recursive reference sees the rule's name
        rules.set(name, value(resolve(p, path), `${path}.$ref`, depth + 1));
      }
      return ref(name);
    }
    if (s.allOf !== undefined) {
      if (!Array.isArray(s.allOf) || s.allOf.length !== 1) fail(path, `the keyword "allOf" is supported only with one schema`);
      return value((s.allOf as unknown[])[0], `${path}.allOf[0]`, depth + 1);
    }
    if (s.const !== undefined || s.enum !== undefined) {
      const values = s.const !== undefined ? [s.const] : s.enum;
      if (!Array.isArray(values) || values.length === 0) fail(path, "enum must be a non-empty array");
      return literalChoice((values as unknown[]).map((v) => utf8.encode(JSON.stringify(v))), budget);
    }
    if (s.anyOf !== undefined) {
      if (!Array.isArray(s.anyOf) || s.anyOf.length === 0) fail(path, "anyOf must be a non-empty array");
      const { anyOf: _, ...rest } = s;
      const base = Object.keys(rest).filter((k) => !ANNOTATIONS.has(k) && k !== "$defs" && k !== "definitions");
      if (base.length) fail(path, `the keyword "${base[0]}" beside anyOf is not supported`);
      return alt(...(s.anyOf as unknown[]).map((x, k) => value(x, `${path}.anyOf[${k}]`, depth + 1)));
    }
    if (s.type === undefined) {
      const implied = s.properties !== undefined ? "object" : s.items !== undefined ? "array" : s.pattern !== undefined || s.minLength !== undefined ? "string" : null;
      if (implied) return typed(implied, s, path, depth);
      anyJsonRules(rules);
      return ref("json-value");
    }
    const types = Array.isArray(s.type) ? s.type : [s.type];
    if (types.length === 0 || types.some((t) => typeof t !== "string")) fail(path, "type must be a string or an array of strings");
    return alt(...(types as string[]).map((t) => typed(t, s, path, depth)));
  }

  rules.set("root", value(schema, "", 0));
  return { rules, root: "root" };
}
