// BLT-DV (docs/design.md §3): at a patch boundary, BLT-D drafts a block by diffusion; one full forward with the
// causal (AR) path verifies it and the agreeing prefix is kept. Greedy output equals greedy AR.
import type { ModeContext, ModeGenerator } from "./context.ts";
import { decodeArStep } from "./ar-step.ts";
import { fillBlock } from "./denoise.ts";
import { END_OUTPUT } from "./guide.ts";
import { verifyAndAccept } from "./speculate.ts";

export async function* decodeBltDv(c: ModeContext): ModeGenerator {
  const seq = c.seq, { blockSize, threshold, entropyBound, maxStepsPerBlock } = c.knobs;
  while (c.budget() > 0) {
    const B = Math.min(blockSize, c.budget());
    const steps = Math.min(maxStepsPerBlock, B);
    // a draft is made only where its worst case fits the work budget (under a constraint a block may take B passes:
    // each accepts at least one byte, denoise.ts)
    if (B < 2 || !seq.nextStartsPatch() || !c.work.takeBlockDraft(B, c.guide ? B : steps)) { yield await decodeArStep(c); continue; }
    // byte 0 is AR's own: the row before the block predicts it already (drawn as AR draws it, so it is exact)
    const g = c.guide;
    const first = g ? g.pick(c.sampler, seq.nextLogits, g.state, c.scratch.dist) : c.sampler.pick(seq.nextLogits, c.scratch.dist);
    if (first === END_OUTPUT) { g!.finished = true; return; }
    // AR would close the patch here too: its latent is what the block reads
    const q = seq.closePatch();
    // draft bytes 1..B−1 by diffusion, given byte 0 (prefix states by default: better drafts, the output AR's)
    const encoded = await fillBlock(c, q, B, threshold, entropyBound, steps, first);
    // (under a constraint a draft stops where no byte is allowed: guide.blockLen)
    const k = g ? Math.max(1, g.blockLen) : B;
    c.counters.draftedBytes += k - 1;
    // verify with the AR path, accept the agreeing prefix (the prefix encoded while drafting is not encoded again)
    yield await verifyAndAccept(c, k, true, seq.n + Math.min(encoded, k));
  }
}
