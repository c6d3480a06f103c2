// The OpenAI request bodies this server accepts (zod), the fields it refuses rather than silently ignore,
// and the translation into a DecodeRequest. Unknown fields are accepted and ignored, as the OpenAI API does.
import { z } from "zod";
import { API_LIMITS, describeField, REQUEST_FIELDS, type FieldName, type FieldSpec } from "../contract.ts";
import type { DecodeMode, DecodeRequest } from "../protocol.ts";
import { compileFormat, ConstraintError } from "../constrain/index.ts";
import { ApiError, badRequest } from "./errors.ts";

/** Server-wide defaults a deployment may change (wrangler.toml [vars]). */
export interface RequestDefaults {
  /** "auto": the server picks a lossless mode per request (mode-picker.ts). */
  mode: DecodeMode | "auto";
  maxNewBytes: number;
  blockSize: number;
  threshold: number;
  draftLength: number;
}

/** The contract's defaults (src/contract.ts), before a deployment's settings. */
export const CONTRACT_DEFAULTS: RequestDefaults = {
  mode: REQUEST_FIELDS.mode.default,
  maxNewBytes: REQUEST_FIELDS.max_tokens.default,
  blockSize: REQUEST_FIELDS.block_size.default,
  threshold: REQUEST_FIELDS.threshold.default,
  draftLength: REQUEST_FIELDS.draft_length.default,
};

const textPart = z.object({ type: z.literal("text"), text: z.string() });
const content = z.union([z.string(), z.array(textPart).min(1)]);
const message = z.object({
  role: z.enum(["system", "developer", "user", "assistant"]),
  content: z.union([content, z.null()]).optional(),
  name: z.string().optional(),
});

const utf8Bytes = (s: string) => new TextEncoder().encode(s).length;

/** The value type of a contract row as the API takes it. */
type SchemaOf<F> = F extends { kind: "integer" | "number" } ? z.ZodType<number>
  : F extends { kind: "boolean" } ? z.ZodType<boolean>
  : F extends { kind: "format" } ? z.ZodType<{ type: string; [k: string]: unknown }>
  : F extends { kind: "choice"; values: readonly (infer V extends string)[] } ? z.ZodType<V>
  : z.ZodType<string | string[]>;
type Rows = typeof REQUEST_FIELDS;

/** The zod schema of one row of the request contract; its error message is the contract's sentence. */
function fieldSchema<N extends FieldName>(name: N, f: FieldSpec = REQUEST_FIELDS[name]): SchemaOf<Rows[N]> {
  return rowSchema(name, f) as unknown as SchemaOf<Rows[N]>;
}

function rowSchema(name: FieldName, f: FieldSpec): z.ZodType {
  const error = describeField(name, f);
  switch (f.kind) {
    case "integer": case "number": {
      let n = z.number({ error });
      if (f.kind === "integer") n = n.int({ error });
      n = "minOpen" in f && f.minOpen ? n.gt(f.min, { error }) : n.min(f.min, { error });
      // max_tokens' ceiling is the deployment's (MAX_TOKENS_LIMIT), checked by the router with the model's name
      if (f.max !== undefined && name !== "max_tokens") n = n.max(f.max, { error });
      // the API takes any integer seed (as OpenAI's does) and uses it modulo 2^32 (toDecodeRequest)
      if (name === "seed") n = z.number({ error }).int({ error });
      return n;
    }
    case "choice":
      return z.enum(f.values as [string, ...string[]], { error });
    case "boolean":
      return z.boolean({ error });
    case "format":
      // the format itself is compiled by toDecodeRequest (src/constrain), whose errors name what it cannot honour
      return z.looseObject({ type: z.enum(f.types as [string, ...string[]], { error }) }, { error })
        .refine((o) => utf8Bytes(JSON.stringify(o)) <= f.maxBytes, { error });
    case "stop": {
      const one = z.string({ error }).min(1, { error }).refine((s) => utf8Bytes(s) <= f.maxBytes, { error });
      return z.union([one, z.array(one).max(f.maxCount, { error })], { error });
    }
  }
}

/** Every API field of the request contract, each optional and nullable (null is the default, as OpenAI's API has it). */
const contractFields = Object.fromEntries(
  (Object.entries(REQUEST_FIELDS) as [FieldName, FieldSpec][]).filter(([, f]) => !("api" in f && f.api === false)).map(([name, f]) => [name, fieldSchema(name, f).nullish()]),
) as { [K in FieldName as Rows[K] extends { api: false } ? never : K]: z.ZodOptional<z.ZodNullable<SchemaOf<Rows[K]>>> };

const common = {
  ...contractFields,
  model: z.string().min(1),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullish(),
  max_completion_tokens: fieldSchema("max_tokens").nullish(),
  n: z.number().int().nullish(),
};

export const chatSchema = z.object({ ...common, messages: z.array(message).min(1).max(256), logprobs: z.boolean({ error: "logprobs must be true or false" }).nullish() });
export const completionSchema = z.object({
  ...common,
  prompt: z.union([z.string(), z.array(z.string()).length(1)]),
  // the legacy form: logprobs is the number of top entries (the engine's top_logprobs row)
  logprobs: fieldSchema("top_logprobs").nullish(),
  echo: z.boolean({ error: "echo must be true or false" }).nullish(),
});

export type ChatBody = z.infer<typeof chatSchema>;
export type CompletionBody = z.infer<typeof completionSchema>;

/** Fields that ask for something this server does not do: refused with 400 naming the field. */
function refuseUnsupported(body: Record<string, unknown>): void {
  const refuse = (param: string, what: string) => {
    throw new ApiError({ status: 400, code: "unsupported_parameter", param, message: `${param}: ${what} is not supported by this server` });
  };
  const set = (v: unknown) => v !== undefined && v !== null;
  if (set(body.n) && body.n !== 1) refuse("n", "more than one choice (n > 1)");
  if (set(body.best_of) && body.best_of !== 1) refuse("best_of", "best_of > 1");
  for (const f of ["tools", "functions"]) if (Array.isArray(body[f]) ? (body[f] as unknown[]).length > 0 : set(body[f])) refuse(f, "tool and function calling");
  for (const f of ["tool_choice", "function_call"]) if (set(body[f]) && body[f] !== "none") refuse(f, "tool and function calling");
  if (typeof body.suffix === "string" && body.suffix.length > 0) refuse("suffix", "insertion (suffix)");
  if (set(body.logit_bias) && Object.keys(body.logit_bias as object).length > 0) refuse("logit_bias", "logit bias");
  for (const f of ["presence_penalty", "frequency_penalty"]) if (set(body[f]) && body[f] !== 0) refuse(f, "a non-zero penalty");
  if (set(body.audio)) refuse("audio", "audio output");
  if (Array.isArray(body.modalities) && body.modalities.some((m) => m !== "text")) refuse("modalities", "a modality other than text");
  if (set(body.prediction)) refuse("prediction", "predicted outputs");
}

/** zod's first complaint as an OpenAI-style 400: `param` is the field path, e.g. "messages[0].content". */
function fromZod(error: z.ZodError): ApiError {
  const [problem] = error.issues;
  const param = problem.path.reduce<string>((p, k) => (typeof k === "number" ? `${p}[${k}]` : p ? `${p}.${String(k)}` : String(k)), "");
  const missing = problem.code === "invalid_type" && problem.message.includes("undefined");
  // the contract's sentences name their field already ("top_k must be an integer in [0, 256]")
  const named = typeof problem.path[0] === "string" && problem.path[0] in REQUEST_FIELDS && problem.message.startsWith(problem.path[0]);
  return badRequest(missing ? `${param} is required` : named ? problem.message : `${param || "body"}: ${problem.message}`, param || null, missing ? "missing_required_parameter" : "invalid_value");
}

export function parseBody<S extends z.ZodType>(schema: S, raw: unknown): z.infer<S> {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw badRequest("the request body must be a JSON object", null, "invalid_json");
  refuseUnsupported(raw as Record<string, unknown>);
  const r = schema.safeParse(raw);
  if (!r.success) throw fromZod(r.error);
  return r.data;
}

const textOf = (c: z.infer<typeof content> | null | undefined) =>
  c == null ? "" : typeof c === "string" ? c : c.map((p) => p.text).join("");

/**
 * A base byte-level model has no chat format of its own; messages become a plain transcript that the model
 * continues: system text first, then "User: …" / "Assistant: …" lines, ending with "Assistant:".
 */
export function chatPrompt(messages: ChatBody["messages"]): string {
  let s = "";
  for (const m of messages) {
    const text = textOf(m.content);
    if (m.role === "system" || m.role === "developer") s += `${text}\n\n`;
    else s += `${m.role === "user" ? "User" : "Assistant"}: ${text}\n`;
  }
  return s + "Assistant:";
}

const utf8 = new TextEncoder();

/** The mode a body asks for, "auto" included (resolved once the backend is known). */
export function requestedMode(body: ChatBody | CompletionBody, d: RequestDefaults): DecodeMode | "auto" {
  return body.mode ?? d.mode;
}

/**
 * The DecodeRequest of a validated body; `promptText` is already rendered (chat) or taken (completion). A mode of
 * "auto" is left as "ar" here: the caller resolves it (ModePicker) once the backend is picked.
 */
export function toDecodeRequest(body: ChatBody | CompletionBody, promptText: string, d: RequestDefaults, randomSeed: () => number): DecodeRequest {
  const stops = body.stop == null ? [] : typeof body.stop === "string" ? [body.stop] : body.stop;
  const blockSize = body.block_size ?? d.blockSize;
  return {
    model: body.model,
    prompt: utf8.encode(promptText),
    maxNewBytes: body.max_completion_tokens ?? body.max_tokens ?? d.maxNewBytes,
    mode: ((m) => (m === "auto" ? "ar" : m))(requestedMode(body, d)),
    sampling: {
      temperature: body.temperature ?? REQUEST_FIELDS.temperature.default,
      topP: body.top_p ?? REQUEST_FIELDS.top_p.default,
      topK: body.top_k ?? REQUEST_FIELDS.top_k.default,
      seed: body.seed == null ? randomSeed() : body.seed >>> 0,
    },
    knobs: {
      blockSize,
      threshold: body.threshold ?? d.threshold,
      entropyBound: body.entropy_bound ?? null,
      maxStepsPerBlock: body.max_steps_per_block ?? blockSize,
      draftLength: body.draft_length ?? d.draftLength,
      blockPrefix: body.block_prefix ?? undefined, // absent: the engine's default (the contract's)
    },
    stop: stops.map((s) => utf8.encode(s)),
    ...outputOptions(body),
  };
}

/**
 * Structured output and log-probabilities: the response format, compiled here so that a format this server cannot
 * honour is a 400 (or a 413 when too large to compile) before any work (the decoder compiles it again from a cache);
 * chat's logprobs + top_logprobs and completions' logprobs: n become the engine's top count; completions' echo with
 * logprobs asks for the prompt's log-probabilities too.
 */
function outputOptions(body: ChatBody | CompletionBody): Pick<DecodeRequest, "responseFormat" | "logprobs" | "promptLogprobs"> {
  const out: Pick<DecodeRequest, "responseFormat" | "logprobs" | "promptLogprobs"> = {};
  const rf = body.response_format;
  if (rf != null && rf.type !== "text") {
    try {
      compileFormat(rf);
    } catch (e) {
      if (e instanceof ConstraintError) throw new ApiError({ status: e.status, code: e.status === 413 ? "constraint_too_large" : "invalid_value", param: e.param, message: e.message });
      throw e;
    }
    out.responseFormat = rf;
  }
  if ("messages" in body) {
    if (body.top_logprobs != null && body.logprobs !== true) throw badRequest("top_logprobs requires logprobs: true", "top_logprobs", "invalid_value");
    if (body.logprobs === true) out.logprobs = body.top_logprobs ?? 0;
  } else {
    const n = body.logprobs ?? body.top_logprobs;
    if (n != null) out.logprobs = n;
    if (body.echo === true && n != null) out.promptLogprobs = true;
  }
  return out;
}
