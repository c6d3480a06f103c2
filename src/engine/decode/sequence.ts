// The state of one sequence being decoded on a BltModel: committed tokens, their patches, which patches have
// latents, and the model's prediction for the next byte. Every mode drives the model through this. The calls
// that read model results (the entropy and decoder logits) are async: the kernels may still be computing them.
import { BOS, VOCAB_OUT } from "../../config.ts";
import { MAX_ROWS, type BltModel } from "../model/blt-model.ts";
import { entropyNats, startsPatch } from "../model/patcher.ts";

export class Sequence {
  /** Committed tokens, BOS included; position n is the next to fill. */
  n = 0;
  /** First position of each patch; patch 0 is BOS. */
  readonly starts: number[] = [];
  /** Patch index of every committed position. */
  readonly patchOf: Int32Array;
  /** The latent read index of every committed decoder row (config.ts DecoderLatents). */
  readonly readOf: Int32Array;
  /** Patches 0..nLatents−1 have latents (and the decoder's cross-attention keys for them). */
  nLatents = 0;
  /** End position of the bytes each latent was pooled from (a truncation inside a patch invalidates it). */
  private readonly latentEnd: number[] = [];
  /** entropyAt[i] = H(i), the entropy model's entropy of its prediction for byte i (nats). */
  readonly entropyAt: Float32Array;
  /** Decoder logits of every committed row: row i predicts byte i+1. */
  readonly rowLogits: Float32Array;
  private readonly ids = new Int32Array(MAX_ROWS);
  private readonly poolStart = new Int32Array(MAX_ROWS);
  private readonly poolEnd = new Int32Array(MAX_ROWS);

  constructor(readonly model: BltModel) {
    this.patchOf = new Int32Array(model.ctx);
    this.readOf = new Int32Array(model.ctx);
    this.entropyAt = new Float32Array(model.ctx + 1);
    this.rowLogits = new Float32Array(model.ctx * VOCAB_OUT);
  }

  /** Logits of the prediction for the byte at position n. */
  get nextLogits(): Float32Array { return this.rowLogits.subarray((this.n - 1) * VOCAB_OUT, this.n * VOCAB_OUT); }

  get room(): number { return this.model.ctx - this.n; }

  /** Starts the sequence with BOS and the prompt, AR-style (entropy patches). */
  async prefill(prompt: Uint8Array): Promise<void> {
    const ids = new Int32Array(prompt.length + 1);
    ids[0] = BOS;
    ids.set(prompt, 1);
    await this.appendClean(ids);
  }

  /**
   * Appends tokens at positions n.. exactly as AR decoding would process them one by one: entropy model,
   * patch boundaries, encoder, pooling + global for every patch that completes, decoder rows. Batched: one
   * pass per component per chunk (this is also BLT-S/BLT-DV verification). Positions below `encodedUpTo` already
   * hold the encoder's states for exactly these tokens (BLT-S drafted them): the encoder skips them. Its rows
   * do not depend on patches or latents, and a batched row equals a single one bit for bit, so this is exact.
   */
  async appendClean(ids: ArrayLike<number>, encodedUpTo = 0): Promise<void> {
    const m = this.model, { threshold, maxPatchLen } = m.config.patching;
    for (let off = 0; off < ids.length; off += MAX_ROWS) {
      const rows = Math.min(MAX_ROWS, ids.length - off), pos0 = this.n;
      if (pos0 + rows > m.ctx) throw new RangeError(`context of ${m.ctx} bytes is full`);
      for (let i = 0; i < rows; i++) this.ids[i] = ids[off + i];
      m.setTokens(pos0, this.ids.subarray(0, rows));

      m.entropyForward(pos0, rows);
      const ent = await m.readLogits(rows);
      for (let i = 0; i < rows; i++) this.entropyAt[pos0 + i + 1] = entropyNats(ent, i * VOCAB_OUT);

      for (let i = 0; i < rows; i++) {
        const pos = pos0 + i;
        const last = this.starts.length - 1;
        const curLen = last < 0 ? 0 : pos - this.starts[last];
        if (pos === 0 || startsPatch(pos, this.entropyAt[pos], curLen, threshold, maxPatchLen)) this.starts.push(pos);
        this.patchOf[pos] = this.starts.length - 1;
      }
      // which latent each row reads; the paper's rule needs a patch's latent at its last byte, so a patch the
      // next byte closes gets its latent (pooling + global) before the decoder rows run
      const end = pos0 + rows;
      for (let pos = pos0; pos < end; pos++) {
        this.readOf[pos] = this.readIndex(pos, pos + 1 < end ? this.patchOf[pos + 1] !== this.patchOf[pos] : this.startsAt(end));
      }
      const e0 = Math.min(Math.max(pos0, encodedUpTo), end);
      if (e0 < end) m.encoderForward(e0, end - e0);
      this.latentsUpTo(this.readOf[end - 1] + 1, end);
      m.decoderForward(pos0, rows, this.readOf.subarray(pos0, end));
      this.rowLogits.set(await m.readLogits(rows), pos0 * VOCAB_OUT);
      this.n = pos0 + rows;
    }
  }

  /**
   * Computes latents for patches nLatents..count−1 (each complete, the last ending at `end` if no later patch
   * starts): one pooling pass and one global pass per group of patches whose bytes fit in one call.
   */
  latentsUpTo(count: number, end = this.n): void {
    while (this.nLatents < count) {
      const j0 = this.nLatents;
      let j1 = j0;
      const endOf = (j: number) => (j + 1 < this.starts.length ? this.starts[j + 1] : end);
      while (j1 < count && j1 - j0 < MAX_ROWS && endOf(j1) - this.starts[j0] <= MAX_ROWS) j1++;
      const n = j1 - j0;
      for (let j = j0; j < j1; j++) { this.poolStart[j - j0] = this.starts[j]; this.poolEnd[j - j0] = endOf(j); this.latentEnd[j] = endOf(j); }
      this.model.globalForward(this.model.poolPatches(this.poolStart, this.poolEnd, n), j0, n);
      this.nLatents = j1;
    }
  }

  /** Whether the byte at position n starts a new patch under entropy patching. */
  nextStartsPatch(): boolean {
    return this.startsAt(this.n);
  }

  /** Whether a byte at position `pos` (just past the committed or the just-patched bytes) starts a patch. */
  private startsAt(pos: number): boolean {
    const last = this.starts.length - 1;
    const { threshold, maxPatchLen } = this.model.config.patching;
    return startsPatch(pos, this.entropyAt[pos], pos - this.starts[last], threshold, maxPatchLen);
  }

  /**
   * The latent read index of row pos, whose next byte starts a patch or not (config.ts DecoderLatents): the
   * paper's rule reads the patch just before the one holding x(pos+1); v1 the patch before the row's own.
   */
  readIndex(pos: number, nextStarts: boolean): number {
    const own = this.patchOf[pos];
    return this.model.config.decoderLatents === "v1" ? own - 1 : own + (nextStarts ? 1 : 0) - 1;
  }

  /** The read index the decoder uses for bytes drafted past position n (BLT-S): the newest latent it has. */
  draftRead(): number {
    return this.model.config.decoderLatents === "v1" ? this.starts.length - 2 : this.starts.length - 1;
  }

  /** Rolls back to the first n tokens (caches are slot-indexed: later slots are simply overwritten). */
  truncate(n: number): void {
    this.n = n;
    while (this.starts[this.starts.length - 1] >= n) this.starts.pop();
    this.nLatents = Math.min(this.nLatents, this.starts.length);
    while (this.nLatents > 0 && this.latentEnd[this.nLatents - 1] > n) this.nLatents--;
  }

  // --- BLT-D: committing blocks ------------------------------------------------------------------------

  /**
   * Closes the open patch (forces a boundary at n) and computes every missing latent; returns the next patch
   * index. Under the paper's rule the row before the boundary now ends its patch, so it reads its own patch's
   * latent: if it read another, it is re-run in the next block's first pass (pendingCleanRows).
   */
  closePatch(): number {
    const last = this.n - 1;
    if (last >= 0) {
      const read = this.readIndex(last, true);
      if (this.readOf[last] !== read) { this.readOf[last] = read; this.pendingCleanRows = Math.max(this.pendingCleanRows, 1); }
    }
    this.latentsUpTo(this.starts.length);
    return this.starts.length;
  }

  /**
   * Commits a filled block at positions n.. (after closePatch, so n starts a patch). "entropy" (the paper's
   * Algorithm 1): one batched entropy-model pass re-patches the block's bytes, so patches follow the entropy
   * model inside it; only the final patch is forced to end at the block's end. "block": the whole block is one
   * patch (a named variant; the global model never saw such patches in training). Then one encoder pass; the
   * block's decoder rows ride in the next block's first denoising pass (pendingCleanRows).
   */
  async appendBlock(ids: ArrayLike<number>, commit: BlockCommit = "entropy"): Promise<void> {
    const m = this.model, rows = ids.length, pos0 = this.n, end = pos0 + rows;
    if (end > m.ctx) throw new RangeError(`context of ${m.ctx} bytes is full`);
    for (let i = 0; i < rows; i++) this.ids[i] = ids[i];
    m.setTokens(pos0, this.ids.subarray(0, rows));
    this.starts.push(pos0);
    if (commit === "entropy") {
      const { threshold, maxPatchLen } = m.config.patching;
      m.entropyForward(pos0, rows);
      const ent = await m.readLogits(rows);
      for (let i = 0; i < rows; i++) this.entropyAt[pos0 + i + 1] = entropyNats(ent, i * VOCAB_OUT);
      this.patchOf[pos0] = this.starts.length - 1;
      for (let pos = pos0 + 1; pos < end; pos++) {
        if (startsPatch(pos, this.entropyAt[pos], pos - this.starts[this.starts.length - 1], threshold, maxPatchLen)) this.starts.push(pos);
        this.patchOf[pos] = this.starts.length - 1;
      }
    } else {
      this.patchOf.fill(this.starts.length - 1, pos0, end);
    }
    for (let pos = pos0; pos < end; pos++) this.readOf[pos] = this.readIndex(pos, pos + 1 === end || this.patchOf[pos + 1] !== this.patchOf[pos]);
    m.encoderForward(pos0, rows);
    this.n = end;
    this.pendingCleanRows = Math.min(this.pendingCleanRows + rows, end);
  }

  /** Decoder rows at the end of the committed text not yet in the decoder's cache (BLT-D). */
  pendingCleanRows = 0;
}

/** How BLT-D commits a filled block: re-patched by the entropy model (Algorithm 1) or as one patch. */
export type BlockCommit = "entropy" | "block";
