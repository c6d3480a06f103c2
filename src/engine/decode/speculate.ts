// Verify and accept (docs/design.md §3, BLT-S and BLT-DV): one full forward over the drafted bytes gives the
// model's own prediction at every draft position; accept the longest agreeing prefix, then the model's byte at
// the first disagreement. Greedy: agreement is equality with the argmax, so the output is AR's exactly.
// Sampling: the speculative-sampling rule (accept d with probability min(1, p(d)/q(d)), else draw from
// norm(max(0, p − q))), so the output is distributed as AR sampling.
import type { ModeContext } from "./context.ts";
import { argmax } from "./sampler.ts";

/**
 * scratch.ids[0..k) hold draft bytes for positions n0..n0+k−1 (n0 = the sequence end), scratch.drafts their draft
 * distributions (k × 256). firstIsExact: the first draft byte was drawn from the model's own prediction (BLT-S).
 * Positions below encodedUpTo already have their encoder states, and `drafted` says which decoder rows BLT-S's
 * drafting ran (Sequence.appendClean).
 * Returns the committed bytes (a view into scratch.out); the sequence ends right after them.
 */
export async function verifyAndAccept(c: ModeContext, k: number, firstIsExact: boolean, encodedUpTo = 0,
                                      drafted?: { upTo: number; read: number }): Promise<Uint8Array> {
  const seq = c.seq, n0 = seq.n, { ids, drafts: q, p, residual, out, tok } = c.scratch;
  const drafts = ids.subarray(0, k);
  // verify: the drafted bytes through the whole model, as AR would process them
  await seq.appendClean(drafts, encodedUpTo, true, drafted);
  for (let j = 0; j < k; j++) out[j] = drafts[j];
  // accept
  for (let i = 0; i < k; i++) {
    if (i === 0 && firstIsExact) continue;
    const row = seq.logitsOf(n0 + i - 1);
    const d = drafts[i], qi = q.subarray(i * 256, (i + 1) * 256);
    let ok: boolean;
    if (c.sampler.greedy) ok = argmax(row) === d;
    else {
      c.sampler.distribution(row, p);
      ok = c.sampler.rng.next() < Math.min(1, p[d] / Math.max(qi[d], 1e-30));
    }
    if (ok) { c.counters.acceptedBytes++; continue; }
    // the first disagreement: the model's own byte replaces the draft from here on
    let fix: number;
    if (c.sampler.greedy) fix = argmax(row);
    else {
      let z = 0;
      for (let v = 0; v < 256; v++) { residual[v] = Math.max(0, p[v] - qi[v]); z += residual[v]; }
      if (z > 0) { for (let v = 0; v < 256; v++) residual[v] /= z; fix = c.sampler.draw(residual); }
      else fix = c.sampler.draw(p);
    }
    seq.truncate(n0 + i);
    tok[0] = fix;
    await seq.appendClean(tok);
    out[i] = fix;
    return out.subarray(0, i + 1);
  }
  return out.subarray(0, k);
}
