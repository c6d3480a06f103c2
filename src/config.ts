// ModelConfig: the model's shape, parsed from the checkpoint's `config` metadata (docs/model.md §2) and frozen.
// Every derived dimension is computed here and nowhere else. Also the default model's name. A leaf: it imports nothing.

/**
 * The model used when none is named: the Worker bundles it first (`npm start`; the first model `GET /v1/models`
 * lists), and the demo page, the CLIs, the pool worker, the load test and the benchmarks default to it.
 * src/worker.ts imports DEFAULT_MODEL_DIR's files by literal path: change both together.
 */
export const DEFAULT_MODEL = "blt-v2";
export const DEFAULT_MODEL_DIR = `models/${DEFAULT_MODEL}`;

export const BOS = 256;
export const PAD = 257;
export const EOS = 257;
export const MASK = 258;
/** Rows of every token embedding table: 256 bytes + BOS, PAD/EOS, MASK. */
export const VOCAB_IN = 259;
/** Output heads predict bytes only. */
export const VOCAB_OUT = 256;

export interface TransformerShape {
  dim: number;
  nLayers: number;
  nHeads: number;
  headDim: number;
  ffnHidden: number;
  /** Windowed causal attention: a query sees this many keys including itself; Infinity for full causal. */
  window: number;
}

/**
 * Which latents a decoder row reads (docs/model.md §8). Row i predicts x(i+1); its read index r(i) is, for
 * "one" and "all" (the paper's rule, docs/design.md §1), the patch just before the patch containing x(i+1): the
 * previous patch's latent inside a patch, its own patch's at a patch's last byte. "one" reads latent r(i)
 * alone, "all" latents 0..r(i). "v1" (the blt-d-* models) reads latents 0..r(i) with r(i) = own patch − 1.
 */
export type DecoderLatents = "v1" | "one" | "all";

export interface ModelConfig {
  normEps: number;
  ropeBase: number;
  maxSeqLen: number;
  entropy: TransformerShape;
  patching: { threshold: number; maxPatchLen: number };
  ngram: { sizes: number[]; tableSizes: number[] };
  encoder: TransformerShape;
  decoder: TransformerShape;
  decoderLatents: DecoderLatents;
  pooling: { nHeads: number; headDim: number };
  global: TransformerShape;
  diffusion: { enabled: boolean; blockSizes: number[]; defaultBlockSize: number };
}

/** A config that does not describe a model this engine can run. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

type Json = Record<string, unknown>;

function obj(v: unknown, path: string): Json {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new ConfigError(`config.${path}: expected an object`);
  return v as Json;
}

function int(o: Json, key: string, path: string, min = 1): number {
  const v = o[key];
  if (typeof v !== "number" || !Number.isInteger(v) || v < min) throw new ConfigError(`config.${path}.${key}: expected an integer ≥ ${min}, got ${JSON.stringify(v)}`);
  return v;
}

function num(o: Json, key: string, path: string): number {
  const v = o[key];
  if (typeof v !== "number" || !Number.isFinite(v)) throw new ConfigError(`config.${path}.${key}: expected a finite number, got ${JSON.stringify(v)}`);
  return v;
}

function ints(o: Json, key: string, path: string): number[] {
  const v = o[key];
  if (!Array.isArray(v) || v.length === 0 || !v.every((x) => Number.isInteger(x) && x > 0)) {
    throw new ConfigError(`config.${path}.${key}: expected a non-empty list of positive integers`);
  }
  return v as number[];
}

function heads(dim: number, nHeads: number, path: string): number {
  if (dim % nHeads !== 0) throw new ConfigError(`config.${path}: dim ${dim} is not divisible by n_heads ${nHeads}`);
  const headDim = dim / nHeads;
  if (headDim % 2 !== 0) throw new ConfigError(`config.${path}: head dim ${headDim} must be even for RoPE`);
  return headDim;
}

function transformer(o: Json, path: string, nLayers: number, window: number): TransformerShape {
  const dim = int(o, "dim", path), nHeads = int(o, "n_heads", path);
  return { dim, nLayers, nHeads, headDim: heads(dim, nHeads, path), ffnHidden: int(o, "ffn_hidden", path), window };
}

/** Parses and validates the checkpoint's config JSON; the result is deeply frozen. */
export function parseModelConfig(json: unknown): ModelConfig {
  const c = obj(json, "(root)");
  const entropy = obj(c.entropy, "entropy"), patching = obj(c.patching, "patching"), ngram = obj(c.ngram, "ngram");
  const local = obj(c.local, "local"), pooling = obj(c.pooling, "pooling"), glob = obj(c.global, "global");
  const diffusion = obj(c.diffusion, "diffusion");

  if (typeof patching.threshold !== "number") throw new ConfigError("config.patching.threshold: missing; the entropy threshold is calibrated after training (export writes it)");
  if (patching.entropy_unit !== undefined && patching.entropy_unit !== "nats") throw new ConfigError(`config.patching.entropy_unit: only "nats" is supported`);
  const sizes = ints(ngram, "sizes", "ngram"), tableSizes = ints(ngram, "table_sizes", "ngram");
  if (sizes.length !== tableSizes.length) throw new ConfigError("config.ngram: sizes and table_sizes differ in length");
  const blockSizes = ints(diffusion, "block_sizes", "diffusion");
  const localWindow = int(local, "window", "local");
  const poolHeads = int(pooling, "n_heads", "pooling");
  const localDim = int(local, "dim", "local");
  const decoderLatents = local.decoder_latents ?? "v1";
  if (decoderLatents !== "v1" && decoderLatents !== "one" && decoderLatents !== "all") {
    throw new ConfigError(`config.local.decoder_latents: expected "v1", "one" or "all", got ${JSON.stringify(decoderLatents)}`);
  }

  const config: ModelConfig = {
    normEps: num(c, "norm_eps", "(root)"),
    ropeBase: num(c, "rope_base", "(root)"),
    maxSeqLen: int(c, "max_seq_len", "(root)"),
    entropy: transformer(entropy, "entropy", int(entropy, "n_layers", "entropy"), int(entropy, "window", "entropy")),
    patching: { threshold: patching.threshold, maxPatchLen: int(patching, "max_patch_len", "patching") },
    ngram: { sizes, tableSizes },
    encoder: transformer(local, "local", int(local, "n_encoder_layers", "local"), localWindow),
    decoder: transformer(local, "local", int(local, "n_decoder_layers", "local"), localWindow),
    decoderLatents,
    pooling: { nHeads: poolHeads, headDim: heads(localDim, poolHeads, "pooling") },
    global: transformer(glob, "global", int(glob, "n_layers", "global"), Infinity),
    diffusion: {
      enabled: diffusion.enabled === true,
      blockSizes,
      defaultBlockSize: int(diffusion, "default_block_size", "diffusion"),
    },
  };
  return deepFreeze(config);
}

function deepFreeze<T>(o: T): T {
  if (typeof o === "object" && o !== null) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
