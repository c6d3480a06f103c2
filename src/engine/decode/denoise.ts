// One BLT-D block filled by diffusion (docs/design.md §3): B MASK bytes at the sequence end, repeated decoder
// passes, each unmasking the confident positions (top probability ≥ α) or the lowest-entropy ones whose summed
// entropy stays ≤ γ; at least one per pass, all on the last allowed pass. A filled byte is never re-masked.
import { MASK } from "../../config.ts";
import type { ModeContext } from "./context.ts";
import { confidenceInto } from "./context.ts";

/**
 * Fills a block of B bytes starting at the sequence end, the start of patch q (its rows read latent q−1).
 * Leaves the bytes in scratch.ids[0..B) and, for speculative sampling, the distribution each byte was drawn
 * from in scratch.drafts (B × 256). With `first`, byte 0 is given (BLT-DV: AR's own byte, which the row before the
 * block already predicts) and only bytes 1..B−1 are denoised. With prefix states (knobs.blockPrefix "states", the
 * default), before each pass the block's revealed prefix goes through the encoder (positions s.., the tokens set)
 * and its rows start from those byte states. Returns how many of the block's bytes, from its start, already hold
 * their encoder states.
 */
export async function fillBlock(c: ModeContext, q: number, B: number, threshold: number, entropyBound: number | null, maxSteps: number,
                                first?: number): Promise<number> {
  const m = c.seq.model, s = c.seq.n, { ids, drafts, conf, ent, pick, order, need, rowOf } = c.scratch;
  const prefixStates = (c.knobs.blockPrefix ?? "states") === "states";
  ids.fill(MASK, 0, B);
  let masked = B, passes = 0, encoded = 0;
  if (first !== undefined) { ids[0] = first; masked--; }
  while (masked > 0) {
    // prefix states: the bytes revealed since the last pass that extend the block's filled prefix, through the encoder
    // (causal: each reads only the committed text and the prefix before it, all of it final)
    if (prefixStates) {
      let p = encoded;
      while (p < B && ids[p] !== MASK) p++;
      if (p > encoded) {
        m.setTokens(s + encoded, ids.subarray(encoded, p));
        m.encoderForward(s + encoded, p - encoded);
        encoded = p;
      }
    }
    // only the masked positions' logits are read: the revealed rows stop at their keys and values
    let nRows = 0;
    for (let k = 0; k < B; k++) { need[k] = ids[k] === MASK ? 1 : 0; if (need[k]) rowOf[k] = nRows++; }
    // the first pass also caches the decoder rows of the block committed before (one pass, not two)
    const pending = c.seq.pendingCleanRows;
    const rows = m.decoderBlock(s, q, ids.subarray(0, B), pending, c.seq.pendingReads(), need, encoded);
    c.seq.pendingCleanRows = 0;
    passes++;
    const logits = await m.readLogits(nRows, rows);
    let best = -1, nMasked = 0;
    for (let k = 0; k < B; k++) {
      pick[k] = 0;
      if (ids[k] !== MASK) continue;
      confidenceInto(logits, rowOf[k], k, conf, ent);
      order[nMasked++] = k;
      if (best < 0 || conf[k] > conf[best]) best = k;
    }
    if (passes >= maxSteps) {
      for (let i = 0; i < nMasked; i++) pick[order[i]] = 1;
    } else if (entropyBound !== null) {
      // lowest entropy first (insertion sort of the masked positions), while the summed entropy stays ≤ γ
      for (let i = 1; i < nMasked; i++) {
        const k = order[i];
        let j = i - 1;
        while (j >= 0 && ent[order[j]] > ent[k]) { order[j + 1] = order[j]; j--; }
        order[j + 1] = k;
      }
      let sum = 0;
      for (let i = 0; i < nMasked; i++) {
        const k = order[i];
        if (i > 0 && sum + ent[k] > entropyBound) break;
        sum += ent[k];
        pick[k] = 1;
      }
    } else {
      for (let i = 0; i < nMasked; i++) if (conf[order[i]] >= threshold) pick[order[i]] = 1;
      pick[best] = 1;
    }
    for (let k = 0; k < B; k++) {
      if (!pick[k]) continue;
      const dist = c.sampler.distribution(logits, drafts.subarray(k * 256, (k + 1) * 256), rowOf[k] * 256);
      ids[k] = c.sampler.greedy ? dist.indexOf(1) : c.sampler.draw(dist);
      masked--;
    }
  }
  return encoded;
}
