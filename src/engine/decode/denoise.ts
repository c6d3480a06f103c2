// One BLT-D block filled by diffusion (fast-blt.md §3): B MASK bytes at the sequence end, repeated decoder
// passes, each unmasking the confident positions (top probability ≥ α) or the lowest-entropy ones whose summed
// entropy stays ≤ γ; at least one per pass, all on the last allowed pass. A filled byte is never re-masked.
import { MASK } from "../../config.ts";
import type { ModeContext } from "./context.ts";
import { confidence } from "./context.ts";

export interface FilledBlock {
  bytes: Int32Array;
  /** For speculative sampling: the distribution each byte was drawn from (B × 256). */
  drafts: Float32Array;
  passes: number;
}

/** Fills a block of B bytes starting at the sequence end, whose cross-attention reads latents 0..q−1. */
export function fillBlock(c: ModeContext, q: number, B: number, threshold: number, entropyBound: number | null, maxSteps: number): FilledBlock {
  const m = c.seq.model, s = c.seq.n;
  const ids = new Int32Array(B).fill(MASK);
  const drafts = new Float32Array(B * 256);
  const conf = new Float32Array(B), ent = new Float32Array(B), pick = new Uint8Array(B);
  let masked = B, passes = 0;
  while (masked > 0) {
    // the first pass also caches the decoder rows of the block committed before (one pass, not two)
    const rows = m.decoderBlock(s, q, ids, c.seq.pendingCleanRows);
    c.seq.pendingCleanRows = 0;
    passes++;
    const logits = m.K.arena.f32(rows, B * 256);
    let best = -1;
    for (let k = 0; k < B; k++) {
      pick[k] = 0;
      if (ids[k] !== MASK) continue;
      const cf = confidence(logits, k * 256);
      conf[k] = cf.topP; ent[k] = cf.entropy;
      if (best < 0 || conf[k] > conf[best]) best = k;
    }
    if (passes >= maxSteps) {
      for (let k = 0; k < B; k++) pick[k] = ids[k] === MASK ? 1 : 0;
    } else if (entropyBound !== null) {
      const order = Array.from({ length: B }, (_, k) => k).filter((k) => ids[k] === MASK).sort((x, y) => ent[x] - ent[y]);
      let sum = 0;
      for (const k of order) { if (pick.includes(1) && sum + ent[k] > entropyBound) break; sum += ent[k]; pick[k] = 1; }
    } else {
      for (let k = 0; k < B; k++) if (ids[k] === MASK && conf[k] >= threshold) pick[k] = 1;
      pick[best] = 1;
    }
    for (let k = 0; k < B; k++) {
      if (!pick[k]) continue;
      const dist = c.sampler.distribution(logits, drafts.subarray(k * 256, (k + 1) * 256), k * 256);
      ids[k] = c.sampler.greedy ? dist.indexOf(1) : c.sampler.draw(dist);
      masked--;
    }
  }
  return { bytes: ids, drafts, passes };
}
