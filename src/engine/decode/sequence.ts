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
      const e0 = Math.min(Math.max(pos0, encodedUpTo), pos0 + rows);
      if (e0 < pos0 + rows) m.encoderForward(e0, pos0 + rows - e0);
      this.latentsUpTo(this.starts.length - 1, pos0 + rows);
      m.decoderForward(pos0, rows, this.patchOf.subarray(pos0, pos0 + rows));
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
    const last = this.starts.length - 1;
    const { threshold, maxPatchLen } = this.model.config.patching;
    return startsPatch(this.n, this.entropyAt[this.n], this.n - this.starts[last], threshold, maxPatchLen);
  }

  /** Rolls back to the first n tokens (caches are slot-indexed: later slots are simply overwritten). */
  truncate(n: number): void {
    this.n = n;
    while (this.starts[this.starts.length - 1] >= n) this.starts.pop();
    this.nLatents = Math.min(this.nLatents, this.starts.length);
    while (this.nLatents > 0 && this.latentEnd[this.nLatents - 1] > n) this.nLatents--;
  }

  // --- BLT-D: blocks become patches -------------------------------------------------------------------

  /** Closes the open patch (forces a boundary at n) and computes its latent; returns the next patch index. */
  closePatch(): number {
    this.latentsUpTo(this.starts.length);
    return this.starts.length;
  }

  /**
   * Commits a filled block at positions n.. as the new patch (after closePatch): one encoder pass over its
   * bytes. Its decoder rows run together with the next block's first denoising pass (pendingCleanRows).
   */
  appendBlock(ids: ArrayLike<number>): void {
    const m = this.model, rows = ids.length, pos0 = this.n;
    if (pos0 + rows > m.ctx) throw new RangeError(`context of ${m.ctx} bytes is full`);
    for (let i = 0; i < rows; i++) this.ids[i] = ids[i];
    m.setTokens(pos0, this.ids.subarray(0, rows));
    this.starts.push(pos0);
    this.patchOf.fill(this.starts.length - 1, pos0, pos0 + rows);
    m.encoderForward(pos0, rows);
    this.n = pos0 + rows;
    this.pendingCleanRows = rows;
  }

  /** Decoder rows of the last committed block not yet in the decoder's cache (BLT-D). */
  pendingCleanRows = 0;
}
