// The OpenAI request bodies this server accepts (zod), the fields it refuses rather than silently ignore,
// and the translation into a DecodeRequest. Unknown fields are accepted and ignored, as the OpenAI API does.
import { z } from "zod";
import { BLOCK_PREFIXES, DECODE_MODES, type DecodeMode, type DecodeRequest } from "../protocol.ts";
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

const int = (lo: number, hi: number) => z.number().int().min(lo).max(hi);
const textPart = z.object({ type: z.literal("text"), text: z.string() });
const content = z.union([z.string(), z.array(textPart).min(1)]);
const message = z.object({
  role: z.enum(["system", "developer", "user", "assistant"]),
  content: z.union([content, z.null()]).optional(),
  name: z.string().optional(),
});

const common = {
  model: z.string().min(1),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullish(),
  max_tokens: int(0, 1 << 20).nullish(),
  max_completion_tokens: int(0, 1 << 20).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  stop: z.union([z.string().min(1), z.array(z.string().min(1)).max(4)]).nullish(),
  seed: z.number().int().nullish(),
  n: z.number().int().nullish(),
  // extensions
  mode: z.enum(["auto", ...DECODE_MODES] as [DecodeMode | "auto", ...DecodeMode[]]).optional(),
  top_k: int(0, 256).optional(),
  block_size: int(1, 64).optional(),
  threshold: z.number().gt(0).max(1).optional(),
  entropy_bound: z.number().min(0).nullish(),
  max_steps_per_block: int(1, 64).optional(),
  draft_length: int(1, 64).optional(),
  block_prefix: z.enum(BLOCK_PREFIXES).optional(),
};

export const chatSchema = z.object({ ...common, messages: z.array(message).min(1).max(256) });
export const completionSchema = z.object({
  ...common,
  prompt: z.union([z.string(), z.array(z.string()).length(1)]),
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
  if (body.logprobs === true || (typeof body.logprobs === "number" && body.logprobs > 0)) refuse("logprobs", "returning log probabilities");
  if (set(body.top_logprobs) && body.top_logprobs !== 0) refuse("top_logprobs", "returning log probabilities");
  if (body.echo === true) refuse("echo", "echoing the prompt");
  if (typeof body.suffix === "string" && body.suffix.length > 0) refuse("suffix", "insertion (suffix)");
  if (set(body.logit_bias) && Object.keys(body.logit_bias as object).length > 0) refuse("logit_bias", "logit bias");
  for (const f of ["presence_penalty", "frequency_penalty"]) if (set(body[f]) && body[f] !== 0) refuse(f, "a non-zero penalty");
  const rf = body.response_format as { type?: string } | undefined;
  if (set(rf) && rf?.type !== "text") refuse("response_format", "structured output (only {\"type\":\"text\"})");
  if (set(body.audio)) refuse("audio", "audio output");
  if (Array.isArray(body.modalities) && body.modalities.some((m) => m !== "text")) refuse("modalities", "a modality other than text");
  if (set(body.prediction)) refuse("prediction", "predicted outputs");
}

/** zod's first issue as an OpenAI-style 400: `param` is the field path, e.g. "messages[0].content". */
function fromZod(error: z.ZodError): ApiError {
  const issue = error.issues[0];
  const param = issue.path.reduce<string>((p, k) => (typeof k === "number" ? `${p}[${k}]` : p ? `${p}.${String(k)}` : String(k)), "");
  const missing = issue.code === "invalid_type" && issue.message.includes("undefined");
  return badRequest(missing ? `${param} is required` : `${param || "body"}: ${issue.message}`, param || null, missing ? "missing_required_parameter" : "invalid_value");
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
      temperature: body.temperature ?? 1,
      topP: body.top_p ?? 1,
      topK: body.top_k ?? 0,
      seed: body.seed == null ? randomSeed() : body.seed >>> 0,
    },
    knobs: {
      blockSize,
      threshold: body.threshold ?? d.threshold,
      entropyBound: body.entropy_bound ?? null,
      maxStepsPerBlock: body.max_steps_per_block ?? blockSize,
      draftLength: body.draft_length ?? d.draftLength,
      blockPrefix: body.block_prefix, // absent: the engine's default ("states")
    },
    stop: stops.map((s) => utf8.encode(s)),
  };
}
