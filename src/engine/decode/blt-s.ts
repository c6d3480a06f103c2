// BLT-S, self-speculation (fast-blt.md §3): where AR would stop at a patch boundary to run the global model,
// the decoder keeps drafting k bytes on the last latent it has; one full forward verifies them.
import type { ModeContext, ModeGenerator } from "./context.ts";
import { decodeArStep } from "./ar-step.ts";
import { verifyAndAccept } from "./speculate.ts";

export function* decodeBltS(c: ModeContext): ModeGenerator {
  const seq = c.seq, m = seq.model;
  const scratch = new Float32Array(256), tok = new Int32Array(1);
  while (c.budget() > 0 && seq.room > 0) {
    const k = Math.min(c.knobs.draftLength, c.budget(), seq.room);
    if (k < 2 || !seq.nextStartsPatch()) { yield decodeArStep(c, scratch); continue; }
    // draft: byte 0 is AR's own; bytes 1..k−1 come from the decoder alone, reading the stale latents
    const n0 = seq.n, open = seq.starts.length - 1;
    const drafts = new Int32Array(k), q = new Float32Array(k * 256);
    drafts[0] = c.sampler.greedy ? c.sampler.pick(seq.nextLogits, scratch) : c.sampler.draw(c.sampler.distribution(seq.nextLogits, q.subarray(0, 256)));
    for (let i = 1; i < k; i++) {
      const pos = n0 + i - 1;
      tok[0] = drafts[i - 1];
      m.setTokens(pos, tok);
      m.encoderForward(pos, 1);
      m.decoderForward(pos, 1, [open]);
      const logits = m.K.arena.f32(m.logits, 256);
      const qi = c.sampler.distribution(logits, q.subarray(i * 256, (i + 1) * 256));
      drafts[i] = c.sampler.greedy ? qi.indexOf(1) : c.sampler.draw(qi);
    }
    c.counters.draftedBytes += k - 1;
    // verify with one full forward, accept the agreeing prefix
    yield verifyAndAccept(c, drafts, q, true);
  }
}
