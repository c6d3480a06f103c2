// The engine: serves DecodeRequests from one loaded model in any of the four modes, as a stream of
// DecodeEvents. Runs unchanged in Node, workerd and browsers (no runtime-specific imports).
import type { DecodeEvent, DecodeMode, DecodeRequest, DecodeStats } from "../protocol.ts";
import { CANCELLED, DECODE_MODES } from "../protocol.ts";
import { describeField, inRange, REQUEST_FIELDS, type ChoiceField, type FieldName, type IntegerField, type NumberField } from "../contract.ts";
import type { BltModel } from "./model/blt-model.ts";
import { decodeAr } from "./decode/ar.ts";
import { decodeBltD } from "./decode/blt-d.ts";
import { decodeBltDv } from "./decode/blt-dv.ts";
import { decodeBltS } from "./decode/blt-s.ts";
import { ModeScratch, type ModeContext, type ModeGenerator } from "./decode/context.ts";
import { concatBytes, OutputFramer } from "./decode/output.ts";
import { Sampler } from "./decode/sampler.ts";
import { Sequence } from "./decode/sequence.ts";
import { WorkBudget } from "./decode/work-budget.ts";
import { Guide } from "./decode/guide.ts";
import { LogprobRecorder, logprobOf, type ByteLogprob } from "./decode/logprobs.ts";
import { compileFormat, ConstraintError } from "../constrain/index.ts";
import { BOS } from "../config.ts";

const MODES: Record<DecodeMode, (c: ModeContext) => ModeGenerator> = {
  ar: decodeAr, "blt-d": decodeBltD, "blt-s": decodeBltS, "blt-dv": decodeBltDv,
};

/** A request the engine cannot serve; `param` names the offending field. */
export class RequestError extends Error {
  override name = "RequestError";
  constructor(readonly param: string, message: string) { super(message); }
}

/** Default most bytes one request may generate (EngineOptions.maxNewBytes): the contract's max_tokens limit. */
export const MAX_NEW_BYTES: number = REQUEST_FIELDS.max_tokens.max;

const checkNumber = (v: number, name: FieldName, spec: IntegerField | NumberField = REQUEST_FIELDS[name] as IntegerField | NumberField) => {
  if (!inRange(v, spec)) throw new RequestError(name, `${describeField(name, spec)}, got ${v}`);
};
const checkChoice = (v: string | undefined, name: FieldName) => {
  const spec = REQUEST_FIELDS[name] as ChoiceField;
  if (v !== undefined && !spec.values.includes(v)) throw new RequestError(name, `${describeField(name, spec)}, got ${String(v).slice(0, 40)}`);
};

/**
 * Checks a request against the request contract (src/contract.ts) and the model: the prompt must fit the model's
 * window (ctx bytes with BOS), generation may run past it (the caches slide) up to maxNewBytes. Throws
 * RequestError naming the field by its API name.
 */
export function validateRequest(r: DecodeRequest, model: Pick<BltModel, "ctx">, maxNewBytes = MAX_NEW_BYTES): void {
  if (!DECODE_MODES.includes(r.mode)) throw new RequestError("mode", `unknown mode ${JSON.stringify(r.mode)}; use one of ${DECODE_MODES.join(", ")}`);
  if (r.prompt.length > model.ctx - 1) {
    throw new RequestError("prompt", `the prompt is ${r.prompt.length} bytes; this model reads prompts of at most ${model.ctx - 1} bytes (its ${model.ctx}-byte window, BOS included)`);
  }
  checkNumber(r.maxNewBytes, "max_tokens", { ...REQUEST_FIELDS.max_tokens, max: maxNewBytes });
  checkNumber(r.knobs.blockSize, "block_size");
  checkNumber(r.knobs.maxStepsPerBlock, "max_steps_per_block");
  checkNumber(r.knobs.draftLength, "draft_length");
  checkNumber(r.knobs.threshold, "threshold");
  if (r.knobs.entropyBound !== null) checkNumber(r.knobs.entropyBound, "entropy_bound");
  checkChoice(r.knobs.blockCommit, "block_commit");
  checkChoice(r.knobs.blockPrefix, "block_prefix");
  const s = r.sampling;
  checkNumber(s.temperature, "temperature");
  checkNumber(s.topP, "top_p");
  checkNumber(s.topK, "top_k");
  checkNumber(s.seed, "seed");
  const stop = REQUEST_FIELDS.stop;
  if (r.stop.length > stop.maxCount || r.stop.some((x) => x.length === 0 || x.length > stop.maxBytes)) throw new RequestError("stop", describeField("stop", stop));
  if (r.logprobs != null) checkNumber(r.logprobs, "top_logprobs");
}

/**
 * Yields to the event loop so an abort (or another request) can be seen; called between blocks, every 5 ms of
 * decoding and at least every BREATHE_BLOCKS blocks (a deployed Worker's clock stands still while code runs, so
 * time alone would never call for a breath there). setImmediate where there is one (Node; workerd under
 * nodejs_compat): Node clamps setTimeout(0) to 1 ms, which cost AR decoding about a sixth of its speed (measured).
 * Browsers' engine worker unclamps its zero-delay timeouts itself (web/engine-worker.ts).
 */
const immediate = (globalThis as { setImmediate?: (f: () => void) => unknown }).setImmediate;
const breathe = immediate ? () => new Promise<void>((r) => { immediate(r); }) : () => new Promise<void>((r) => setTimeout(r, 0));
const BREATHE_MS = 5;
const BREATHE_BLOCKS = 8;

/** What the engine reads of a cancellation: an AbortSignal, or any object whose `aborted` can turn true. */
export interface StopFlag {
  readonly aborted: boolean;
}

export interface EngineOptions {
  /** Most bytes one request may generate (default MAX_NEW_BYTES); memory does not depend on it. */
  maxNewBytes?: number;
}

export class Engine {
  readonly maxNewBytes: number;

  constructor(readonly model: BltModel, options: EngineOptions = {}) {
    this.maxNewBytes = options.maxNewBytes ?? MAX_NEW_BYTES;
  }

  /**
   * Streams one request. The model has one run state: callers serialise requests (see backends/local.ts).
   * `signal` is read after every block (and after the prompt): once aborted, the decode ends with a cancelled
   * error event without touching the model again. `alive` is called after the prompt and after every block.
   */
  async *decode(r: DecodeRequest, signal?: StopFlag, alive?: () => void): AsyncGenerator<DecodeEvent> {
    const t0 = performance.now();
    try {
      validateRequest(r, this.model, this.maxNewBytes);
    } catch (e) {
      if (e instanceof RequestError) { yield { type: "error", code: "invalid_request", message: e.message, param: e.param }; return; }
      throw e;
    }
    const x = r;
    let guide: Guide | null = null;
    try {
      const program = x.responseFormat == null ? null : compileFormat(x.responseFormat);
      if (program) guide = new Guide(program);
    } catch (e) {
      if (e instanceof ConstraintError) { yield { type: "error", code: e.status === 413 ? "constraint_too_large" : "invalid_request", message: e.message, param: e.param }; return; }
      if (e instanceof RequestError) { yield { type: "error", code: "invalid_request", message: e.message, param: e.param }; return; }
      throw e;
    }
    const lp = x.logprobs == null ? null : new LogprobRecorder(x.logprobs);
    const m = this.model;
    const seq = new Sequence(m);
    const out = new OutputFramer(r.maxNewBytes, r.stop);
    const counters = { draftedBytes: 0, acceptedBytes: 0 };
    if (signal?.aborted) { yield CANCELLED; return; }
    if (x.promptLogprobs) {
      // the prompt read with every row's logits (the rows `npm run eval` scores): row i predicts prompt byte i
      const ids = new Int32Array(r.prompt.length + 1);
      ids[0] = BOS;
      ids.set(r.prompt, 1);
      await seq.appendClean(ids, 0, true);
      const top = x.logprobs ?? 0;
      const records: (ByteLogprob | null)[] = Array.from(r.prompt, (b, i) => (i === 0 ? null : logprobOf(seq.logitsOf(i), 0, b, top)));
      // in events of a bounded size
      const per = logprobEventBytes(top);
      for (let i = 0; i < records.length; i += per) yield { type: "bytes", bytes: new Uint8Array(0), promptLogprobs: records.slice(i, i + per) };
    } else await seq.prefill(r.prompt);
    alive?.();
    if (signal?.aborted) { yield CANCELLED; return; }
    const prefillMs = performance.now() - t0;
    const c0 = { ...m.counters }; // stats count the passes of generation, not of the prompt
    const ctx: ModeContext = { seq, sampler: new Sampler(r.sampling), knobs: r.knobs, scratch: new ModeScratch(), budget: () => (guide?.finished ? 0 : out.remaining),
      work: new WorkBudget(r.maxNewBytes), counters, guide, lp };
    // Bytes leave in one event per breath (the first ones at once): one event per byte would cost AR more in
    // the consumers (stream framing, every layer of generators) than its kernels in the slower ones.
    // With log-probabilities an event stays as small as the prompt's above (each byte's record is up to ~700 bytes).
    let lastBreath = performance.now(), blocks = 0, sent = false, heldBytes = 0;
    const maxHeld = lp ? logprobEventBytes(x.logprobs ?? 0) : 4096;
    const held: Uint8Array[] = [];
    const release = () => { heldBytes = 0; sent = true; const parts = held.splice(0); return bytesEvent(parts.length === 1 ? parts[0] : concatBytes(parts), lp); };
    for await (const bytes of MODES[r.mode](ctx)) {
      alive?.();
      const emit = out.push(bytes);
      if (emit.length) { held.push(emit); heldBytes += emit.length; }
      if (out.finish) break;
      if ((!sent || heldBytes >= maxHeld) && held.length) yield release();
      if (++blocks >= BREATHE_BLOCKS || performance.now() - lastBreath > BREATHE_MS) {
        if (held.length) yield release();
        await breathe();
        lastBreath = performance.now();
        blocks = 0;
      }
      if (signal?.aborted) { yield CANCELLED; return; }
    }
    const rest = out.flush();
    if (rest.length) held.push(rest);
    if (held.length) yield release();
    const stats: DecodeStats = {
      mode: r.mode, promptBytes: r.prompt.length, generatedBytes: out.text.length,
      passes: { entropy: m.counters.entropy - c0.entropy, encoder: m.counters.encoder - c0.encoder,
                global: m.counters.global - c0.global, decoder: m.counters.decoder - c0.decoder },
      draftedBytes: counters.draftedBytes, acceptedBytes: counters.acceptedBytes,
      estBytesMoved: m.counters.bytesMoved - c0.bytesMoved, wallMs: performance.now() - t0, prefillMs, kernels: m.K.name,
    };
    // a constrained output ends "stop" where its automaton accepted it (and "length" where the limit came first)
    const complete = guide !== null && guide.state.accepting && (guide.finished || guide.state.done) && guide.count <= out.text.length;
    const finishReason = complete ? "stop" : out.finish ?? "length";
    yield { type: "done", finishReason, stats };
  }
}


/** Most bytes one event with log-probabilities carries (a pool worker's events are at most 64 KiB on the wire). */
function logprobEventBytes(top: number): number {
  return Math.max(16, Math.floor(24_000 / (48 + 32 * top)));
}

/** A bytes event, with the emitted bytes' log-probabilities when the request asked for them. */
function bytesEvent(bytes: Uint8Array, lp: LogprobRecorder | null): DecodeEvent {
  return lp ? { type: "bytes", bytes, logprobs: lp.take(bytes.length) } : { type: "bytes", bytes };
}
