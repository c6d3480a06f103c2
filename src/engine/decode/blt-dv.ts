// BLT-DV (docs/design.md §3): at a patch boundary, BLT-D drafts a block by diffusion; one full forward with the
// causal (AR) path verifies it and the agreeing prefix is kept. Greedy output equals greedy AR.
import type { ModeContext, ModeGenerator } from "./context.ts";
import { decodeArStep } from "./ar-step.ts";
import { fillBlock } from "./denoise.ts";
import { verifyAndAccept } from "./speculate.ts";

export async function* decodeBltDv(c: ModeContext): ModeGenerator {
  const seq = c.seq, { blockSize, threshold, entropyBound, maxStepsPerBlock } = c.knobs;
  while (c.budget() > 0) {
    const B = Math.min(blockSize, c.budget());
    const steps = Math.min(maxStepsPerBlock, B);
    // a draft is made only where its worst case fits the work budget
    if (B < 2 || !seq.nextStartsPatch() || !c.work.takeBlockDraft(B, steps)) { yield await decodeArStep(c); continue; }
    // byte 0 is AR's own: the row before the block predicts it already (drawn as AR draws it, so it is exact)
    const first = c.sampler.pick(seq.nextLogits, c.scratch.dist);
    // AR would close the patch here too: its latent is what the block reads
    const q = seq.closePatch();
    // draft bytes 1..B−1 by diffusion, given byte 0 (prefix states by default: better drafts, the output AR's)
    const encoded = await fillBlock(c, q, B, threshold, entropyBound, steps, first);
    c.counters.draftedBytes += B - 1;
    // verify with the AR path, accept the agreeing prefix (the prefix encoded while drafting is not encoded again)
    yield await verifyAndAccept(c, B, true, seq.n + encoded);
  }
}
