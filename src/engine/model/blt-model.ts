// The BLT-D model on the Kernels interface (docs/model.md): entropy model, local encoder with hashed n-grams,
// patch pooling, global transformer, local decoder (clean rows and noisy BLT-D blocks). Every buffer is allocated
// once, when the model is loaded, and its size does not depend on how long a sequence grows: the KV caches slide
// (the byte caches hold the local windows, the patch caches the global model's trained window, both with margin),
// RoPE positions keep counting, and the global model attends to the patches within its trained window only.
// Forward passes only call ops (which may merely record GPU work): every CPU write into the arena is followed by
// K.upload, and results are read through readLogits, which awaits K.sync where the kernels have one.
import { VOCAB_OUT, type ModelConfig, type TransformerShape } from "../../config.ts";
import type { Ptr } from "../../kernels/arena.ts";
import type { Kernels } from "../../kernels/kernels.ts";
import { RopeRows } from "./rope-rows.ts";
import { Weights, type DecoderLayer, type Layer, type Linear } from "./weights.ts";

/** Most rows one call processes; longer inputs are fed in chunks. */
export const MAX_ROWS = 64;
const NO_IDS: ArrayLike<number> = [];

interface KV { k: Ptr; v: Ptr }

/**
 * A sliding cache domain (bytes or patches): slot = index − base. A write that would pass the capacity first
 * moves the newest `keep` entries to the front (base grows), so `keep` entries before any write stay readable.
 */
export interface SlideDomain { keep: number; capacity: number }

/** The two domains' sizes: bytes keep the longest local window plus a chunk and a rollback; patches keep the
 * global window (at most maxSeqLen patches: each has ≥ 1 byte) plus the same margin. */
export function slideDomains(c: ModelConfig): { bytes: SlideDomain; patches: SlideDomain } {
  const domain = (keep: number): SlideDomain => ({ keep, capacity: keep + Math.max(4 * MAX_ROWS, Math.ceil(keep / 4)) });
  return {
    bytes: domain(Math.max(c.entropy.window, c.encoder.window, c.decoder.window) + 2 * MAX_ROWS),
    patches: domain(c.maxSeqLen + 2 * MAX_ROWS),
  };
}

export interface PassCounters { entropy: number; encoder: number; global: number; decoder: number; bytesMoved: number }

/**
 * Arena bytes the run state needs (weights not included). It does not grow with the sequence: for blt-d-small
 * (local window 128, max_seq_len 512) 13.5 MB, for a 2,048-byte model of the same widths under rule "one" 37 MB.
 */
export function runStateBytes(c: ModelConfig, domains = slideDomains(c)): number {
  const dl = c.encoder.dim, dg = c.global.dim, de = c.entropy.dim, { bytes, patches } = domains;
  const maxDim = Math.max(de, dl, dg), maxHidden = Math.max(c.entropy.ffnHidden, c.encoder.ffnHidden, c.global.ffnHidden, maxDim);
  const f = 4, B = bytes.capacity, P = patches.capacity;
  const byteCaches = 2 * B * (c.entropy.nLayers * de + c.encoder.nLayers * dl + c.decoder.nLayers * dl) + B * (1 + dl);
  const patchCaches = 2 * P * (c.global.nLayers * dg + c.decoder.nLayers * dl) + P * (dg + (c.decoderLatents === "one" ? c.decoder.nLayers * dl : 0));
  const scratch = MAX_ROWS * (8 * maxDim + 2 * maxHidden + VOCAB_OUT + 8) + Math.max(B, P) + 2 * maxHidden;
  const ropes = 2 * MAX_ROWS * (c.entropy.headDim + c.encoder.headDim + c.global.headDim);
  return f * (byteCaches + patchCaches + scratch + ropes) + 64 * 64;
}

export class BltModel {
  readonly counters: PassCounters = { entropy: 0, encoder: 0, global: 0, decoder: 0, bytesMoved: 0 };
  /** Most bytes a prompt may fill with BOS: the training window (max_seq_len), or less if the loader asked. */
  readonly ctx: number;

  // weights
  private readonly entropyLayers: Layer[];
  private readonly encoderLayers: Layer[];
  private readonly globalLayers: Layer[];
  private readonly decoderLayers: DecoderLayer[];
  private readonly cost: { entropy: number; encoder: number; pooling: number; global: number; decoder: number };

  // state, in sliding slots (bytes: slot = position − byteBase; patches: slot = patch − patchBase):
  // tokens(bytes) i32, byte states h(bytes, dl), latents(patches, dg), KV caches
  readonly tokens: Ptr;
  readonly h: Ptr;
  readonly latents: Ptr;
  private readonly entropyKV: KV[];
  private readonly encoderKV: KV[];
  private readonly globalKV: KV[];
  private readonly decoderKV: KV[];
  private readonly latentKV: KV[];
  /** Decoder rule "one": wo·wv·latent per decoder layer, what the cross-attention sublayer adds (patches, dl). */
  private readonly crossAdd: Ptr[];
  private readonly domains: { bytes: SlideDomain; patches: SlideDomain };
  /** Position of byte slot 0, and one past the highest position written. */
  private byteBase = 0; private byteHigh = 0;
  /** Patch index of patch slot 0, and one past the highest patch written. */
  private patchBase = 0; private patchHigh = 0;
  /** The first patch each latent's global row attended to (its window): rules "v1"/"all" read latents from there. */
  private readonly latentLo: Int32Array;

  // scratch, MAX_ROWS rows each
  private readonly x: Ptr; private readonly xn: Ptr; private readonly q: Ptr; private readonly kb: Ptr;
  private readonly vb: Ptr; private readonly att: Ptr; private readonly o: Ptr;
  private readonly f1: Ptr; private readonly f3: Ptr;
  /** Logits of the last entropy or decoder call, (rows, 256). */
  readonly logits: Ptr;
  private readonly ids: Ptr; private readonly pos: Ptr; private readonly lo: Ptr; private readonly hi: Ptr;
  /** The decoder's cross-attention key ranges: row i reads latent slots xLo[i]..xHi[i]−1 (kept apart from lo/hi so
   * a decoder pass writes and uploads its ranges once, not per layer); rule "one": xSlot[i], the one slot. */
  private readonly xLo: Ptr; private readonly xHi: Ptr; private readonly xSlot: Ptr;
  private readonly gx: Ptr;
  /** Views of ids, lo, hi, xLo, xHi, xSlot (the arena never grows, so they stay valid). */
  private readonly idsV: Int32Array; private readonly loV: Int32Array; private readonly hiV: Int32Array;
  private readonly xLoV: Int32Array; private readonly xHiV: Int32Array; private readonly xSlotV: Int32Array;
  private readonly posV: Int32Array;
  /** Rows of the current decoder pass whose logits are wanted (decoderBlock's `need`); the rest stop at K/V. */
  private readonly keepRows = new Int32Array(MAX_ROWS);
  private readonly scores: Ptr; private readonly xq: Ptr;
  private readonly ngramNs: Ptr; private readonly ngramRows: Ptr; private readonly ngramTables: Ptr;
  /** RoPE cos/sin rows per head width, (2·MAX_ROWS, headDim) rings; `pos` points a call's rows at theirs. */
  private readonly ropeEntropy: RopeRows; private readonly ropeLocal: RopeRows; private readonly ropeGlobal: RopeRows;

  /**
   * @param ctx the most bytes (BOS included) a prompt may fill; at most max_seq_len, which it defaults to.
   * @param domains the sliding caches' sizes (tests shrink or grow the capacities; keep must stay as planned).
   */
  constructor(readonly K: Kernels, readonly w: Weights, readonly config: ModelConfig, ctx = config.maxSeqLen,
              domains = slideDomains(config)) {
    const c = config, a = K.arena;
    this.ctx = Math.min(ctx, c.maxSeqLen);
    this.entropyLayers = range(c.entropy.nLayers).map((l) => w.layer(`entropy_model.layers.${l}`));
    this.encoderLayers = range(c.encoder.nLayers).map((l) => w.layer(`local_encoder.layers.${l}`));
    this.globalLayers = range(c.global.nLayers).map((l) => w.layer(`global_transformer.layers.${l}`));
    this.decoderLayers = range(c.decoder.nLayers).map((l) => w.decoderLayer(`local_decoder.layers.${l}`));
    // the decoder's cross-attention keys and values of a latent are made once, by the global step that makes the
    // latent (globalForward): their weights are read there, not by decoder passes (rule "one": wo too)
    const one = c.decoderLatents === "one";
    const latentKV = range(c.decoder.nLayers).reduce((n, l) => n + w.bytesUnder(`local_decoder.layers.${l}.cross_attn.wk.`) +
      w.bytesUnder(`local_decoder.layers.${l}.cross_attn.wv.`) + (one ? w.bytesUnder(`local_decoder.layers.${l}.cross_attn.wo.`) : 0), 0);
    const oneSkipped = one ? range(c.decoder.nLayers).reduce((n, l) => n + w.bytesUnder(`local_decoder.layers.${l}.cross_attn.wq.`) +
      w.bytesUnder(`local_decoder.layers.${l}.cross_norm.`), 0) : 0;
    this.cost = {
      entropy: w.bytesUnder("entropy_model.layers") + w.bytesUnder("entropy_model.norm") + w.bytesUnder("entropy_model.head"),
      encoder: w.bytesUnder("local_encoder.layers"),
      pooling: w.bytesUnder("local_encoder.pooling"),
      global: w.bytesUnder("global_transformer") + latentKV,
      decoder: w.bytesUnder("local_decoder.layers") - latentKV - oneSkipped + w.bytesUnder("local_decoder.norm") + w.bytesUnder("local_decoder.head"),
    };

    const dl = c.encoder.dim, dg = c.global.dim, de = c.entropy.dim;
    this.domains = domains;
    const B = this.domains.bytes.capacity, P = this.domains.patches.capacity;
    const kv = (n: number, d: number, slots: number): KV[] => range(n).map(() => ({ k: a.allocF32(slots * d), v: a.allocF32(slots * d) }));
    this.tokens = a.allocI32(B);
    this.h = a.allocF32(B * dl);
    this.latents = a.allocF32(P * dg);
    this.entropyKV = kv(c.entropy.nLayers, de, B);
    this.encoderKV = kv(c.encoder.nLayers, dl, B);
    this.decoderKV = kv(c.decoder.nLayers, dl, B);
    this.globalKV = kv(c.global.nLayers, dg, P);
    this.latentKV = kv(c.decoder.nLayers, dl, P);
    this.crossAdd = one ? range(c.decoder.nLayers).map(() => a.allocF32(P * dl)) : [];
    this.latentLo = new Int32Array(P);

    const maxDim = Math.max(de, dl, dg), maxHidden = Math.max(c.entropy.ffnHidden, c.encoder.ffnHidden, c.global.ffnHidden, maxDim);
    [this.x, this.xn, this.q, this.kb, this.vb, this.att, this.o] = range(7).map(() => a.allocF32(MAX_ROWS * maxDim));
    this.f1 = a.allocF32(MAX_ROWS * maxHidden);
    this.f3 = a.allocF32(MAX_ROWS * maxHidden);
    this.logits = a.allocF32(MAX_ROWS * VOCAB_OUT);
    [this.ids, this.pos, this.lo, this.hi, this.xLo, this.xHi, this.xSlot] = range(7).map(() => a.allocI32(MAX_ROWS));
    [this.idsV, this.loV, this.hiV, this.xLoV, this.xHiV, this.xSlotV] =
      [this.ids, this.lo, this.hi, this.xLo, this.xHi, this.xSlot].map((p) => a.i32(p, MAX_ROWS));
    this.gx = a.allocF32(MAX_ROWS * dg);
    this.scores = a.allocF32(Math.max(B, P));
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

    const posV = this.posV = a.i32(this.pos, MAX_ROWS);
    this.ropeEntropy = new RopeRows(K, 2 * MAX_ROWS, c.entropy.headDim, c.ropeBase, this.pos, posV);
    this.ropeLocal = new RopeRows(K, 2 * MAX_ROWS, c.encoder.headDim, c.ropeBase, this.pos, posV);
    this.ropeGlobal = new RopeRows(K, 2 * MAX_ROWS, c.global.headDim, c.ropeBase, this.pos, posV);
  }

  /** Starts a new sequence: the caches' slots start at position 0 and patch 0 again. */
  reset(): void {
    this.byteBase = 0; this.byteHigh = 0; this.patchBase = 0; this.patchHigh = 0;
  }

  /** Writes token ids at positions pos0.. (BOS first). */
  setTokens(pos0: number, ids: ArrayLike<number>): void {
    this.slideBytes(pos0, ids.length);
    const slot = pos0 - this.byteBase;
    this.K.arena.i32(this.tokens + slot * 4, ids.length).set(ids);
    this.K.upload?.(this.tokens + slot * 4, ids.length * 4);
  }

  /** Arena pointer of the byte state h of position pos (valid until the next forward call). */
  hAt(pos: number): Ptr { return this.h + (pos - this.byteBase) * this.config.encoder.dim * 4; }

  /** Arena pointer of the latent of patch j (valid until the next forward call). */
  latentAt(j: number): Ptr { return this.latents + (j - this.patchBase) * this.config.global.dim * 4; }

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
    this.slideBytes(pos0, m);
    const slot0 = pos0 - this.byteBase;
    K.embedGatherF32(this.x, this.w.f32("entropy_model.tok_emb.weight"), this.tokens + slot0 * 4, m, d);
    this.ropeEntropy.fill(pos0, m);
    this.causalRanges(pos0, m, c.entropy.window); // the same for every layer: written and uploaded once
    for (let l = 0; l < this.entropyLayers.length; l++) {
      this.selfLayer(this.entropyLayers[l], c.entropy, this.x, m, slot0, this.entropyKV[l], this.ropeEntropy.ptr);
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
    this.slideBytes(pos0, m);
    const slot0 = pos0 - this.byteBase, hRows = this.h + slot0 * d * 4;
    K.embedGatherF32(hRows, this.w.f32("local_encoder.tok_emb.weight"), this.tokens + slot0 * 4, m, d);
    // the n-gram hash reads up to n − 1 earlier tokens; a slot before 0 means a position before BOS, and a slide
    // keeps far more than n − 1 bytes, so slots before 0 occur only at the true start
    K.ngramEmbedSumF32(hRows, this.tokens, this.ngramTables, this.ngramNs, this.ngramRows, slot0, m, c.ngram.sizes.length, d);
    this.ropeLocal.fill(pos0, m);
    this.causalRanges(pos0, m, c.encoder.window);
    for (let l = 0; l < this.encoderLayers.length; l++) {
      this.selfLayer(this.encoderLayers[l], c.encoder, hRows, m, slot0, this.encoderKV[l], this.ropeLocal.ptr);
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
    if (base < this.byteBase) throw new RangeError(`pooling bytes from ${base}: the byte caches start at ${this.byteBase}`);
    const hBase = this.hAt(base);
    // q0(count, dl): the max over each patch's byte states; then the query and keys, normed
    for (let j = 0; j < count; j++) K.maxPoolF32(this.x + j * d * 4, this.hAt(starts[j]), ends[j] - starts[j], d);
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
   * One global pass over `count` patch vectors (count, dg) at `vecs`, as patches index0..: causal, patch index0+i
   * attending to patches firstVisible[i]..index0+i (its window; all earlier ones when omitted). Stores their
   * latents and the decoder's cross-attention keys and values of those latents (rule "one": what it adds).
   */
  globalForward(vecs: Ptr, index0: number, count: number, firstVisible?: ArrayLike<number>): void {
    const c = this.config, K = this.K, dg = c.global.dim, dl = c.decoder.dim;
    const x = this.gx;
    K.copyF32(x, vecs, count * dg);
    this.slidePatches(index0, count);
    const slot0 = index0 - this.patchBase;
    this.ropeGlobal.fill(index0, count);
    for (let i = 0; i < count; i++) {
      const lo = Math.max(firstVisible ? firstVisible[i] : 0, this.patchBase);
      this.latentLo[slot0 + i] = lo;
      this.loV[i] = lo - this.patchBase; this.hiV[i] = slot0 + i + 1;
    }
    this.uploadRanges(count);
    for (let l = 0; l < this.globalLayers.length; l++) {
      this.selfLayer(this.globalLayers[l], c.global, x, count, slot0, this.globalKV[l], this.ropeGlobal.ptr);
    }
    const latents = this.latents + slot0 * dg * 4;
    K.rmsNormF32(latents, x, this.w.f32("global_transformer.norm.weight"), count, dg, c.normEps);
    for (let l = 0; l < this.decoderLayers.length; l++) {
      const cross = this.decoderLayers[l].cross;
      this.linear(this.latentKV[l].k + slot0 * dl * 4, latents, cross.wk, count);
      this.linear(this.latentKV[l].v + slot0 * dl * 4, latents, cross.wv, count);
      // rule "one": a row reads one latent, so its softmax weight is exactly 1 and the attention output is the
      // value row itself; the sublayer adds wo·v, made here once per latent (matmul rows do not depend on m)
      if (this.crossAdd.length) this.linear(this.crossAdd[l] + slot0 * dl * 4, this.latentKV[l].v + slot0 * dl * 4, cross.wo, count);
    }
    this.counters.global++;
    this.counters.bytesMoved += this.cost.global;
  }

  // --- local decoder ---------------------------------------------------------------------------------

  /**
   * Clean rows pos0..pos0+m−1 (inputs: byte states h); reads[i] is the latent read index of row i (config.ts
   * DecoderLatents; Sequence.readOf). Logits into this.logits for rows logitsFrom..m−1 (row i predicts byte
   * pos0+i+1, at logits row i − logitsFrom); rows before logitsFrom only fill the decoder's caches.
   */
  decoderForward(pos0: number, m: number, reads: ArrayLike<number>, logitsFrom = 0): void {
    const d = this.config.decoder.dim;
    this.slideBytes(pos0, m);
    this.K.copyF32(this.x, this.hAt(pos0), m * d);
    for (let i = 0; i < m; i++) this.setRead(i, reads[i]);
    let n = 0;
    for (let i = logitsFrom; i < m; i++) this.keepRows[n++] = i;
    this.decoderLayersForward(pos0, m, Infinity, n);
  }

  /**
   * One BLT-D denoising pass over a block of B = blockIds.length positions starting at s, the start of patch q:
   * inputs dec_tok_emb[MASK or byte] (the first prefixStates rows instead start from the encoder's byte states h at
   * s.., made beforehand: BlockPrefix "states"); the block sees its clean prefix (< s, within the window) and itself, and
   * reads latent q−1 (the patch just before it). With cleanRows > 0, the clean rows s−cleanRows..s−1 (the
   * block committed just before, whose decoder rows are not cached yet; cleanReads their read indices) run in
   * the same pass, first. Rows whose logits nobody reads (those clean rows, and block rows k with need[k] = 0, e.g.
   * the bytes already revealed) stop at their keys and values in the last layer. Returns the logits of the block
   * rows wanted, in order (all of them without `need`): such a row k predicts the byte at position s+k.
   */
  decoderBlock(s: number, q: number, blockIds: ArrayLike<number>, cleanRows = 0, cleanReads: ArrayLike<number> = NO_IDS,
               need?: ArrayLike<number>, prefixStates = 0): Ptr {
    if (cleanRows > 0 && cleanRows + blockIds.length > MAX_ROWS) {
      // more rows than one chunk (blocks over 32 bytes): the clean rows run first, in a pass of their own
      this.decoderBlock(s, q, NO_IDS, cleanRows, cleanReads);
      cleanRows = 0;
    }
    const B = blockIds.length, d = this.config.decoder.dim, c0 = s - cleanRows, m = cleanRows + B;
    if (m > MAX_ROWS) throw new RangeError(`${m} decoder rows exceed ${MAX_ROWS}`);
    this.slideBytes(c0, m);
    if (cleanRows > 0) this.K.copyF32(this.x, this.hAt(c0), cleanRows * d);
    for (let k = 0; k < B; k++) this.idsV[k] = blockIds[k];
    this.K.upload?.(this.ids, B * 4);
    this.K.embedGatherF32(this.x + cleanRows * d * 4, this.w.f32("local_decoder.dec_tok_emb.weight"), this.ids, B, d);
    if (prefixStates > 0) this.K.copyF32(this.x + cleanRows * d * 4, this.hAt(s), prefixStates * d); // as clean rows start
    for (let i = 0; i < m; i++) this.setRead(i, i < cleanRows ? cleanReads[i] : q - 1);
    let n = 0;
    for (let k = 0; k < B; k++) if (!need || need[k]) this.keepRows[n++] = cleanRows + k;
    this.decoderLayersForward(c0, m, s, n);
    return this.logits;
  }

  /**
   * The latent ablation (docs/design.md §1; eval's bitsPerByteWithoutLatents): every decoder row reads no latent, so
   * cross-attention adds exactly zero — the same numbers as PyTorch with the latents zeroed.
   */
  ablateLatents = false;

  /** Rule "one" adds the precomputed wo·wv·latent (globalForward); false runs the cross-attention as written (tests). */
  crossShortcut = true;

  /**
   * Row i's cross-attention reads from its read index r: latent r alone ("one"), else latents lo..r, lo the first
   * patch in latent r's own global window (0 within the training window). r < 0 (v1's BOS) reads nothing.
   */
  private setRead(i: number, r: number): void {
    const slot = r - this.patchBase;
    if (this.ablateLatents || r < 0) { this.xLoV[i] = 0; this.xHiV[i] = 0; this.xSlotV[i] = -1; return; }
    if (r >= this.patchHigh || slot < 0) throw new RangeError(`decoder row reads latent ${r}: latents ${this.patchBase}..${this.patchHigh - 1} are held`);
    this.xHiV[i] = slot + 1;
    this.xLoV[i] = this.config.decoderLatents === "one" ? slot : Math.max(0, this.latentLo[slot] - this.patchBase);
    this.xSlotV[i] = slot;
  }

  /**
   * Decoder layers over rows pos0..pos0+m−1 in this.x, cross-attending latents xLo[i]..xHi[i]−1. Rows before
   * blockStart are clean (windowed causal); rows from blockStart on form a block that also sees itself. Logits of
   * the rows keepRows[0..nKeep) (ascending) into this.logits, in that order.
   */
  private decoderLayersForward(pos0: number, m: number, blockStart: number, nKeep: number): void {
    const c = this.config, K = this.K, sh = c.decoder, d = sh.dim;
    const end = pos0 + m, slot0 = pos0 - this.byteBase, nLayers = this.decoderLayers.length;
    const one = this.crossAdd.length > 0 && this.crossShortcut;
    this.ropeLocal.fill(pos0, m);
    // cross-attention to the latents of completed patches (xLo, xHi set by the caller through setRead)
    let maxLatents = 0, reading = 0;
    for (let i = 0; i < m; i++) { maxLatents = Math.max(maxLatents, this.xHiV[i] - this.xLoV[i]); if (this.xHiV[i] > this.xLoV[i]) reading++; }
    if (one && reading === m) K.upload?.(this.xSlot, m * 4);
    else { K.upload?.(this.xLo, m * 4); K.upload?.(this.xHi, m * 4); }
    // self-attention: windowed causal for clean rows; a block sees its clean prefix and itself
    for (let i = 0; i < m; i++) {
      const p = pos0 + i;
      this.loV[i] = Math.max(0, p - sh.window + 1) - this.byteBase;
      this.hiV[i] = (p < blockStart ? p + 1 : end) - this.byteBase;
    }
    this.uploadRanges(m);
    for (let l = 0; l < nLayers; l++) {
      const layer = this.decoderLayers[l];
      if (one && reading === m) {
        // rule "one": the sublayer adds wo·wv·latent of the row's one latent, made by globalForward
        K.embedGatherF32(this.o, this.crossAdd[l], this.xSlot, m, d);
        K.addF32(this.x, this.x, this.o, m * d);
      } else if (reading > 0) {
        K.rmsNormF32(this.xn, this.x, layer.crossNorm, m, d, c.normEps);
        this.linear(this.q, this.xn, layer.cross.wq, m);
        K.attentionF32(this.att, this.q, this.latentKV[l].k, this.latentKV[l].v, this.xLo, this.xHi, this.scores, m, sh.nHeads, sh.nHeads, sh.headDim);
        this.linear(this.o, this.att, layer.cross.wo, m);
        K.addF32(this.x, this.x, this.o, m * d);
      }
      this.counters.bytesMoved += maxLatents * d * (one ? 4 : 8);
      if (l < nLayers - 1) this.selfLayer(layer, sh, this.x, m, slot0, this.decoderKV[l], this.ropeLocal.ptr);
    }
    // the last layer: every row's keys and values; the rest only for the rows whose logits are read
    const xs = this.lastDecoderLayer(m, slot0, nKeep);
    if (nKeep > 0) {
      K.rmsNormF32(this.xn, xs, this.w.f32("local_decoder.norm.weight"), nKeep, d, c.normEps);
      this.linear(this.logits, this.xn, this.w.linear("local_decoder.head.weight"), nKeep);
    }
    this.counters.decoder++;
    this.counters.bytesMoved += this.cost.decoder;
  }

  /**
   * The decoder's last layer on x(m): keys and values of every row; the rest (attention, FFN) for the rows
   * keepRows[0..n) only, nothing reading the others' outputs. Rows are independent, so this is exact. Returns where
   * the kept rows' outputs are, in order: a suffix stays in place; other sets are gathered first (into kb, with
   * their normed inputs in vb, positions in ids and key ranges in xLo/xHi: all free by now).
   */
  private lastDecoderLayer(m: number, slot0: number, n: number): Ptr {
    const K = this.K, sh = this.config.decoder, d = sh.dim, row = d * 4, keep = this.keepRows;
    const layer = this.decoderLayers[this.decoderLayers.length - 1], kv = this.decoderKV[this.decoderLayers.length - 1];
    const suffix = n === 0 || (keep[0] === m - n && keep[n - 1] === m - 1);
    if (suffix) {
      const from = m - n;
      this.selfLayer(layer, sh, this.x, m, slot0, kv, this.ropeLocal.ptr, from);
      return this.x + from * row;
    }
    this.selfKV(layer, sh, this.x, m, slot0, kv, this.ropeLocal.ptr);
    for (let j = 0; j < n; j++) {
      const i = keep[j];
      K.copyF32(this.kb + j * row, this.x + i * row, d);
      K.copyF32(this.vb + j * row, this.xn + i * row, d);
      this.idsV[j] = this.posV[i]; this.xLoV[j] = this.loV[i]; this.xHiV[j] = this.hiV[i];
    }
    for (const p of [this.ids, this.xLo, this.xHi]) K.upload?.(p, n * 4);
    this.selfRest(layer, sh, this.kb, this.vb, n, kv, this.ropeLocal.ptr, this.ids, this.xLo, this.xHi);
    this.counters.bytesMoved += this.rangeBytes(keep, n, d);
    return this.kb;
  }

  // --- shared pieces ---------------------------------------------------------------------------------

  /**
   * Pre-norm self-attention + SwiGLU layer on x(m, dim) in place; K/V written at cache slots slot0..; ranges and
   * RoPE rows preset. Rows before `from` only write their keys and values (nothing reads their outputs).
   */
  private selfLayer(layer: Layer, sh: TransformerShape, x: Ptr, m: number, slot0: number, kv: KV, rope: Ptr, from = 0): void {
    this.selfKV(layer, sh, x, m, slot0, kv, rope);
    const n = m - from, row = sh.dim * 4;
    if (n > 0) this.selfRest(layer, sh, x + from * row, this.xn + from * row, n, kv, rope, this.pos + from * 4, this.lo + from * 4, this.hi + from * 4);
    let first = Infinity, last = 0;
    for (let i = from; i < m; i++) { first = Math.min(first, this.loV[i]); last = Math.max(last, this.hiV[i]); }
    this.counters.bytesMoved += Math.max(0, last - first) * sh.dim * 8;
  }

  /** A layer's first part for rows x(m): xn ← RMSNorm_attn(x); keys and values (RoPE'd) at cache slots slot0... */
  private selfKV(layer: Layer, sh: TransformerShape, x: Ptr, m: number, slot0: number, kv: KV, rope: Ptr): void {
    const K = this.K, d = sh.dim;
    const kRows = kv.k + slot0 * d * 4, vRows = kv.v + slot0 * d * 4;
    K.rmsNormF32(this.xn, x, layer.attnNorm, m, d, this.config.normEps);
    this.linear(kRows, this.xn, layer.attn.wk, m);
    this.linear(vRows, this.xn, layer.attn.wv, m);
    K.ropeF32(kRows, this.pos, rope, m, sh.nHeads, sh.headDim, d);
  }

  /** The rest of a layer for n rows x(n) (in place) with normed inputs xn(n), RoPE rows `pos`, key ranges lo/hi. */
  private selfRest(layer: Layer, sh: TransformerShape, x: Ptr, xn: Ptr, n: number, kv: KV, rope: Ptr, pos: Ptr, lo: Ptr, hi: Ptr): void {
    const K = this.K, d = sh.dim;
    this.linear(this.q, xn, layer.attn.wq, n);
    K.ropeF32(this.q, pos, rope, n, sh.nHeads, sh.headDim, d);
    K.attentionF32(this.att, this.q, kv.k, kv.v, lo, hi, this.scores, n, sh.nHeads, sh.nHeads, sh.headDim);
    this.linear(this.o, this.att, layer.attn.wo, n);
    K.addF32(x, x, this.o, n * d);
    K.rmsNormF32(this.xn, x, layer.ffnNorm, n, d, this.config.normEps);
    this.linear(this.f1, this.xn, layer.w1, n);
    this.linear(this.f3, this.xn, layer.w3, n);
    K.swigluF32(this.f1, this.f1, this.f3, n * sh.ffnHidden);
    this.linear(this.o, this.f1, layer.w2, n);
    K.addF32(x, x, this.o, n * d);
  }

  /** KV-cache bytes the kept rows' attention reads (the cost model). */
  private rangeBytes(keep: Int32Array, n: number, d: number): number {
    let first = Infinity, last = 0;
    for (let j = 0; j < n; j++) { first = Math.min(first, this.loV[keep[j]]); last = Math.max(last, this.hiV[keep[j]]); }
    return Math.max(0, last - first) * d * 8;
  }

  private linear(out: Ptr, x: Ptr, lin: Linear, m: number): void {
    if (lin.kind === "f32") this.K.matmulF32(out, x, lin.w, m, lin.nIn, lin.nOut);
    else this.K.matmulQ8(out, x, lin.w, lin.scale, this.xq, m, lin.nIn, lin.nOut);
  }

  /** Windowed causal key ranges, in byte slots, for positions pos0..pos0+m−1. */
  private causalRanges(pos0: number, m: number, window: number): void {
    if (m > MAX_ROWS) throw new RangeError(`${m} rows exceed ${MAX_ROWS}`);
    for (let i = 0; i < m; i++) {
      this.loV[i] = Math.max(0, pos0 + i - window + 1) - this.byteBase;
      this.hiV[i] = pos0 + i + 1 - this.byteBase;
    }
    this.uploadRanges(m);
  }

  /** Uploads the first m key ranges in lo and hi, after the CPU wrote them. */
  private uploadRanges(m: number): void {
    this.K.upload?.(this.lo, m * 4);
    this.K.upload?.(this.hi, m * 4);
  }

  // --- sliding caches --------------------------------------------------------------------------------

  /** Before writing positions pos0..pos0+m−1: slides the byte caches if they would pass their capacity. */
  private slideBytes(pos0: number, m: number): void {
    const { keep, capacity } = this.domains.bytes;
    if (m > capacity - keep) throw new RangeError(`${m} bytes at once exceed the ${capacity - keep} a write may add`);
    // a write needs its window (and a rollback's) of earlier bytes held: writes go back at most one chunk
    if (pos0 - this.byteBase < Math.min(pos0, keep - MAX_ROWS)) {
      throw new RangeError(`position ${pos0} is no longer held: the byte caches start at ${this.byteBase}`);
    }
    if (pos0 + m - this.byteBase > capacity) {
      const base = pos0 - keep, from = base - this.byteBase, count = Math.max(0, this.byteHigh - base);
      const c = this.config, K = this.K;
      // tokens are written by the CPU only: moved there, then uploaded
      const t = K.arena.i32(this.tokens, capacity);
      t.copyWithin(0, from, from + count);
      K.upload?.(this.tokens, count * 4);
      this.moveRows(this.h, c.encoder.dim, from, count);
      for (const kv of [...this.entropyKV]) { this.moveRows(kv.k, c.entropy.dim, from, count); this.moveRows(kv.v, c.entropy.dim, from, count); }
      for (const kv of [...this.encoderKV, ...this.decoderKV]) { this.moveRows(kv.k, c.encoder.dim, from, count); this.moveRows(kv.v, c.encoder.dim, from, count); }
      this.byteBase = base;
    }
    this.byteHigh = Math.max(this.byteHigh, pos0 + m);
  }

  /** Before writing patches index0..index0+count−1: slides the patch caches if they would pass their capacity. */
  private slidePatches(index0: number, n: number): void {
    const { keep, capacity } = this.domains.patches;
    if (index0 + n - this.patchBase > capacity) {
      const base = index0 - keep, from = base - this.patchBase, count = Math.max(0, this.patchHigh - base);
      const c = this.config;
      this.moveRows(this.latents, c.global.dim, from, count);
      for (const kv of this.globalKV) { this.moveRows(kv.k, c.global.dim, from, count); this.moveRows(kv.v, c.global.dim, from, count); }
      for (const kv of this.latentKV) { this.moveRows(kv.k, c.decoder.dim, from, count); this.moveRows(kv.v, c.decoder.dim, from, count); }
      for (const p of this.crossAdd) this.moveRows(p, c.decoder.dim, from, count);
      this.latentLo.copyWithin(0, from, from + count);
      this.patchBase = base;
    }
    this.patchHigh = index0 + n;
  }

  /** Moves rows from..from+count−1 of a (slots, d) buffer to rows 0..count−1, in pieces that never overlap. */
  private moveRows(buf: Ptr, d: number, from: number, count: number): void {
    for (let r = 0; r < count; r += from) {
      const n = Math.min(from, count - r);
      this.K.copyF32(buf + r * d * 4, buf + (from + r) * d * 4, n * d);
    }
  }
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
