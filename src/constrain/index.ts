// Structured output: a request's response_format compiled to a byte automaton that every decoding mode
// follows (docs/api.md, "Structured output"). Written here rather than taken from a grammar library: see
// docs/engine.md, "Constrained decoding", for why.
import { REQUEST_FIELDS } from "../contract.ts";
import { Budget, ConstraintError, type Grammar } from "./ast.ts";
import { parseGbnf } from "./gbnf.ts";
import { jsonObjectGrammar, jsonSchemaGrammar } from "./json-schema.ts";
import { Matcher } from "./matcher.ts";
import { type Program, lower } from "./program.ts";
import { parseRegex } from "./regex.ts";

export { ConstraintError } from "./ast.ts";
export { MatchState, Matcher } from "./matcher.ts";
export type { Program } from "./program.ts";

/** Largest response_format (its JSON) a request may carry (the request contract's). */
export const MAX_FORMAT_BYTES: number = REQUEST_FIELDS.response_format.maxBytes;

/** The response formats this server constrains to (OpenAI's, and two extensions). */
export type ResponseFormat =
  | { type: "text" }
  | { type: "json_object" }
  | { type: "json_schema"; json_schema: { name?: string; schema?: unknown; strict?: boolean | null; description?: string } }
  | { type: "regex"; regex: string }
  | { type: "grammar"; grammar: string };

export const FORMAT_TYPES: readonly string[] = REQUEST_FIELDS.response_format.types;

/** The grammar of a response format (null for text). Throws ConstraintError. */
export function formatGrammar(rf: unknown, budget: Budget): Grammar | null {
  if (typeof rf !== "object" || rf === null || Array.isArray(rf)) throw new ConstraintError("response_format must be an object");
  const f = rf as Record<string, unknown>;
  const size = JSON.stringify(rf).length;
  if (size > MAX_FORMAT_BYTES) throw new ConstraintError(`response_format is ${size} bytes, over the ${MAX_FORMAT_BYTES}-byte limit`, 413);
  switch (f.type) {
    case "text": return null;
    case "json_object": return jsonObjectGrammar();
    case "json_schema": {
      const js = f.json_schema as Record<string, unknown> | undefined;
      if (typeof js !== "object" || js === null || Array.isArray(js)) throw new ConstraintError("response_format.json_schema must be an object", 400, "response_format.json_schema");
      if (js.schema === undefined) throw new ConstraintError("response_format.json_schema.schema is required", 400, "response_format.json_schema.schema");
      return jsonSchemaGrammar(js.schema, budget);
    }
    case "regex": {
      if (typeof f.regex !== "string") throw new ConstraintError("response_format.regex must be a string", 400, "response_format.regex");
      const r = parseRegex(f.regex, { param: "response_format.regex" });
      return { rules: new Map([["root", r.node]]), root: "root" };
    }
    case "grammar": {
      if (typeof f.grammar !== "string") throw new ConstraintError("response_format.grammar must be a string (GBNF)", 400, "response_format.grammar");
      return parseGbnf(f.grammar);
    }
    default:
      throw new ConstraintError(`response_format.type must be one of ${FORMAT_TYPES.join(", ")}`, 400, "response_format.type");
  }
}

const cache = new Map<string, Program | null>();
const CACHE_ENTRIES = 32;

/**
 * Compiles a response format to the program of its automaton (null: no constraint), with bounded work: a
 * format over the budget is refused with a 413 ConstraintError. Recently compiled formats are reused.
 */
export function compileFormat(rf: unknown, budget = new Budget()): Program | null {
  const key = JSON.stringify(rf);
  if (key !== undefined && cache.has(key)) {
    const p = cache.get(key)!;
    cache.delete(key); cache.set(key, p); // most recent last
    return p;
  }
  const g = formatGrammar(rf, budget);
  const p = g && lower(g, budget);
  // the start state expands the grammar's first layer: a grammar that hits the matcher's bounds already there (a
  // choice among thousands of live branches) is refused here rather than followed approximately
  if (p && new Matcher(p).truncatedSteps > 0) throw new ConstraintError("the constraint is too ambiguous to follow (its first byte has over 4,096 live branches)", 413);
  if (key !== undefined && key.length <= MAX_FORMAT_BYTES) {
    cache.set(key, p);
    if (cache.size > CACHE_ENTRIES) cache.delete(cache.keys().next().value!);
  }
  return p;
}
