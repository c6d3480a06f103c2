// The BLT-D model on the Kernels interface (docs/model.md): entropy model, local encoder with hashed n-grams,
// patch pooling, global transformer, local decoder (clean rows and noisy BLT-D blocks). KV caches are indexed
// by position (bytes) or patch index (global); every buffer is allocated once, when the model is loaded.
// Forward passes only call ops (which may merely record GPU work): every CPU write into the arena is followed by
// K.upload, and results are read through readLogits, which awaits K.sync where the kernels have one.
import { VOCAB_OUT, type ModelConfig, type TransformerShape } from "../../config.ts";
import type { Ptr } from "../../kernels/arena.ts";
import type { Kernels } from "../../kernels/kernels.ts";
import { ropeTable } from "./rope-table.ts";
import { Weights, type DecoderLayer, type Layer, type Linear } from "./weights.ts";

/** Most rows one call processes; longer inputs are fed in chunks. */
export const MAX_ROWS = 64;
const NO_IDS: ArrayLike<number> = [];

interface KV { k: Ptr; v: Ptr }

export interface PassCounters { entropy: number; encoder: number; global: number; decoder: number; bytesMoved: number }

/** Arena bytes the run state needs for a context of ctx positions (weights not included). */
export function runStateBytes(c: ModelConfig, ctx: number): number {
  const dl = c.encoder.dim, dg = c.global.dim, de = c.entropy.dim;
  const maxDim = Math.max(de, dl, dg), maxHidden = Math.max(c.entropy.ffnHidden, c.encoder.ffnHidden, c.global.ffnHidden, maxDim);
  const f = 4;
  const caches = 2 * ctx * (c.entropy.nLayers * de + c.encoder.nLayers * dl + c.decoder.nLayers * dl * 2 + c.global.nLayers * dg);
  const state = ctx * (1 + dl + dg);
  const scratch = MAX_ROWS * (8 * maxDim + 2 * maxHidden + VOCAB_OUT + 6) + ctx + 2 * maxHidden;
  const ropes = ctx * (c.entropy.headDim + c.encoder.headDim + c.global.headDim);
  return f * (caches + state + scratch + ropes) + 64 * 64;
}

export class BltModel {
  readonly counters: PassCounters = { entropy: 0, encoder: 0, global: 0, decoder: 0, bytesMoved: 0 };

  // weights
  private readonly entropyLayers: Layer[];
  private readonly encoderLayers: Layer[];
  private readonly globalLayers: Layer[];
  private readonly decoderLayers: DecoderLayer[];
  private readonly cost: { entropy: number; encoder: number; pooling: number; global: number; decoder: number };

  // state: tokens(ctx) i32, byte states h(ctx, dl), latents(ctx, dg), KV caches
  readonly tokens: Ptr;
  readonly h: Ptr;
  readonly latents: Ptr;
  private readonly entropyKV: KV[];
  private readonly encoderKV: KV[];
  private readonly globalKV: KV[];
  private readonly decoderKV: KV[];
  private readonly latentKV: KV[];

  // scratch, MAX_ROWS rows each
  private readonly x: Ptr; private readonly xn: Ptr; private readonly q: Ptr; private readonly kb: Ptr;
  private readonly vb: Ptr; private readonly att: Ptr; private readonly o: Ptr;
  private readonly f1: Ptr; private readonly f3: Ptr;
  /** Logits of the last entropy or decoder call, (rows, 256). */
  readonly logits: Ptr;
  private readonly ids: Ptr; private readonly pos: Ptr; private readonly lo: Ptr; private readonly hi: Ptr;
  /** The decoder's cross-attention key ranges: row i reads latents xLo[i]..xHi[i]−1 (kept apart from lo/hi so a
   * decoder pass writes and uploads its ranges once, not per layer). */
  private readonly xLo: Ptr; private readonly xHi: Ptr;
  private readonly gx: Ptr;
  /** Views of ids, pos, lo, hi, xLo, xHi (the arena never grows, so they stay valid). */
  private readonly idsV: Int32Array; private readonly posV: Int32Array; private readonly loV: Int32Array; private readonly hiV: Int32Array;
  private readonly xLoV: Int32Array; private readonly xHiV: Int32Array;
  private readonly scores: Ptr; private readonly xq: Ptr;
  private readonly ngramNs: Ptr; private readonly ngramRows: Ptr; private readonly ngramTables: Ptr;
  private readonly ropeEntropy: Ptr; private readonly ropeLocal: Ptr; private readonly ropeGlobal: Ptr;

  constructor(readonly K: Kernels, readonly w: Weights, readonly config: ModelConfig, readonly ctx: number) {
    const c = config, a = K.arena;
    this.entropyLayers = range(c.entropy.nLayers).map((l) => w.layer(`entropy_model.layers.${l}`));
    this.encoderLayers = range(c.encoder.nLayers).map((l) => w.layer(`local_encoder.layers.${l}`));
    this.globalLayers = range(c.global.nLayers).map((l) => w.layer(`global_transformer.layers.${l}`));
    this.decoderLayers = range(c.decoder.nLayers).map((l) => w.decoderLayer(`local_decoder.layers.${l}`));
    // the decoder's cross-attention keys and values of a latent are made once, by the global step that makes the
    // latent (globalForward): their weights are read there, not by decoder passes
    const latentKV = range(c.decoder.nLayers).reduce((n, l) =>
      n + w.bytesUnder(`local_decoder.layers.${l}.cross_attn.wk.`) + w.bytesUnder(`local_decoder.layers.${l}.cross_attn.wv.`), 0);
    this.cost = {
      entropy: w.bytesUnder("entropy_model.layers") + w.bytesUnder("entropy_model.norm") + w.bytesUnder("entropy_model.head"),
      encoder: w.bytesUnder("local_encoder.layers"),
      pooling: w.bytesUnder("local_encoder.pooling"),
      global: w.bytesUnder("global_transformer") + latentKV,
      decoder: w.bytesUnder("local_decoder.layers") - latentKV + w.bytesUnder("local_decoder.norm") + w.bytesUnder("local_decoder.head"),
    };

    const dl = c.encoder.dim, dg = c.global.dim, de = c.entropy.dim;
    const kv = (n: number, d: number): KV[] => range(n).map(() => ({ k: a.allocF32(ctx * d), v: a.allocF32(ctx * d) }));
    this.tokens = a.allocI32(ctx);
    this.h = a.allocF32(ctx * dl);
    this.latents = a.allocF32(ctx * dg);
    this.entropyKV = kv(c.entropy.nLayers, de);
    this.encoderKV = kv(c.encoder.nLayers, dl);
    this.globalKV = kv(c.global.nLayers, dg);
    this.decoderKV = kv(c.decoder.nLayers, dl);
    this.latentKV = kv(c.decoder.nLayers, dl);

    const maxDim = Math.max(de, dl, dg), maxHidden = Math.max(c.entropy.ffnHidden, c.encoder.ffnHidden, c.global.ffnHidden, maxDim);
    [this.x, this.xn, this.q, this.kb, this.vb, this.att, this.o] = range(7).map(() => a.allocF32(MAX_ROWS * maxDim));
    this.f1 = a.allocF32(MAX_ROWS * maxHidden);
    this.f3 = a.allocF32(MAX_ROWS * maxHidden);
    this.logits = a.allocF32(MAX_ROWS * VOCAB_OUT);
    [this.ids, this.pos, this.lo, this.hi, this.xLo, this.xHi] = range(6).map(() => a.allocI32(MAX_ROWS));
    [this.idsV, this.posV, this.loV, this.hiV, this.xLoV, this.xHiV] =
      [this.ids, this.pos, this.lo, this.hi, this.xLo, this.xHi].map((p) => a.i32(p, MAX_ROWS));
    this.gx = a.allocF32(MAX_ROWS * dg);
    this.scores = a.allocF32(ctx);
    this.xq = a.alloc(8 * maxHidden); // matmulQ8 quantises up to four rows at once

    const ng = c.ngram;
    this.ngramNs = a.allocI32(ng.sizes.length);
    this.ngramRows = a.allocI32(ng.sizes.length);
    a.i32(this.ngramNs, ng.sizes.length).set(ng.sizes);
    a.i32(this.ngramRows, ng.sizes.length).set(ng.tableSizes);
    K.upload?.(this.ngramNs, ng.sizes.length * 4);
    K.upload?.(this.ngramRows, ng.sizes.length * 4);
    // The n-gram tables are consecutive in the arena only if loaded so; check, since the kernel walks them in order.
    this.ngramTables = w.f32(`local_encoder.ngram_emb.${ng.sizes[0]}.weight`);
    let expect = this.ngramTables;
    ng.sizes.forEach((n, i) => {
      const p = w.f32(`local_encoder.ngram_emb.${n}.weight`);
      if (p !== expect) throw new Error("n-gram tables are not contiguous in the arena");
      expect = p + Math.ceil((ng.tableSizes[i] * dl * 4) / 16) * 16;
      if ((ng.tableSizes[i] * dl * 4) % 16 !== 0) throw new Error("n-gram table size is not a multiple of 16 bytes");
    });

    this.ropeEntropy = ropeTable(K, ctx, c.entropy.headDim, c.ropeBase);
    this.ropeLocal = ropeTable(K, ctx, c.encoder.headDim, c.ropeBase);
    this.ropeGlobal = ropeTable(K, ctx, c.global.headDim, c.ropeBase);
  }

  /** Writes token ids at positions pos0.. (BOS first). */
  setTokens(pos0: number, ids: ArrayLike<number>): void {
    if (pos0 + ids.length > this.ctx) throw new RangeError(`context of ${this.ctx} bytes exceeded`);
    this.K.arena.i32(this.tokens + pos0 * 4, ids.length).set(ids);
    this.K.upload?.(this.tokens + pos0 * 4, ids.length * 4);
  }

  /**
   * The first `rows` rows of this.logits (or of logits at `ptr`, e.g. decoderBlock's), once the ops before this
   * call have written them. A view into the arena: valid until the next forward call.
   */
  async readLogits(rows: number, ptr: Ptr = this.logits): Promise<Float32Array> {
    // ref and wasm have no sync: no promise is made beyond the async function's own
    if (this.K.sync) await this.K.sync([[ptr, rows * VOCAB_OUT * 4]]);
    return this.K.arena.f32(ptr, rows * VOCAB_OUT);
  }

  // --- entropy model -----------------------------------------------------------------------------------

  /** Entropy-model logits for positions pos0..pos0+m−1 into this.logits (row i predicts byte pos0+i+1). */
  entropyForward(pos0: number, m: number): void {
    const c = this.config, K = this.K, d = c.entropy.dim;
    K.embedGatherF32(this.x, this.w.f32("entropy_model.tok_emb.weight"), this.tokens + pos0 * 4, m, d);
    this.fillPositions(pos0, m);
    this.causalRanges(pos0, m, c.entropy.window); // the same for every layer: written and uploaded once
    for (let l = 0; l < this.entropyLayers.length; l++) {
      this.selfLayer(this.entropyLayers[l], c.entropy, this.x, m, pos0, this.entropyKV[l], this.ropeEntropy);
    }
    K.rmsNormF32(this.xn, this.x, this.w.f32("entropy_model.norm.weight"), m, d, c.normEps);
    this.linear(this.logits, this.xn, this.w.linear("entropy_model.head.weight"), m);
    this.counters.entropy++;
    this.counters.bytesMoved += this.cost.entropy + m * d * 4;
  }

  // --- local encoder and pooling ---------------------------------------------------------------------

  /** Byte states h[pos0..pos0+m) from the tokens there (windowed causal over the cached earlier bytes). */
  encoderForward(pos0: number, m: number): void {
    const c = this.config, K = this.K, d = c.encoder.dim;
    const hRows = this.h + pos0 * d * 4;
    K.embedGatherF32(hRows, this.w.f32("local_encoder.tok_emb.weight"), this.tokens + pos0 * 4, m, d);
    K.ngramEmbedSumF32(hRows, this.tokens, this.ngramTables, this.ngramNs, this.ngramRows, pos0, m, c.ngram.sizes.length, d);
    this.fillPositions(pos0, m);
    this.causalRanges(pos0, m, c.encoder.window);
    for (let l = 0; l < this.encoderLayers.length; l++) {
      this.selfLayer(this.encoderLayers[l], c.encoder, hRows, m, pos0, this.encoderKV[l], this.ropeLocal);
    }
    this.counters.encoder++;
    this.counters.bytesMoved += this.cost.encoder + m * d * 4 * (1 + c.ngram.sizes.length);
  }

  /**
   * Pools patches j = 0..count−1, patch j covering bytes [starts[j], ends[j]), into patch vectors: one pass over
   * all of them (the byte range must fit in MAX_ROWS). Returns the vectors, (count, dg), left in this.o.
   */
  poolPatches(starts: ArrayLike<number>, ends: ArrayLike<number>, count: number): Ptr {
    const c = this.config, K = this.K, d = c.encoder.dim, w = this.w, p = "local_encoder.pooling";
    const base = starts[0], total = ends[count - 1] - base;
    if (count > MAX_ROWS || total > MAX_ROWS) throw new RangeError(`pooling ${count} patches over ${total} bytes exceeds ${MAX_ROWS} rows`);
    const hBase = this.h + base * d * 4;
    // q0(count, dl): the max over each patch's byte states; then the query and keys, normed
    for (let j = 0; j < count; j++) K.maxPoolF32(this.x + j * d * 4, this.h + starts[j] * d * 4, ends[j] - starts[j], d);
    K.rmsNormF32(this.xn, this.x, w.f32(`${p}.query_norm.weight`), count, d, c.normEps);
    K.rmsNormF32(this.att, hBase, w.f32(`${p}.kv_norm.weight`), total, d, c.normEps);
    this.linear(this.q, this.xn, w.linear(`${p}.attn.wq.weight`), count);
    this.linear(this.kb, this.att, w.linear(`${p}.attn.wk.weight`), total);
    this.linear(this.vb, this.att, w.linear(`${p}.attn.wv.weight`), total);
    // each query attends to its own patch's bytes only
    for (let j = 0; j < count; j++) { this.loV[j] = starts[j] - base; this.hiV[j] = ends[j] - base; }
    this.uploadRanges(count);
    K.attentionF32(this.att, this.q, this.kb, this.vb, this.lo, this.hi, this.scores, count, c.pooling.nHeads, c.pooling.nHeads, c.pooling.headDim);
    this.linear(this.xn, this.att, w.linear(`${p}.attn.wo.weight`), count);
    K.addF32(this.xn, this.xn, this.x, count * d);
    this.linear(this.o, this.xn, w.linear(`${p}.proj.weight`), count);
    this.counters.bytesMoved += this.cost.pooling + total * d * 4;
    return this.o;
  }

  // --- global transformer ----------------------------------------------------------------------------

  /**
   * One global pass over `count` patch vectors (count, dg) at `vecs`, as patches index0..: causal over all earlier
   * patches. Stores their latents and the decoder's cross-attention keys and values of those latents.
   */
  globalForward(vecs: Ptr, index0: number, count: number): void {
    const c = this.config, K = this.K, dg = c.global.dim, dl = c.decoder.dim;
    const x = this.gx;
    K.copyF32(x, vecs, count * dg);
    this.fillPositions(index0, count);
    for (let i = 0; i < count; i++) { this.loV[i] = 0; this.hiV[i] = index0 + i + 1; }
    this.uploadRanges(count);
    for (let l = 0; l < this.globalLayers.length; l++) {
      this.selfLayer(this.globalLayers[l], c.global, x, count, index0, this.globalKV[l], this.ropeGlobal);
    }
    const latents = this.latents + index0 * dg * 4;
    K.rmsNormF32(latents, x, this.w.f32("global_transformer.norm.weight"), count, dg, c.normEps);
    for (let l = 0; l < this.decoderLayers.length; l++) {
      const cross = this.decoderLayers[l].cross;
      this.linear(this.latentKV[l].k + index0 * dl * 4, latents, cross.wk, count);
      this.linear(this.latentKV[l].v + index0 * dl * 4, latents, cross.wv, count);
    }
    this.counters.global++;
    this.counters.bytesMoved += this.cost.global;
  }

  // --- local decoder ---------------------------------------------------------------------------------

  /**
   * Clean rows pos0..pos0+m−1 (inputs: byte states h); reads[i] is the latent read index of row i (config.ts
   * DecoderLatents; Sequence.readOf). Logits into this.logits; row i predicts byte pos0+i+1.
   */
  decoderForward(pos0: number, m: number, reads: ArrayLike<number>): void {
    const d = this.config.decoder.dim;
    this.K.copyF32(this.x, this.h + pos0 * d * 4, m * d);
    for (let i = 0; i < m; i++) this.setRead(i, reads[i]);
    this.decoderLayersForward(pos0, m, Infinity);
  }

  /**
   * One BLT-D denoising pass over a block of B = blockIds.length positions starting at s, the start of patch q:
   * inputs dec_tok_emb[MASK or byte]; the block sees its clean prefix (< s, within the window) and itself, and
   * reads latent q−1 (the patch just before it). With cleanRows > 0, the clean rows s−cleanRows..s−1 (the
   * block committed just before, whose decoder rows are not cached yet; cleanReads their read indices) run in
   * the same pass, first. Logits into this.logits: the clean rows' (unused), then row k of the block predicts
   * the byte at position s+k.
   */
  decoderBlock(s: number, q: number, blockIds: ArrayLike<number>, cleanRows = 0, cleanReads: ArrayLike<number> = NO_IDS): Ptr {
    if (cleanRows > 0 && cleanRows + blockIds.length > MAX_ROWS) {
      // more rows than one chunk (blocks over 32 bytes): the clean rows run first, in a pass of their own
      this.decoderBlock(s, q, NO_IDS, cleanRows, cleanReads);
      cleanRows = 0;
    }
    const B = blockIds.length, d = this.config.decoder.dim, c0 = s - cleanRows, m = cleanRows + B;
    if (m > MAX_ROWS) throw new RangeError(`${m} decoder rows exceed ${MAX_ROWS}`);
    if (cleanRows > 0) this.K.copyF32(this.x, this.h + c0 * d * 4, cleanRows * d);
    for (let k = 0; k < B; k++) this.idsV[k] = blockIds[k];
    this.K.upload?.(this.ids, B * 4);
    this.K.embedGatherF32(this.x + cleanRows * d * 4, this.w.f32("local_decoder.dec_tok_emb.weight"), this.ids, B, d);
    for (let i = 0; i < m; i++) this.setRead(i, i < cleanRows ? cleanReads[i] : q - 1);
    this.decoderLayersForward(c0, m, s);
    return this.logits + cleanRows * VOCAB_OUT * 4;
  }

  /**
   * The latent ablation (fast-blt.md §1; eval's bitsPerByteWithoutLatents): every decoder row reads no latent, so
   * cross-attention adds exactly zero — the same numbers as PyTorch with the latents zeroed.
   */
  ablateLatents = false;

  /** Row i's cross-attention key range from its read index r: latent r alone ("one"), else latents 0..r. */
  private setRead(i: number, r: number): void {
    this.xHiV[i] = this.ablateLatents ? 0 : r + 1;
    this.xLoV[i] = this.ablateLatents ? 0 : this.config.decoderLatents === "one" ? Math.max(0, r) : 0;
  }

  /**
   * Decoder layers over rows pos0..pos0+m−1 in this.x, cross-attending latents xLo[i]..xHi[i]−1. Rows before
   * blockStart are clean (windowed causal); rows from blockStart on form a block that also sees itself.
   */
  private decoderLayersForward(pos0: number, m: number, blockStart: number): void {
    const c = this.config, K = this.K, sh = c.decoder, d = sh.dim;
    const end = pos0 + m;
    this.fillPositions(pos0, m);
    // cross-attention to the latents of completed patches (xLo, xHi set by the caller through setRead)
    let maxLatents = 0;
    for (let i = 0; i < m; i++) maxLatents = Math.max(maxLatents, this.xHiV[i] - this.xLoV[i]);
    K.upload?.(this.xLo, m * 4);
    K.upload?.(this.xHi, m * 4);
    // self-attention: windowed causal for clean rows; a block sees its clean prefix and itself
    for (let i = 0; i < m; i++) {
      const p = pos0 + i;
      this.loV[i] = Math.max(0, p - sh.window + 1);
      this.hiV[i] = p < blockStart ? p + 1 : end;
    }
    this.uploadRanges(m);
    for (let l = 0; l < this.decoderLayers.length; l++) {
      const layer = this.decoderLayers[l];
      K.rmsNormF32(this.xn, this.x, layer.crossNorm, m, d, c.normEps);
      this.linear(this.q, this.xn, layer.cross.wq, m);
      K.attentionF32(this.att, this.q, this.latentKV[l].k, this.latentKV[l].v, this.xLo, this.xHi, this.scores, m, sh.nHeads, sh.nHeads, sh.headDim);
      this.linear(this.o, this.att, layer.cross.wo, m);
      K.addF32(this.x, this.x, this.o, m * d);
      this.counters.bytesMoved += maxLatents * d * 8;
      this.selfLayer(layer, sh, this.x, m, pos0, this.decoderKV[l], this.ropeLocal);
    }
    K.rmsNormF32(this.xn, this.x, this.w.f32("local_decoder.norm.weight"), m, d, c.normEps);
    this.linear(this.logits, this.xn, this.w.linear("local_decoder.head.weight"), m);
    this.counters.decoder++;
    this.counters.bytesMoved += this.cost.decoder;
  }

  // --- shared pieces ---------------------------------------------------------------------------------

  /** Pre-norm self-attention + SwiGLU layer on x(m, dim) in place; K/V written at cache slots slot0..; ranges preset. */
  private selfLayer(layer: Layer, sh: TransformerShape, x: Ptr, m: number, slot0: number, kv: KV, rope: Ptr): void {
    const K = this.K, d = sh.dim, eps = this.config.normEps;
    const kRows = kv.k + slot0 * d * 4, vRows = kv.v + slot0 * d * 4;
    K.rmsNormF32(this.xn, x, layer.attnNorm, m, d, eps);
    this.linear(this.q, this.xn, layer.attn.wq, m);
    this.linear(kRows, this.xn, layer.attn.wk, m);
    this.linear(vRows, this.xn, layer.attn.wv, m);
    K.ropeF32(this.q, this.pos, rope, m, sh.nHeads, sh.headDim, d);
    K.ropeF32(kRows, this.pos, rope, m, sh.nHeads, sh.headDim, d);
    K.attentionF32(this.att, this.q, kv.k, kv.v, this.lo, this.hi, this.scores, m, sh.nHeads, sh.nHeads, sh.headDim);
    this.linear(this.o, this.att, layer.attn.wo, m);
    K.addF32(x, x, this.o, m * d);
    K.rmsNormF32(this.xn, x, layer.ffnNorm, m, d, eps);
    this.linear(this.f1, this.xn, layer.w1, m);
    this.linear(this.f3, this.xn, layer.w3, m);
    K.swigluF32(this.f1, this.f1, this.f3, m * sh.ffnHidden);
    this.linear(this.o, this.f1, layer.w2, m);
    K.addF32(x, x, this.o, m * d);
    const lo = this.loV, hi = this.hiV;
    let first = Infinity, last = 0;
    for (let i = 0; i < m; i++) { first = Math.min(first, lo[i]); last = Math.max(last, hi[i]); }
    this.counters.bytesMoved += Math.max(0, last - first) * d * 8;
  }

  private linear(out: Ptr, x: Ptr, lin: Linear, m: number): void {
    if (lin.kind === "f32") this.K.matmulF32(out, x, lin.w, m, lin.nIn, lin.nOut);
    else this.K.matmulQ8(out, x, lin.w, lin.scale, this.xq, m, lin.nIn, lin.nOut);
  }

  private fillPositions(pos0: number, m: number): void {
    if (m > MAX_ROWS) throw new RangeError(`${m} rows exceed ${MAX_ROWS}`);
    for (let i = 0; i < m; i++) this.posV[i] = pos0 + i;
    this.K.upload?.(this.pos, m * 4);
  }

  private causalRanges(pos0: number, m: number, window: number): void {
    for (let i = 0; i < m; i++) { this.loV[i] = Math.max(0, pos0 + i - window + 1); this.hiV[i] = pos0 + i + 1; }
    this.uploadRanges(m);
  }

  /** Uploads the first m key ranges in lo and hi, after the CPU wrote them. */
  private uploadRanges(m: number): void {
    this.K.upload?.(this.lo, m * 4);
    this.K.upload?.(this.hi, m * 4);
  }
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
