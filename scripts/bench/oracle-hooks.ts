// Oracle drafts for BLT-S (scripts/bench/oracle-drafts.ts, and the same inside workerd): while a sequence is set,
// every greedy draft distribution is one-hot at that sequence's byte for the position being drafted, so every draft
// is accepted and a run pays exactly BLT-S's work with perfect drafts. A benchmark aid: it patches the sampler for
// the whole process (Node or the workerd isolate) and the model it is given.
import { Sampler } from "../../src/engine/decode/sampler.ts";

export function installOracle(model: object): { use(sequence: Uint8Array | null): void } {
  const m = model as { setTokens(pos: number, ids: ArrayLike<number>): void };
  let oracle: Uint8Array | null = null, lastPos = -1;
  // BLT-S drafts byte pos+1 right after setTokens(pos, …) and the decoder row at pos
  const setTokens = m.setTokens;
  m.setTokens = (pos, ids) => { lastPos = pos + ids.length - 1; return setTokens.call(m, pos, ids); };
  const distribution = Sampler.prototype.distribution;
  Sampler.prototype.distribution = function (this: Sampler, logits, out, offset = 0) {
    distribution.call(this, logits, out, offset); // the draft's own argmax work, as BLT-S does it
    if (oracle && this.greedy) { out.fill(0); out[oracle[lastPos + 1]] = 1; }
    return out;
  };
  return { use: (sequence) => { oracle = sequence; } };
}
