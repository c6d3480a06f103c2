// Verify and accept (docs/design.md §3, BLT-S and BLT-DV): one full forward over the drafted bytes gives the
// model's own prediction at every draft position; accept the longest agreeing prefix, then the model's byte at
// the first disagreement. Greedy: agreement is equality with the argmax, so the output is AR's exactly.
// Sampling: the speculative-sampling rule (accept d with probability min(1, p(d)/q(d)), else draw from
// norm(max(0, p − q))), so the output is distributed as AR sampling.
// Under a constraint (guide.ts) p and the argmax are AR's constrained ones, at the automaton's state after the
// draft's earlier bytes; ending the output is one more outcome (END_OUTPUT), so the rule stays exact.
import type { ModeContext } from "./context.ts";
import { END_OUTPUT } from "./guide.ts";
import { argmax } from "./sampler.ts";

/**
 * scratch.ids[0..k) hold draft bytes for positions n0..n0+k−1 (n0 = the sequence end), scratch.drafts their draft
 * distributions (k × 256; under a constraint, guide.draftEnd their END_OUTPUT probabilities). firstIsExact: the
 * first draft byte was drawn from the model's own prediction (BLT-S). Positions below encodedUpTo already have their
 * encoder states, and `drafted` says which decoder rows BLT-S's drafting ran (Sequence.appendClean).
 * endDrafted (BLT-S under a constraint): the draft drew the end of the output after its k bytes (at position k, from
 * the distribution in drafts row k and guide.draftEnd[k]); once the k bytes are accepted the end is verified as one
 * more drafted outcome, so the rule (and AR's distribution) holds with ending as the 257th outcome.
 * Returns the committed bytes (a view into scratch.out); the sequence ends right after them.
 */
export async function verifyAndAccept(c: ModeContext, k: number, firstIsExact: boolean, encodedUpTo = 0,
                                      drafted?: { upTo: number; read: number }, endDrafted = false): Promise<Uint8Array> {
  const seq = c.seq, n0 = seq.n, { ids, drafts: q, p, residual, out, tok } = c.scratch, g = c.guide;
  const drafts = ids.subarray(0, k);
  // verify: the drafted bytes through the whole model, as AR would process them
  await seq.appendClean(drafts, encodedUpTo, true, drafted);
  for (let j = 0; j < k; j++) out[j] = drafts[j];
  const st = g?.states;
  if (g) st![0] = g.state;
  const done = (len: number): Uint8Array => {
    if (c.lp) for (let j = 0; j < len; j++) c.lp.note(seq.logitsOf(n0 + j - 1), 0, out[j]);
    if (g) g.commit(out, len);
    return out.subarray(0, len);
  };
  // accept (position k: the drafted end, when there is one)
  for (let i = 0; i < k + (endDrafted ? 1 : 0); i++) {
    const d = i < k ? drafts[i] : END_OUTPUT;
    if (i === 0 && firstIsExact) { if (g) st![1] = st![0]!.advance(d); continue; }
    const row = seq.logitsOf(n0 + i - 1), qi = q.subarray(i * 256, (i + 1) * 256);
    const here = g ? st![i] : null;
    let ok: boolean, pEnd = 0;
    if (c.sampler.greedy) ok = (g ? g.greedy(row, here!) : argmax(row)) === d;
    else {
      if (g) { g.distribution(c.sampler, row, here!, p); pEnd = g.endMass; } else c.sampler.distribution(row, p);
      ok = d === END_OUTPUT ? c.sampler.rng.next() < Math.min(1, pEnd / Math.max(g!.draftEnd[i], 1e-30))
        : c.sampler.rng.next() < Math.min(1, p[d] / Math.max(qi[d], 1e-30));
    }
    if (ok && d === END_OUTPUT) { g!.finished = true; return done(k); }
    if (ok) {
      c.counters.acceptedBytes++;
      if (g) st![i + 1] = here!.advance(d);
      continue;
    }
    // the first disagreement: the model's own byte replaces the draft from here on
    let fix: number;
    if (c.sampler.greedy) fix = g ? g.greedy(row, here!) : argmax(row);
    else {
      const qEnd = g ? g.draftEnd[i] : 0;
      let z = 0;
      for (let v = 0; v < 256; v++) { residual[v] = Math.max(0, p[v] - qi[v]); z += residual[v]; }
      const rEnd = Math.max(0, pEnd - qEnd);
      z += rEnd;
      if (z > 0) {
        for (let v = 0; v < 256; v++) residual[v] /= z;
        fix = g ? g.draw(c.sampler, residual, rEnd / z) : c.sampler.draw(residual);
      } else fix = g ? g.draw(c.sampler, p, pEnd) : c.sampler.draw(p);
    }
    seq.truncate(n0 + i); // (past the drafted bytes, at the drafted end, nothing is cut)
    if (fix === END_OUTPUT) { g!.finished = true; return done(i); }
    tok[0] = fix;
    await seq.appendClean(tok);
    out[i] = fix;
    return done(i + 1);
  }
  return done(k);
}
