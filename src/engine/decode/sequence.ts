// The state of one sequence being decoded on a BltModel: committed tokens, their patches, which patches have
// latents, and the model's prediction for the next byte. Every mode drives the model through this. The calls
// that read model results (the entropy and decoder logits) are async: the kernels may still be computing them.
// A sequence may grow without limit: what it keeps per byte and per patch lives in rings of the recent ones.
import { BOS, VOCAB_OUT } from "../../config.ts";
import type { BlockCommit } from "../../protocol.ts";
import { MAX_ROWS, type BltModel } from "../model/blt-model.ts";
import { entropyNats, startsPatch } from "../model/patcher.ts";

/** An Int32 or Float32 ring: index i lives at i mod capacity. */
class Ring<T extends Int32Array | Float32Array> {
  constructor(readonly a: T) {}
  get(i: number): number { return this.a[i % this.a.length]; }
  set(i: number, v: number): void { this.a[i % this.a.length] = v; }
}

export class Sequence {
  /** Committed tokens, BOS included; position n is the next to fill. */
  n = 0;
  /** Number of patches; patch 0 is BOS. */
  nPatches = 0;
  /** Patches 0..nLatents−1 have latents (and the decoder's cross-attention keys for them). */
  nLatents = 0;
  /** First position of each recent patch. */
  private readonly startRing: Ring<Int32Array>;
  /** End position of the bytes each latent was pooled from (a truncation inside a patch invalidates it). */
  private readonly latentEnd: Ring<Int32Array>;
  /**
   * Per-position state of the recent positions, in rings of `capacity` positions (the training window plus two
   * chunks): position i lives at i mod capacity, so below capacity they read as plain arrays. patchOf: the patch
   * index of every committed position; readOf: the latent read index of its decoder row (config.ts
   * DecoderLatents); entropyAt: H(i), the entropy model's entropy of its prediction for byte i (nats); rowLogits:
   * the decoder logits of every committed row (row i predicts byte i+1, at rowLogits[(i mod capacity)·256..]).
   */
  readonly capacity: number;
  readonly patchOf: Int32Array;
  readonly readOf: Int32Array;
  readonly entropyAt: Float32Array;
  readonly rowLogits: Float32Array;
  private readonly patchRing: Ring<Int32Array>;
  private readonly readRing: Ring<Int32Array>;
  private readonly entropyRing: Ring<Float32Array>;
  private readonly ids = new Int32Array(MAX_ROWS);
  private readonly reads = new Int32Array(MAX_ROWS);
  private readonly poolStart = new Int32Array(MAX_ROWS);
  private readonly poolEnd = new Int32Array(MAX_ROWS);
  private readonly firstVisible = new Int32Array(MAX_ROWS);

  /** A new sequence on the model: its caches start over (one sequence at a time per model). */
  constructor(readonly model: BltModel) {
    model.reset();
    this.capacity = model.config.maxSeqLen + 2 * MAX_ROWS;
    this.patchOf = new Int32Array(this.capacity);
    this.readOf = new Int32Array(this.capacity);
    this.entropyAt = new Float32Array(this.capacity);
    this.rowLogits = new Float32Array(this.capacity * VOCAB_OUT);
    this.patchRing = new Ring(this.patchOf);
    this.readRing = new Ring(this.readOf);
    this.entropyRing = new Ring(this.entropyAt);
    // the global window holds at most max_seq_len patches; a rollback and a chunk add at most 2 × MAX_ROWS
    const patches = model.config.maxSeqLen + 4 * MAX_ROWS;
    this.startRing = new Ring(new Int32Array(patches));
    this.latentEnd = new Ring(new Int32Array(patches));
  }

  /** First position of patch j (one of the recent ones). */
  start(j: number): number { return this.startRing.get(j); }
  /** Patch index of the committed position pos (a recent one). */
  patchAt(pos: number): number { return this.patchRing.get(pos); }
  /** Latent read index of the decoder row at pos (a recent one). */
  readAt(pos: number): number { return this.readRing.get(pos); }
  /** H(pos) in nats. */
  entropyOf(pos: number): number { return this.entropyRing.get(pos); }

  /** Logits of row r (predicting byte r+1), one of the recent rows: a view into rowLogits. */
  logitsOf(r: number): Float32Array {
    const i = r % this.capacity;
    return this.rowLogits.subarray(i * VOCAB_OUT, (i + 1) * VOCAB_OUT);
  }

  /** Logits of the prediction for the byte at position n. */
  get nextLogits(): Float32Array { return this.logitsOf(this.n - 1); }

  /** First positions of the patches, oldest first (the recent ones: a debugging and test aid). */
  get starts(): number[] {
    const first = Math.max(0, this.nPatches - this.startRing.a.length);
    return Array.from({ length: this.nPatches - first }, (_, i) => this.start(first + i));
  }

  /** Starts the sequence with BOS and the prompt, AR-style (entropy patches); only the last row's logits are made. */
  async prefill(prompt: Uint8Array): Promise<void> {
    const ids = new Int32Array(prompt.length + 1);
    ids[0] = BOS;
    ids.set(prompt, 1);
    await this.appendClean(ids, 0, false);
  }

  /**
   * Appends tokens at positions n.. exactly as AR decoding would process them one by one: entropy model,
   * patch boundaries, encoder, pooling + global for every patch that completes, decoder rows. Batched: one
   * pass per component per chunk (this is also BLT-S/BLT-DV verification). Positions below `encodedUpTo` already
   * hold the encoder's states for exactly these tokens (BLT-S drafted them): the encoder skips them. Its rows
   * do not depend on patches or latents, and a batched row equals a single one bit for bit, so this is exact.
   * With allLogits false only the last row's logits are made (the rest only fill the decoder's caches).
   * `drafted` (BLT-S): rows below drafted.upTo were run by the decoder while drafting, reading latent drafted.read,
   * their logits stored (setDraftLogits); the leading ones whose read index is that one are not run again: same
   * token, byte state, earlier keys and latent give the same keys, values and logits bit for bit.
   */
  async appendClean(ids: ArrayLike<number>, encodedUpTo = 0, allLogits = true, drafted?: { upTo: number; read: number }): Promise<void> {
    const m = this.model;
    for (let off = 0; off < ids.length; off += MAX_ROWS) {
      const rows = Math.min(MAX_ROWS, ids.length - off), pos0 = this.n, end = pos0 + rows;
      for (let i = 0; i < rows; i++) this.ids[i] = ids[off + i];
      m.setTokens(pos0, this.ids.subarray(0, rows));

      await this.entropyPatches(pos0, end, false);
      // which latent each row reads; the paper's rule needs a patch's latent at its last byte, so a patch the
      // next byte closes gets its latent (pooling + global) before the decoder rows run
      for (let pos = pos0; pos < end; pos++) {
        const r = this.readIndex(pos, pos + 1 < end ? this.patchAt(pos + 1) !== this.patchAt(pos) : this.startsAt(end));
        this.readRing.set(pos, r);
        this.reads[pos - pos0] = r;
      }
      const e0 = Math.min(Math.max(pos0, encodedUpTo), end);
      if (e0 < end) m.encoderForward(e0, end - e0);
      this.latentsUpTo(this.reads[rows - 1] + 1, end);
      let d = 0; // leading rows the draft already ran
      if (drafted) while (pos0 + d < Math.min(end, drafted.upTo) && this.reads[d] === drafted.read) d++;
      const from = allLogits ? d : off + rows < ids.length ? rows : rows - 1;
      if (d < rows) m.decoderForward(pos0 + d, rows - d, this.reads.subarray(d, rows), from - d);
      if (from < rows) {
        const logits = await m.readLogits(rows - from);
        for (let i = from; i < rows; i++) this.logitsOf(pos0 + i).set(logits.subarray((i - from) * VOCAB_OUT, (i - from + 1) * VOCAB_OUT));
      }
      this.n = end;
    }
  }

  /**
   * Computes latents for patches nLatents..count−1 (each complete, the last ending at `end` if no later patch
   * starts): one pooling pass and one global pass per group of patches whose bytes fit in one call. Each global
   * row attends to the patches inside the training window that ends with its patch (every earlier patch while
   * the sequence is shorter than that window).
   */
  latentsUpTo(count: number, end = this.n): void {
    const window = this.model.config.maxSeqLen;
    while (this.nLatents < count) {
      const j0 = this.nLatents;
      let j1 = j0;
      const endOf = (j: number) => (j + 1 < this.nPatches ? this.start(j + 1) : end);
      while (j1 < count && j1 - j0 < MAX_ROWS && endOf(j1) - this.start(j0) <= MAX_ROWS) j1++;
      const n = j1 - j0;
      for (let j = j0; j < j1; j++) {
        const e = endOf(j);
        this.poolStart[j - j0] = this.start(j); this.poolEnd[j - j0] = e; this.latentEnd.set(j, e);
        this.firstVisible[j - j0] = this.firstPatchFrom(e - window, j);
      }
      this.model.globalForward(this.model.poolPatches(this.poolStart, this.poolEnd, n), j0, n, this.firstVisible);
      this.nLatents = j1;
    }
  }

  /** The first patch k ≤ j that starts at or after position `from` (binary search over the recent patches). */
  private firstPatchFrom(from: number, j: number): number {
    if (from <= 0) return 0;
    let lo = Math.max(0, j - this.startRing.a.length + 1), hi = j;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.start(mid) >= from) hi = mid; else lo = mid + 1;
    }
    return lo;
  }

  /**
   * One batched entropy-model pass over positions pos0..end−1 (their tokens set): H of each next byte, then the
   * patches by the entropy rule. forceStart: pos0 starts a patch whatever its entropy (a forced boundary).
   */
  private async entropyPatches(pos0: number, end: number, forceStart: boolean): Promise<void> {
    const m = this.model, rows = end - pos0, { threshold, maxPatchLen } = m.config.patching;
    m.entropyForward(pos0, rows);
    const ent = await m.readLogits(rows);
    for (let i = 0; i < rows; i++) this.entropyRing.set(pos0 + i + 1, entropyNats(ent, i * VOCAB_OUT));
    for (let pos = pos0; pos < end; pos++) {
      const curLen = this.nPatches === 0 ? 0 : pos - this.start(this.nPatches - 1);
      if (pos === 0 || (forceStart && pos === pos0) || startsPatch(pos, this.entropyOf(pos), curLen, threshold, maxPatchLen)) {
        this.startRing.set(this.nPatches++, pos);
      }
      this.patchRing.set(pos, this.nPatches - 1);
    }
  }

  /** Whether the byte at position n starts a new patch under entropy patching. */
  nextStartsPatch(): boolean {
    return this.startsAt(this.n);
  }

  /** Whether a byte at position `pos` (just past the committed or the just-patched bytes) starts a patch. */
  private startsAt(pos: number): boolean {
    const { threshold, maxPatchLen } = this.model.config.patching;
    return startsPatch(pos, this.entropyOf(pos), pos - this.start(this.nPatches - 1), threshold, maxPatchLen);
  }

  /**
   * The latent read index of row pos, whose next byte starts a patch or not (config.ts DecoderLatents): the
   * paper's rule reads the patch just before the one holding x(pos+1); v1 the patch before the row's own.
   */
  readIndex(pos: number, nextStarts: boolean): number {
    const own = this.patchAt(pos);
    return this.model.config.decoderLatents === "v1" ? own - 1 : own + (nextStarts ? 1 : 0) - 1;
  }

  /**
   * The read index for bytes drafted past position n, where a patch starts (BLT-S): the latent of the patch that
   * ends at n − 1, made here if it is not yet (v1 rows read it first at n), the one AR's rows of the new patch read.
   * Past the next patch boundary it is stale: verification catches that.
   */
  draftRead(): number {
    this.latentsUpTo(this.nPatches);
    return this.nPatches - 1;
  }

  /** Stores the logits a draft's decoder row at pos made (one row), for appendClean's `drafted` rows. */
  setDraftLogits(pos: number, logits: Float32Array): void {
    this.logitsOf(pos).set(logits.subarray(0, VOCAB_OUT));
  }

  /** Rolls back to the first n tokens (caches are slot-indexed: later slots are simply overwritten). */
  truncate(n: number): void {
    this.n = n;
    while (this.start(this.nPatches - 1) >= n) this.nPatches--;
    this.nLatents = Math.min(this.nLatents, this.nPatches);
    while (this.nLatents > 0 && this.latentEnd.get(this.nLatents - 1) > n) this.nLatents--;
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
      if (this.readAt(last) !== read) { this.readRing.set(last, read); this.pendingCleanRows = Math.max(this.pendingCleanRows, 1); }
    }
    this.latentsUpTo(this.nPatches);
    return this.nPatches;
  }

  /**
   * Commits a filled block at positions n.. (after closePatch, so n starts a patch). "entropy" (the paper's
   * Algorithm 1): one batched entropy-model pass re-patches the block's bytes, so patches follow the entropy
   * model inside it; only the final patch is forced to end at the block's end. "block": the whole block is one
   * patch (a named variant; the global model never saw such patches in training). Then one encoder pass over the
   * bytes from `encoded` on (the first `encoded` already hold their states for these very tokens: prefix states; a
   * batched encoder row equals a single one bit for bit); the block's decoder rows ride in the next block's first
   * denoising pass (pendingCleanRows).
   */
  async appendBlock(ids: ArrayLike<number>, commit: BlockCommit = "entropy", encoded = 0): Promise<void> {
    const m = this.model, rows = ids.length, pos0 = this.n, end = pos0 + rows;
    for (let i = 0; i < rows; i++) this.ids[i] = ids[i];
    m.setTokens(pos0, this.ids.subarray(0, rows));
    if (commit === "entropy") await this.entropyPatches(pos0, end, true);
    else {
      this.startRing.set(this.nPatches++, pos0);
      for (let pos = pos0; pos < end; pos++) this.patchRing.set(pos, this.nPatches - 1);
    }
    for (let pos = pos0; pos < end; pos++) this.readRing.set(pos, this.readIndex(pos, pos + 1 === end || this.patchAt(pos + 1) !== this.patchAt(pos)));
    if (encoded < rows) m.encoderForward(pos0 + encoded, rows - encoded);
    this.n = end;
    this.pendingCleanRows = Math.min(this.pendingCleanRows + rows, end);
  }

  /** Decoder rows at the end of the committed text not yet in the decoder's cache (BLT-D). */
  pendingCleanRows = 0;

  /** The read indices of the pending clean rows n − pendingCleanRows..n−1 (a view, valid until the next call). */
  pendingReads(): Int32Array {
    const k = this.pendingCleanRows, s = this.n;
    for (let i = 0; i < k; i++) this.reads[i] = this.readAt(s - k + i);
    return this.reads.subarray(0, k);
  }
}

