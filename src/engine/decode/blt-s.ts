// BLT-S, self-speculation (docs/design.md §3): where AR would stop at a patch boundary to run the global model,
// the decoder keeps drafting k bytes on the last latent it has; one full forward verifies them.
import type { ModeContext, ModeGenerator } from "./context.ts";
import { decodeArStep } from "./ar-step.ts";
import { END_OUTPUT } from "./guide.ts";
import { verifyAndAccept } from "./speculate.ts";

export async function* decodeBltS(c: ModeContext): ModeGenerator {
  const seq = c.seq, m = seq.model, { ids, drafts, tok } = c.scratch, g = c.guide;
  const open = new Int32Array(1); // the read index of every drafted row
  while (c.budget() > 0) {
    let k = Math.min(c.knobs.draftLength, c.budget());
    // a draft is made only where its worst case fits the work budget
    if (k < 2 || !seq.nextStartsPatch() || !c.work.takeDraft(k)) { yield await decodeArStep(c); continue; }
    // draft: byte 0 is AR's own; bytes 1..k−1 come from the decoder alone, reading the latent AR's rows of this
    // patch read (past the next patch boundary it is stale: verification catches it)
    const n0 = seq.n;
    open[0] = seq.draftRead();
    // (under a constraint: each byte drawn at the automaton's state after the ones before; a draft that draws the
    // end of the output stops there, and the end is verified as a drafted outcome of its own)
    ids[0] = g ? g.pick(c.sampler, seq.nextLogits, g.state, drafts.subarray(0, 256)) : c.sampler.pick(seq.nextLogits, drafts.subarray(0, 256));
    if (ids[0] === END_OUTPUT) { g!.finished = true; return; }
    let st = g?.state.advance(ids[0]), endDrafted = false;
    for (let i = 1; i < k; i++) {
      const pos = n0 + i - 1;
      tok[0] = ids[i - 1];
      m.setTokens(pos, tok);
      m.encoderForward(pos, 1);
      m.decoderForward(pos, 1, open);
      const row = await m.readLogits(1);
      seq.setDraftLogits(pos, row);
      if (g) {
        const qi = g.distribution(c.sampler, row, st!, drafts.subarray(i * 256, (i + 1) * 256));
        g.draftEnd[i] = g.endMass;
        const d = g.draw(c.sampler, qi, g.endMass);
        if (d === END_OUTPUT) { k = i; endDrafted = true; break; }
        ids[i] = d;
        st = st!.advance(d)!;
        continue;
      }
      const qi = c.sampler.distribution(row, drafts.subarray(i * 256, (i + 1) * 256));
      ids[i] = c.sampler.greedy ? qi.indexOf(1) : c.sampler.draw(qi);
    }
    c.counters.draftedBytes += k - 1;
    // verify with one full forward, accept the agreeing prefix (the drafted bytes but the last already went
    // through the encoder, whose states do not depend on latents; and through the decoder: rows that read the
    // draft's latent in verification too are not run again)
    yield await verifyAndAccept(c, k, true, n0 + k - 1, { upTo: n0 + k - 1, read: open[0] }, endDrafted);
  }
}
