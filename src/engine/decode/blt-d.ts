// BLT-D (docs/design.md §3): the encoder and the global model run once per block; the block is filled by a few
// parallel decoder passes (denoise.ts) and committed, re-patched by the entropy model (Algorithm 1).
import type { ModeContext, ModeGenerator } from "./context.ts";
import { fillBlock } from "./denoise.ts";

export async function* decodeBltD(c: ModeContext): ModeGenerator {
  const { blockSize, threshold, entropyBound, maxStepsPerBlock } = c.knobs, s = c.scratch;
  while (c.budget() > 0) {
    const B = blockSize;
    // close the open patch: one pooling step + one global step give the latent the block reads
    const q = c.seq.closePatch();
    // fill the block by diffusion (its filled prefix from byte states, or the paper's token inputs: blockPrefix)
    const encoded = await fillBlock(c, q, B, threshold, entropyBound, Math.min(maxStepsPerBlock, B));
    // commit it (Algorithm 1: re-patched by one batched entropy pass, the last patch forced to end here), one
    // encoder pass (over the bytes not encoded while filling); its decoder rows ride in the next block's first pass
    // (under a constraint the block may end early, where the output ends: denoise.ts)
    const g = c.guide, len = g ? g.blockLen : B;
    const bytes = s.ids.subarray(0, len);
    if (len > 0) await c.seq.appendBlock(bytes, c.knobs.blockCommit ?? "entropy", Math.min(encoded, len));
    for (let k = 0; k < len; k++) s.out[k] = bytes[k];
    c.lp?.commitBlock(len);
    if (g) { g.commit(bytes, len); if (len < B) g.finished = true; }
    yield s.out.subarray(0, len);
  }
}
