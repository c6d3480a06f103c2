// The engine: serves DecodeRequests from one loaded model in any of the four modes, as a stream of
// DecodeEvents. Runs unchanged in Node, workerd and browsers (no runtime-specific imports).
import type { DecodeEvent, DecodeMode, DecodeRequest, DecodeStats } from "../protocol.ts";
import { BLOCK_COMMITS, BLOCK_PREFIXES, CANCELLED, DECODE_MODES } from "../protocol.ts";
import type { BltModel } from "./model/blt-model.ts";
import { decodeAr } from "./decode/ar.ts";
import { decodeBltD } from "./decode/blt-d.ts";
import { decodeBltDv } from "./decode/blt-dv.ts";
import { decodeBltS } from "./decode/blt-s.ts";
import { MAX_BLOCK, ModeScratch, type ModeContext, type ModeGenerator } from "./decode/context.ts";
import { OutputFramer } from "./decode/output.ts";
import { Sampler } from "./decode/sampler.ts";
import { Sequence } from "./decode/sequence.ts";
import { WorkBudget } from "./decode/work-budget.ts";

const MODES: Record<DecodeMode, (c: ModeContext) => ModeGenerator> = {
  ar: decodeAr, "blt-d": decodeBltD, "blt-s": decodeBltS, "blt-dv": decodeBltDv,
};

/** A request the engine cannot serve; `param` names the offending field. */
export class RequestError extends Error {
  override name = "RequestError";
  constructor(readonly param: string, message: string) { super(message); }
}

/** Default most bytes one request may generate (EngineOptions.maxNewBytes). */
export const MAX_NEW_BYTES = 8192;

/**
 * Checks a request against the model: the prompt must fit the model's window (ctx bytes with BOS), generation
 * may run past it (the caches slide) up to maxNewBytes. Throws RequestError naming the field.
 */
export function validateRequest(r: DecodeRequest, model: Pick<BltModel, "ctx">, maxNewBytes = MAX_NEW_BYTES): void {
  const int = (v: number, lo: number, hi: number, param: string) => {
    if (!Number.isInteger(v) || v < lo || v > hi) throw new RequestError(param, `${param} must be an integer in [${lo}, ${hi}], got ${v}`);
  };
  if (!DECODE_MODES.includes(r.mode)) throw new RequestError("mode", `unknown mode ${JSON.stringify(r.mode)}; use one of ${DECODE_MODES.join(", ")}`);
  if (r.prompt.length > model.ctx - 1) {
    throw new RequestError("prompt", `the prompt is ${r.prompt.length} bytes; this model reads prompts of at most ${model.ctx - 1} bytes (its ${model.ctx}-byte window, BOS included)`);
  }
  int(r.maxNewBytes, 0, maxNewBytes, "max_new_bytes");
  int(r.knobs.blockSize, 1, MAX_BLOCK, "block_size");
  int(r.knobs.maxStepsPerBlock, 1, MAX_BLOCK, "max_steps_per_block");
  int(r.knobs.draftLength, 1, MAX_BLOCK, "draft_length");
  if (!(r.knobs.threshold > 0 && r.knobs.threshold <= 1)) throw new RequestError("threshold", `threshold must be in (0, 1], got ${r.knobs.threshold}`);
  if (r.knobs.entropyBound !== null && !(r.knobs.entropyBound >= 0)) throw new RequestError("entropy_bound", "entropy_bound must be ≥ 0");
  const variant = (value: string | undefined, allowed: readonly string[], param: string) => {
    if (value !== undefined && !allowed.includes(value)) throw new RequestError(param, `${param} must be ${allowed.join(" or ")}, got ${String(value).slice(0, 40)}`);
  };
  variant(r.knobs.blockCommit, BLOCK_COMMITS, "block_commit");
  variant(r.knobs.blockPrefix, BLOCK_PREFIXES, "block_prefix");
  const s = r.sampling;
  if (!(s.temperature >= 0 && s.temperature <= 10)) throw new RequestError("temperature", `temperature must be in [0, 10], got ${s.temperature}`);
  if (!(s.topP > 0 && s.topP <= 1)) throw new RequestError("top_p", `top_p must be in (0, 1], got ${s.topP}`);
  int(s.topK, 0, 256, "top_k");
  int(s.seed, 0, 2 ** 32 - 1, "seed");
  if (r.stop.length > 4 || r.stop.some((x) => x.length === 0 || x.length > 64)) throw new RequestError("stop", "up to 4 stop sequences of 1 to 64 bytes");
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
    const m = this.model;
    const seq = new Sequence(m);
    const out = new OutputFramer(r.maxNewBytes, r.stop);
    const counters = { draftedBytes: 0, acceptedBytes: 0 };
    if (signal?.aborted) { yield CANCELLED; return; }
    await seq.prefill(r.prompt);
    alive?.();
    if (signal?.aborted) { yield CANCELLED; return; }
    const prefillMs = performance.now() - t0;
    const c0 = { ...m.counters }; // stats count the passes of generation, not of the prompt
    const ctx: ModeContext = { seq, sampler: new Sampler(r.sampling), knobs: r.knobs, scratch: new ModeScratch(), budget: () => out.remaining,
      work: new WorkBudget(r.maxNewBytes), counters };
    let lastBreath = performance.now(), blocks = 0;
    for await (const bytes of MODES[r.mode](ctx)) {
      alive?.();
      const emit = out.push(bytes);
      if (emit.length) yield { type: "bytes", bytes: emit };
      if (out.finish) break;
      if (++blocks >= BREATHE_BLOCKS || performance.now() - lastBreath > BREATHE_MS) {
        await breathe();
        lastBreath = performance.now();
        blocks = 0;
      }
      if (signal?.aborted) { yield CANCELLED; return; }
    }
    const rest = out.flush();
    if (rest.length) yield { type: "bytes", bytes: rest };
    const stats: DecodeStats = {
      mode: r.mode, promptBytes: r.prompt.length, generatedBytes: out.text.length,
      passes: { entropy: m.counters.entropy - c0.entropy, encoder: m.counters.encoder - c0.encoder,
                global: m.counters.global - c0.global, decoder: m.counters.decoder - c0.decoder },
      draftedBytes: counters.draftedBytes, acceptedBytes: counters.acceptedBytes,
      estBytesMoved: m.counters.bytesMoved - c0.bytesMoved, wallMs: performance.now() - t0, prefillMs,
    };
    yield { type: "done", finishReason: out.finish ?? "length", stats };
  }
}
