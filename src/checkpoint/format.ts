// The checkpoint format (docs/model.md §1): models/<name>/ holds model.safetensors (f32), model.q8.safetensors
// (int8 Linear weights, and embedding tables where its metadata says so, with one f32 scale per row), golden.safetensors
// and manifest.json.
// safetensors: u64 LE header length N, N bytes of JSON {name: {dtype, shape, data_offsets}, __metadata__},
// then the raw little-endian data. __metadata__.format_version = "1"; __metadata__.config = the ModelConfig JSON.
import { VOCAB_IN, VOCAB_OUT, type ModelConfig, type TransformerShape } from "../config.ts";

export const FORMAT_VERSION = "1";
export const WEIGHT_FILES = { f32: "model.safetensors", q8: "model.q8.safetensors" } as const;
export type WeightVariant = keyof typeof WEIGHT_FILES;

export type DType = "F32" | "I32" | "I8";
export const DTYPE_BYTES: Record<DType, number> = { F32: 4, I32: 4, I8: 1 };

export interface TensorSpec { dtype: DType; shape: number[] }

/** Linear weights (PyTorch layout (out, in)) are the tensors the q8 variant stores as int8 + per-row scale. */
const LINEAR = /\.(wq|wk|wv|wo|w1|w2|w3|head|proj)\.weight$/;
export function isLinear(name: string): boolean { return LINEAR.test(name); }

function layerTensors(out: Map<string, TensorSpec>, prefix: string, t: TransformerShape): void {
  const f32 = (...shape: number[]): TensorSpec => ({ dtype: "F32", shape });
  for (let l = 0; l < t.nLayers; l++) {
    const p = `${prefix}.layers.${l}.`;
    out.set(p + "attn_norm.weight", f32(t.dim));
    for (const w of ["wq", "wk", "wv", "wo"]) out.set(`${p}attn.${w}.weight`, f32(t.dim, t.dim));
    out.set(p + "ffn_norm.weight", f32(t.dim));
    out.set(p + "ffn.w1.weight", f32(t.ffnHidden, t.dim));
    out.set(p + "ffn.w2.weight", f32(t.dim, t.ffnHidden));
    out.set(p + "ffn.w3.weight", f32(t.ffnHidden, t.dim));
  }
}

/** Every tensor the f32 checkpoint of this config must hold, with its dtype and shape. */
export function expectedTensors(c: ModelConfig): Map<string, TensorSpec> {
  const f32 = (...shape: number[]): TensorSpec => ({ dtype: "F32", shape });
  const m = new Map<string, TensorSpec>();
  const de = c.entropy.dim, dl = c.encoder.dim, dg = c.global.dim;

  m.set("entropy_model.tok_emb.weight", f32(VOCAB_IN, de));
  layerTensors(m, "entropy_model", c.entropy);
  m.set("entropy_model.norm.weight", f32(de));
  m.set("entropy_model.head.weight", f32(VOCAB_OUT, de));

  m.set("local_encoder.tok_emb.weight", f32(VOCAB_IN, dl));
  c.ngram.sizes.forEach((n, i) => m.set(`local_encoder.ngram_emb.${n}.weight`, f32(c.ngram.tableSizes[i], dl)));
  layerTensors(m, "local_encoder", c.encoder);
  m.set("local_encoder.pooling.query_norm.weight", f32(dl));
  m.set("local_encoder.pooling.kv_norm.weight", f32(dl));
  for (const w of ["wq", "wk", "wv", "wo"]) m.set(`local_encoder.pooling.attn.${w}.weight`, f32(dl, dl));
  m.set("local_encoder.pooling.proj.weight", f32(dg, dl));

  layerTensors(m, "global_transformer", c.global);
  m.set("global_transformer.norm.weight", f32(dg));

  m.set("local_decoder.dec_tok_emb.weight", f32(VOCAB_IN, dl));
  layerTensors(m, "local_decoder", c.decoder);
  for (let l = 0; l < c.decoder.nLayers; l++) {
    const p = `local_decoder.layers.${l}.`;
    m.set(p + "cross_norm.weight", f32(dl));
    m.set(p + "cross_attn.wq.weight", f32(dl, dl));
    m.set(p + "cross_attn.wk.weight", f32(dl, dg));
    m.set(p + "cross_attn.wv.weight", f32(dl, dg));
    m.set(p + "cross_attn.wo.weight", f32(dl, dl));
  }
  m.set("local_decoder.norm.weight", f32(dl));
  m.set("local_decoder.head.weight", f32(VOCAB_OUT, dl));
  return m;
}

/** Embedding tables (rows looked up by index): int8 + per-row scale in q8 files whose metadata says `embeddings: "int8"`. */
const EMBEDDING = /\.(tok_emb|dec_tok_emb|ngram_emb\.\d+)\.weight$/;
export function isEmbedding(name: string): boolean { return EMBEDDING.test(name); }

/**
 * The q8 variant: each Linear weight becomes int8 plus `<name>.scale` (out,) f32; with `int8Embeddings`
 * (`__metadata__.embeddings = "int8"`; the current exports) the embedding tables too; the rest
 * stays f32.
 */
export function expectedTensorsQ8(c: ModelConfig, int8Embeddings = false): Map<string, TensorSpec> {
  const m = new Map<string, TensorSpec>();
  for (const [name, spec] of expectedTensors(c)) {
    if (isLinear(name) || (int8Embeddings && isEmbedding(name))) {
      m.set(name, { dtype: "I8", shape: spec.shape });
      m.set(name + ".scale", { dtype: "F32", shape: [spec.shape[0]] });
    } else {
      m.set(name, spec);
    }
  }
  return m;
}
