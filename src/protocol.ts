// The decoding protocol: the one interface every backend (the local engine, WebGPU, the remote GPU pool)
// implements. A leaf: it imports nothing. See docs/design.md §3 and docs/engine.md.

/** The four decoding modes of Fast BLT (docs/design.md §3). */
export type DecodeMode = "ar" | "blt-d" | "blt-s" | "blt-dv";
export const DECODE_MODES: readonly DecodeMode[] = ["ar", "blt-d", "blt-s", "blt-dv"];

export interface Sampling {
  /** 0 means greedy. */
  temperature: number;
  /** Nucleus mass in (0, 1]; 1 disables. */
  topP: number;
  /** Keep the k most likely bytes; 0 disables. */
  topK: number;
  /** Seed of the request's own PRNG: the same seed gives the same bytes. */
  seed: number;
}

export interface ModeKnobs {
  /** BLT-D / BLT-DV block size B. */
  blockSize: number;
  /** BLT-D confidence threshold α: unmask positions whose top probability ≥ α. */
  threshold: number;
  /** BLT-D entropy bound γ (nats); when set, the entropy-bounded rule replaces the confidence rule. */
  entropyBound: number | null;
  /** Cap on denoising passes per block (≤ B). */
  maxStepsPerBlock: number;
  /** BLT-S draft length k. */
  draftLength: number;
  /**
   * How BLT-D commits a filled block: "entropy" (default; the paper's Algorithm 1, the block re-patched by the
   * entropy model) or "block" (the block as one patch, a named variant measured beside it).
   */
  blockCommit?: BlockCommit;
  /**
   * What a BLT-D / BLT-DV block's revealed bytes give the decoder: "tokens" (the paper's: the decoder's token
   * embedding, as the model was trained) or "states" (the block's revealed prefix, bytes 0..p−1 all filled and never
   * re-masked, runs through the encoder as committed text does, and those rows start from its byte states; the
   * masked rows are unchanged). Default (absent): "states": BLT-D's text scores 1.33 bits per byte under the AR model
   * against 1.85 with token inputs, and BLT-DV (whose output is AR's either way) accepts more of its drafts
   * (docs/design.md §3, "Prefix states"); "tokens" is the paper's, a named variant measured beside it.
   */
  blockPrefix?: BlockPrefix;
}

/** The named variants of BLT-D's commit and of a block's filled prefix (ModeKnobs), as every validator lists them. */
export const BLOCK_COMMITS = ["entropy", "block"] as const;
export type BlockCommit = (typeof BLOCK_COMMITS)[number];
export const BLOCK_PREFIXES = ["tokens", "states"] as const;
export type BlockPrefix = (typeof BLOCK_PREFIXES)[number];

export interface DecodeRequest {
  model: string;
  prompt: Uint8Array;
  maxNewBytes: number;
  mode: DecodeMode;
  sampling: Sampling;
  knobs: ModeKnobs;
  /** Generation stops after any of these byte sequences; the sequence itself is not emitted. */
  stop: Uint8Array[];
  /**
   * Structured output: an OpenAI response_format object (json_object, json_schema, or the regex and grammar
   * extensions; docs/api.md, "Structured output"), compiled by whoever decodes (src/constrain). Absent or text: free.
   */
  responseFormat?: unknown;
  /** Each emitted byte's log-probability and those of the `logprobs` most likely bytes (0–20); absent: none. */
  logprobs?: number | null;
  /** The prompt's per-byte log-probabilities first (scoring): a bytes event with no bytes and promptLogprobs. */
  promptLogprobs?: boolean;
}

/** One byte's log-probability and the top ones at its position (natural log; docs/api.md, "Log-probabilities"). */
export interface ByteLogprob {
  byte: number;
  logprob: number;
  /** The most likely bytes, most likely first (ties: the lower byte first). */
  top: { byte: number; logprob: number }[];
}

export interface PassCounts {
  entropy: number;
  encoder: number;
  global: number;
  decoder: number;
}

export interface DecodeStats {
  mode: DecodeMode;
  promptBytes: number;
  generatedBytes: number;
  passes: PassCounts;
  /** Speculative modes: bytes drafted and bytes of those accepted. */
  draftedBytes: number;
  acceptedBytes: number;
  /** Estimated memory traffic (docs/design.md §4): weights read per pass plus KV cache read, in bytes. */
  estBytesMoved: number;
  wallMs: number;
  /** Of wallMs, the time spent reading the prompt before generation began; wallMs − prefillMs is decoding. */
  prefillMs: number;
  /** Which kernels ran the decode, e.g. "wasm-relaxed", "wasm-simd128", "torch-cuda-bf16" (absent when unknown). */
  kernels?: string;
}

export type FinishReason = "stop" | "length";

/**
 * Output bytes are append-only: a `bytes` event is never revised. Exactly one `done` or `error` ends a stream.
 * `logprobs`: one record per byte of the event, when the request asked for them; `promptLogprobs`: the prompt's
 * records in order (the first byte's null), on events with no bytes before any other, when the request asked.
 */
export type DecodeEvent =
  | { type: "bytes"; bytes: Uint8Array; logprobs?: ByteLogprob[]; promptLogprobs?: (ByteLogprob | null)[] }
  | { type: "done"; finishReason: FinishReason; stats: DecodeStats }
  | { type: "error"; code: string; message: string; param?: string };

export interface DecodeBackend {
  readonly name: string;
  /** Model ids this backend serves. */
  models(): string[];
  /**
   * Streams the request's events; aborting the signal stops the work within one block. `alive` is called
   * whenever the backend works or waits for this request (at least every few seconds while it runs), so the
   * caller can tell a request whose code still runs from one the runtime abandoned.
   */
  decode(request: DecodeRequest, signal?: AbortSignal, alive?: () => void): AsyncIterable<DecodeEvent>;
}

/** The error event of a request whose work was cancelled (its client left, or its turn was taken back). */
export const CANCELLED: DecodeEvent = Object.freeze({ type: "error", code: "cancelled", message: "the request was cancelled" });
