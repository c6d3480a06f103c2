// The pool worker's side of wire protocol v1 (src/backends/wire.ts): a POST /v1/decode body read back into a
// DecodeRequest, with the same answers as the PyTorch worker's scripts/pool/wire.py: 400 invalid_request
// (param: the field's name in the request contract, src/contract.ts), 400 unsupported_version, 400 unsupported_mode, 404 model_not_found.
import { validateRequest, RequestError } from "../engine/engine.ts";
import { apiName, describeField, REQUEST_FIELDS } from "../contract.ts";
import { DECODE_MODES, type DecodeMode, type DecodeRequest } from "../protocol.ts";
import { fromBase64, WIRE_VERSION } from "../backends/wire.ts";

/** An answer before streaming: HTTP status, error code, message and the offending field. */
export class WireError extends Error {
  override name = "WireError";
  constructor(readonly status: number, readonly code: string, message: string, readonly param?: string) { super(message); }

  body(): { error: { code: string; message: string; param?: string } } {
    return { error: { code: this.code, message: this.message, ...(this.param ? { param: this.param } : {}) } };
  }
}

/** The contract's name for a wire field (`where` is the object that holds it): maxNewBytes → max_tokens, knobs.blockSize → block_size, promptBase64 → prompt. */
const nameOf = (key: string, where = "request") => apiName(where === "sampling" || where === "knobs" ? `${where}.${key}` : key.replace("Base64", ""));
const invalid = (param: string, message: string, where?: string) => new WireError(400, "invalid_request", message, nameOf(param, where));

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const show = (v: unknown) => (JSON.stringify(v) ?? String(v)).slice(0, 40);

function field(o: Obj, key: string, kind: "string" | "object" | "number", where: string): unknown {
  if (!(key in o)) throw invalid(key, `${where}.${key} is missing`, where);
  const v = o[key];
  const ok = kind === "object" ? isObj(v) : kind === "number" ? typeof v === "number" && Number.isFinite(v) : typeof v === kind;
  if (!ok) throw invalid(key, `${where}.${key} must be ${kind === "object" ? "an" : "a"} ${kind}, got ${show(v)}`, where);
  return v;
}

function base64(s: string, param: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) throw invalid(param, `${param} is not valid base64`);
  return fromBase64(s);
}

/**
 * A request body → the DecodeRequest it carries. `models` maps each served model id to its context in bytes;
 * `modes` are those this worker implements. Range checks are the engine's own (validateRequest). Throws WireError.
 */
export function parseWireRequest(raw: string, models: ReadonlyMap<string, { ctx: number }>, modes: readonly string[] = DECODE_MODES): DecodeRequest {
  let body: unknown;
  try { body = JSON.parse(raw); } catch { throw invalid("body", "the body is not valid JSON"); }
  if (!isObj(body)) throw invalid("body", "the body must be a JSON object");
  if (!("version" in body)) throw invalid("version", "version is missing");
  if (body.version !== WIRE_VERSION) {
    throw new WireError(400, "unsupported_version", `protocol version ${show(body.version).slice(0, 20)} is not supported; this worker speaks ${WIRE_VERSION}`);
  }
  const r = field(body, "request", "object", "body") as Obj;

  // which model and mode: answered before the rest (404 / unsupported_mode)
  const model = field(r, "model", "string", "request") as string;
  const served = models.get(model);
  if (!served) throw new WireError(404, "model_not_found", `model ${JSON.stringify(model)} is not served here; try ${[...models.keys()].join(", ")}`);
  const mode = field(r, "mode", "string", "request") as string;
  if (!modes.includes(mode)) {
    const known = (DECODE_MODES as readonly string[]).includes(mode) ? "" : "unknown mode; ";
    throw new WireError(400, "unsupported_mode", `${known}mode ${JSON.stringify(mode)} is not implemented here; use one of ${modes.join(", ")}`, "mode");
  }

  // every field present and of the right type
  const prompt = base64(field(r, "promptBase64", "string", "request") as string, "promptBase64");
  const maxNewBytes = field(r, "maxNewBytes", "number", "request") as number;
  const s = field(r, "sampling", "object", "request") as Obj;
  const k = field(r, "knobs", "object", "request") as Obj;
  const num = (o: Obj, key: string, where: string) => field(o, key, "number", where) as number;
  const sampling = { temperature: num(s, "temperature", "sampling"), topP: num(s, "topP", "sampling"), topK: num(s, "topK", "sampling"), seed: num(s, "seed", "sampling") };
  // named variants (ModeKnobs.blockCommit, blockPrefix): absent means the mode's default
  const choice = <T extends string>(key: string, allowed: readonly T[]): T | undefined => {
    if (k[key] == null) return undefined;
    if (!allowed.includes(k[key] as T)) throw invalid(key, `${nameOf(key, "knobs")} must be one of ${allowed.join(", ")}, got ${JSON.stringify(k[key]).slice(0, 40)}`, "knobs");
    return k[key] as T;
  };
  const knobs = {
    blockSize: num(k, "blockSize", "knobs"), threshold: num(k, "threshold", "knobs"),
    entropyBound: k.entropyBound == null ? null : num(k, "entropyBound", "knobs"),
    maxStepsPerBlock: num(k, "maxStepsPerBlock", "knobs"), draftLength: num(k, "draftLength", "knobs"),
    blockCommit: choice("blockCommit", REQUEST_FIELDS.block_commit.values), blockPrefix: choice("blockPrefix", REQUEST_FIELDS.block_prefix.values),
  };
  const stops = r.stopBase64 ?? [];
  if (!Array.isArray(stops) || !stops.every((x) => typeof x === "string")) throw invalid("stopBase64", "request.stopBase64 must be a list of base64 strings");
  const request: DecodeRequest = { model, prompt, maxNewBytes, mode: mode as DecodeMode, sampling, knobs, stop: stops.map((x) => base64(x, "stopBase64")) };
  // structured output and log-probabilities: the response format travels as the client sent it (bounded by the
  // contract) and the engine compiles it; the engine checks top_logprobs' range
  if (r.responseFormat != null) {
    const f = REQUEST_FIELDS.response_format;
    if (!isObj(r.responseFormat) || JSON.stringify(r.responseFormat).length > f.maxBytes) throw invalid("responseFormat", `${describeField("response_format", f)}`);
    request.responseFormat = r.responseFormat;
  }
  if (r.logprobs != null) request.logprobs = field(r, "logprobs", "number", "request") as number;
  if (r.promptLogprobs != null) {
    if (typeof r.promptLogprobs !== "boolean") throw invalid("promptLogprobs", "request.promptLogprobs must be a boolean");
    request.promptLogprobs = r.promptLogprobs;
  }

  // ranges: the engine's checks, against the context this worker serves the model with
  try {
    validateRequest(request, served);
  } catch (e) {
    if (e instanceof RequestError) throw new WireError(400, "invalid_request", e.message, e.param);
    throw e;
  }
  return request;
}
