// The request contract: every field a decode request takes, with its limits, its default and its names, in one
// table. Everything that checks a request reads it: the HTTP API's schemas (src/server/schemas.ts), the engine's
// validateRequest (src/engine/engine.ts), the router (src/backends/router.ts), the edge's pool backend
// (src/backends/pool.ts) and both pool workers (src/pool/request.ts; scripts/pool/wire.py through
// scripts/pool/contract.json, which `npm run contract` writes from this table and CI compares).
//
// Names. A field is keyed by its API name (the JSON body of /v1/completions and /v1/chat/completions), and errors
// name it so whoever raises them: the engine, a pool worker or the API. `engine` is its path in a DecodeRequest
// (src/protocol.ts), which is also its path in the pool wire's request object (src/backends/wire.ts).
//
// Adding a field:
//   1. add a row here (kind, limits, default; `engine`: its DecodeRequest path if the engine reads it, left out if
//      only the server does; `api: false` if only the engine takes it). A new kind: add it to FieldKind,
//      describeField, rowSchema in src/server/schemas.ts and describe() in scripts/pool/wire.py;
//   2. add it to DecodeRequest in src/protocol.ts if the engine reads it, and to toDecodeRequest in
//      src/server/schemas.ts (the API schema itself is built from this table: nothing to write there);
//   3. if the engine reads it, check it in validateRequest (src/engine/engine.ts: `checkNumber` or `checkChoice`), and read it in
//      src/pool/request.ts and scripts/pool/wire.py (which take the limits from the table);
//   4. run `npm run contract` and commit scripts/pool/contract.json (CI fails while it differs from this table).
// A field the API takes but refuses beyond one value (n, logprobs, …) is not a row: see refuseUnsupported in
// src/server/schemas.ts.
import { BLOCK_COMMITS, BLOCK_PREFIXES, DECODE_MODES } from "./protocol.ts";

/** An integer in [min, max]. */
export interface IntegerField { kind: "integer"; min: number; max: number }
/** A finite number ≥ min (> min when minOpen), ≤ max when max is set. */
export interface NumberField { kind: "number"; min: number; minOpen?: boolean; max?: number }
/** One of the listed names. */
export interface ChoiceField { kind: "choice"; values: readonly string[] }
/** Stop sequences: at most maxCount of them, each 1 to maxBytes bytes of UTF-8. */
export interface StopField { kind: "stop"; maxCount: number; maxBytes: number }
/** true or false. */
export interface BooleanField { kind: "boolean" }
/** A response format (structured output): an object whose `type` is one of types, at most maxBytes as JSON. */
export interface FormatField { kind: "format"; types: readonly string[]; maxBytes: number }
export type FieldKind = IntegerField | NumberField | ChoiceField | StopField | BooleanField | FormatField;

export type FieldSpec = FieldKind & {
  /** Path in a DecodeRequest and in the pool wire's request object; absent: the server alone reads the field. */
  engine?: string;
  /**
   * The value when a request leaves the field out (or sends null): a number or name, or null when there is none
   * (`seed`: a random one per request; `entropy_bound`: the confidence rule; `stop`: none) or when another field
   * decides it (`max_steps_per_block`: block_size).
   */
  default: number | string | null;
  /** May be null in a request (same as leaving it out). */
  nullable?: boolean;
  /** False: the engine and the pool wire take it, the HTTP API does not. */
  api?: boolean;
  /** What it does, for docs/api.md and for readers. */
  doc: string;
};

/** Largest BLT-D block, BLT-S draft and passes per block: also the size of the engine's per-mode scratch. */
const MAX_BLOCK = 64;

export const REQUEST_FIELDS = {
  max_tokens: {
    kind: "integer", min: 0, max: 8192, default: 256, engine: "maxNewBytes", nullable: true,
    doc: "bytes to generate (alias max_completion_tokens); max is the engine's default limit, a deployment sets its own (MAX_TOKENS_LIMIT), default its DEFAULT_MAX_TOKENS",
  },
  temperature: { kind: "number", min: 0, max: 2, default: 1, engine: "sampling.temperature", nullable: true, doc: "0 is greedy" },
  top_p: { kind: "number", min: 0, minOpen: true, max: 1, default: 1, engine: "sampling.topP", nullable: true, doc: "nucleus mass; 1 disables" },
  top_k: { kind: "integer", min: 0, max: 256, default: 0, engine: "sampling.topK", nullable: true, doc: "keep the k most likely bytes; 0 disables" },
  seed: {
    kind: "integer", min: 0, max: 2 ** 32 - 1, default: null, engine: "sampling.seed", nullable: true,
    doc: "the same seed gives the same bytes; the API takes any integer and uses it modulo 2^32; absent: a random seed",
  },
  mode: { kind: "choice", values: ["auto", ...DECODE_MODES], default: "auto", engine: "mode", doc: "decoding mode; auto: the server picks a lossless one (the engine takes the four modes)" },
  block_size: { kind: "integer", min: 1, max: MAX_BLOCK, default: 8, engine: "knobs.blockSize", nullable: true, doc: "BLT-D / BLT-DV block size B" },
  threshold: { kind: "number", min: 0, minOpen: true, max: 1, default: 0.9, engine: "knobs.threshold", nullable: true, doc: "BLT-D confidence threshold α" },
  entropy_bound: { kind: "number", min: 0, default: null, engine: "knobs.entropyBound", nullable: true, doc: "BLT-D entropy bound γ in nats; set, it replaces the confidence rule" },
  max_steps_per_block: { kind: "integer", min: 1, max: MAX_BLOCK, default: null, engine: "knobs.maxStepsPerBlock", nullable: true, doc: "cap on BLT-D denoising passes per block; absent: block_size" },
  draft_length: { kind: "integer", min: 1, max: MAX_BLOCK, default: 8, engine: "knobs.draftLength", nullable: true, doc: "BLT-S draft length k" },
  block_prefix: { kind: "choice", values: BLOCK_PREFIXES, default: "states", engine: "knobs.blockPrefix", nullable: true, doc: "what a block's revealed bytes give the decoder (docs/design.md, Prefix states)" },
  block_commit: { kind: "choice", values: BLOCK_COMMITS, default: "entropy", engine: "knobs.blockCommit", nullable: true, api: false, doc: "how BLT-D commits a filled block (docs/design.md, Re-patching)" },
  stop: { kind: "stop", maxCount: 4, maxBytes: 64, default: null, engine: "stop", nullable: true, doc: "generation stops before any of these; a string or a list" },
  response_format: {
    kind: "format", types: ["text", "json_object", "json_schema", "regex", "grammar"], maxBytes: 65_536, default: null, engine: "responseFormat", nullable: true,
    doc: "structured output, followed by every mode: json_object, json_schema (OpenAI's), regex and grammar (GBNF; extensions); the schema itself travels to a pool worker, which compiles it",
  },
  top_logprobs: {
    kind: "integer", min: 0, max: 20, default: null, engine: "logprobs", nullable: true,
    doc: "the most likely bytes listed at each position, with chat's logprobs: true (completions: logprobs: n); in the engine, absent means no log-probabilities",
  },
  prompt_logprobs: { kind: "boolean", default: null, engine: "promptLogprobs", nullable: true, api: false, doc: "the prompt's per-byte log-probabilities first (completions' echo with logprobs)" },
} as const satisfies Record<string, FieldSpec>;

export type FieldName = keyof typeof REQUEST_FIELDS;

/** Limits of the HTTP API alone (no engine counterpart). */
export const API_LIMITS = {
  /** Most messages in one chat request. */
  messages: 256,
} as const;

/** Names the edge may pass on from a pool worker's 400 (`param`): every field the engine reads, and the prompt. */
export const ENGINE_PARAMS: ReadonlySet<string> = new Set([
  "prompt", ...Object.entries(REQUEST_FIELDS as Record<string, FieldSpec>).filter(([, f]) => f.engine !== undefined).map(([name]) => name),
]);

/** The API name of a DecodeRequest path ("sampling.topK" → "top_k"), or the path itself when no row has it. */
export function apiName(enginePath: string): string {
  for (const [name, f] of Object.entries(REQUEST_FIELDS as Record<string, FieldSpec>)) if (f.engine === enginePath) return name;
  return enginePath;
}

const interval = (f: IntegerField | NumberField) =>
  f.max === undefined ? `≥ ${f.min}` : `in ${"minOpen" in f && f.minOpen ? "(" : "["}${f.min}, ${f.max}]`;

/**
 * The sentence every checker gives for a value outside a field's limits ("top_k must be an integer in [0, 256]");
 * the engine and the pool workers add ", got <value>". scripts/pool/wire.py words it the same (describe()).
 */
export function describeField(name: string, f: FieldKind): string {
  switch (f.kind) {
    case "integer": return `${name} must be an integer ${interval(f)}`;
    case "number": return `${name} must be a number ${interval(f)}`;
    case "choice": return `${name} must be one of ${f.values.join(", ")}`;
    case "stop": return `${name}: up to ${f.maxCount} stop sequences of 1 to ${f.maxBytes} bytes`;
    case "boolean": return `${name} must be true or false`;
    case "format": return `${name} must be an object of at most ${f.maxBytes} bytes whose type is one of ${f.types.join(", ")}`;
  }
}

/** Whether v lies within a numeric field's limits (integers for an integer field). */
export function inRange(v: number, f: IntegerField | NumberField): boolean {
  if (typeof v !== "number" || !Number.isFinite(v)) return false;
  if (f.kind === "integer" && !Number.isInteger(v)) return false;
  const aboveMin = "minOpen" in f && f.minOpen ? v > f.min : v >= f.min;
  return aboveMin && (f.max === undefined || v <= f.max);
}

/** The table as scripts/pool/contract.json holds it (`npm run contract`): JSON, with the modes of the engine. */
export function contractJson(): string {
  return JSON.stringify({
    comment: "Generated from src/contract.ts by `npm run contract`; do not edit. CI fails when it differs from the table.",
    decodeModes: DECODE_MODES,
    fields: REQUEST_FIELDS,
    apiLimits: API_LIMITS,
  }, null, 2) + "\n";
}
