// One BLT-D block filled by diffusion (docs/design.md §3): B MASK bytes at the sequence end, repeated decoder
// passes, each unmasking the confident positions (top probability ≥ α) or the lowest-entropy ones whose summed
// entropy stays ≤ γ; at least one per pass, all on the last allowed pass. A filled byte is never re-masked.
import { MASK } from "../../config.ts";
import type { ModeContext } from "./context.ts";
import { confidenceInto } from "./context.ts";
import { END_OUTPUT } from "./guide.ts";

/**
 * Fills a block of B bytes starting at the sequence end, the start of patch q (its rows read latent q−1).
 * Leaves the bytes in scratch.ids[0..B) and, for speculative sampling, the distribution each byte was drawn
 * from in scratch.drafts (B × 256). With `first`, byte 0 is given (BLT-DV: AR's own byte, which the row before the
 * block already predicts) and only bytes 1..B−1 are denoised. With prefix states (knobs.blockPrefix "states", the
 * default), before each pass the block's revealed prefix goes through the encoder (positions s.., the tokens set)
 * and its rows start from those byte states. Returns how many of the block's bytes, from its start, already hold
 * their encoder states.
 *
 * Under a constraint (c.guide) bytes are committed only as the automaton accepts them read left to right: the
 * frontier (the first byte not yet accepted) is filled on every pass, drawn under the automaton's mask at that
 * point; a byte drawn beyond the frontier is drawn unmasked and checked when the frontier reaches it: a byte the
 * automaton rejects is redrawn under the mask if its row was computed on this pass, else masked again for the next
 * pass. Each pass accepts at least one byte, so a block still takes at most B passes. BLT-D (no `first`) may end the
 * output at the frontier (END_OUTPUT); the block then ends there. guide.blockLen says how many bytes the block holds.
 */
export async function fillBlock(c: ModeContext, q: number, B: number, threshold: number, entropyBound: number | null, maxSteps: number,
                                first?: number): Promise<number> {
  const m = c.seq.model, s = c.seq.n, { ids, drafts, conf, ent, pick, order, need, rowOf } = c.scratch;
  const prefixStates = (c.knobs.blockPrefix ?? "states") === "states";
  const g = c.guide, st = g?.states, isD = first === undefined, lp = isD ? c.lp : null;
  ids.fill(MASK, 0, B);
  let masked = B, passes = 0, encoded = 0, f = 0, ended = false;
  if (first !== undefined) { ids[0] = first; masked--; }
  if (g) { st![0] = g.state; g.draftEnd.fill(0); }
  // under a constraint: the frontier f moves over the filled bytes the automaton accepts (see above)
  const advance = (logits: Float32Array | null): void => {
    while (f < B && ids[f] !== MASK) {
      const nx = st![f]!.advance(ids[f]);
      if (nx) { st![f + 1] = nx; f++; continue; }
      if (logits && need[f]) { if (!drawAtFrontier(logits)) return; continue; }
      ids[f] = MASK;
      masked++;
      return;
    }
  };
  // draws the frontier byte under the mask; false when the output ends there
  const drawAtFrontier = (logits: Float32Array): boolean => {
    const dist = g!.distribution(c.sampler, logits, st![f]!, drafts.subarray(f * 256, (f + 1) * 256), rowOf[f] * 256, isD);
    const b = g!.draw(c.sampler, dist, g!.endMass);
    if (b === END_OUTPUT) { ended = true; return false; }
    if (ids[f] === MASK) masked--;
    ids[f] = b;
    lp?.noteBlock(f, logits, rowOf[f] * 256, b);
    return true;
  };
  if (g) advance(null);
  while (masked > 0 && !ended) {
    // prefix states: the bytes revealed since the last pass that extend the block's filled prefix, through the encoder
    // (causal: each reads only the committed text and the prefix before it, all of it final)
    if (prefixStates) {
      let p = encoded;
      while (p < (g ? f : B) && ids[p] !== MASK) p++;
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
    if (g) pick[f] = 1; // f < B: a masked byte remains, and every byte before f is filled
    for (let k = 0; k < B; k++) {
      if (!pick[k] || ids[k] !== MASK) continue;
      if (g && k === f) {
        if (!drawAtFrontier(logits)) break;
        advance(logits);
        if (ended) break;
        continue;
      }
      const dist = c.sampler.distribution(logits, drafts.subarray(k * 256, (k + 1) * 256), rowOf[k] * 256);
      ids[k] = c.sampler.greedy ? dist.indexOf(1) : c.sampler.draw(dist);
      lp?.noteBlock(k, logits, rowOf[k] * 256, ids[k]);
      masked--;
    }
  }
  if (g) g.blockLen = ended ? f : B;
  return g ? Math.min(encoded, f) : encoded;
}
