// Constrained decoding (docs/engine.md, "Constrained decoding"): the byte automaton of a response format
// (src/constrain) applied to the model's next-byte distributions. Every mode picks a byte through `pick` or draws
// from `distribution`, so a lossless mode under a constraint stays lossless: greedy BLT-S and BLT-DV choose exactly
// the bytes greedy AR chooses, sampled ones keep AR's distribution.
//
// The output may end only where the automaton accepts. Ending is one more outcome beside the 256 bytes: its
// probability is the mass of the bytes the automaton rejects there (so a model that "wants" to write something
// the format does not allow ends instead, and a complete JSON object, after which nothing is allowed, ends at once).
// Where the automaton does not accept, the rejected bytes' mass is dropped and the allowed bytes renormalised.
import { type MatchState, Matcher, type Program } from "../../constrain/index.ts";
import { argmax, type Sampler } from "./sampler.ts";
import { MAX_BLOCK } from "./context.ts";

/** The outcome "the output ends here". */
export const END_OUTPUT = -1;

export class Guide {
  readonly matcher: Matcher;
  /** The state after the committed bytes. */
  state: MatchState;
  /** The output ended where the automaton allowed it (an END_OUTPUT outcome, or nothing more allowed). */
  finished = false;
  /** The automaton's state before each byte of a block or draft (states[0]: at its start). */
  readonly states: (MatchState | null)[] = new Array(MAX_BLOCK + 2).fill(null);
  /** The END_OUTPUT probability of each draft position (its byte probabilities are in scratch.drafts). */
  readonly draftEnd = new Float32Array(MAX_BLOCK + 1);
  /** Bytes committed so far. */
  count = 0;
  /** How many bytes the last block filled by denoise.ts holds (fewer than B where the output ends inside it). */
  blockLen = 0;
  /** distribution()'s END_OUTPUT probability. */
  endMass = 0;

  constructor(program: Program) {
    this.matcher = new Matcher(program);
    this.state = this.matcher.start;
  }

  /** Commits bytes (each allowed): the state moves past them. */
  commit(bytes: ArrayLike<number>, len = bytes.length): void {
    for (let i = 0; i < len; i++) this.state = this.state.advance(bytes[i])!;
    this.count += len;
  }

  /** Commits one byte (allowed). */
  commitByte(b: number): void {
    this.state = this.state.advance(b)!;
    this.count++;
  }

  /** The greedy outcome at `st`: the allowed byte with the highest logit, or END_OUTPUT (see the header). */
  greedy(logits: ArrayLike<number>, st: MatchState, offset = 0): number {
    const mask = st.mask;
    let best = -1, bv = -Infinity;
    for (let b = 0; b < 256; b++) {
      if (!(mask[b >>> 5] & (1 << (b & 31)))) continue;
      const v = logits[offset + b];
      if (v > bv) { bv = v; best = b; }
    }
    if (!st.accepting) return best < 0 ? END_OUTPUT : best; // a dead state (a work bound hit) ends the output
    if (best < 0) return END_OUTPUT;
    // the softmax mass of the rejected bytes against the best allowed byte's probability
    let mx = -Infinity;
    for (let b = 0; b < 256; b++) mx = Math.max(mx, logits[offset + b]);
    let z = 0, rejected = 0;
    for (let b = 0; b < 256; b++) {
      const e = Math.exp(logits[offset + b] - mx);
      z += e;
      if (!(mask[b >>> 5] & (1 << (b & 31)))) rejected += e;
    }
    return rejected > Math.exp(bv - mx) ? END_OUTPUT : best;
  }

  /**
   * out(256) ← the request's sampling distribution at `st` over bytes, `endMass` ← its END_OUTPUT probability
   * (together they sum to 1). Greedy: one-hot at greedy()'s outcome. `withEnd` false: END_OUTPUT is not an outcome
   * (BLT-D's and BLT-DV's drafts past the first byte: any distribution serves as a draft).
   */
  distribution(sampler: Sampler, logits: ArrayLike<number>, st: MatchState, out: Float32Array, offset = 0, withEnd = true): Float32Array {
    const mask = st.mask;
    if (sampler.greedy) {
      out.fill(0);
      let g = this.greedy(logits, st, offset);
      if (g === END_OUTPUT && !withEnd) g = this.bestAllowed(logits, st, offset);
      this.endMass = g === END_OUTPUT ? 1 : 0;
      if (g !== END_OUTPUT) out[g] = 1;
      return out;
    }
    sampler.distribution(logits, out, offset);
    let allowed = 0, rejected = 0;
    for (let b = 0; b < 256; b++) {
      if (mask[b >>> 5] & (1 << (b & 31))) allowed += out[b];
      else { rejected += out[b]; out[b] = 0; }
    }
    let end = st.accepting && withEnd ? rejected : 0;
    let z = allowed + end;
    if (!(z > 0)) {
      // top-k / top-p left no allowed byte: the allowed byte with the highest logit (or the end, when none is allowed)
      const b = this.bestAllowed(logits, st, offset);
      if (b < 0) { end = 1; z = 1; } else { out[b] = 1; z = 1; }
    }
    for (let b = 0; b < 256; b++) out[b] /= z;
    this.endMass = end / z;
    return out;
  }

  /** A draw from distribution(): a byte or END_OUTPUT. */
  draw(sampler: Sampler, p: Float32Array, endMass: number): number {
    if (sampler.greedy) { const b = argmax(p); return p[b] > 0 ? b : END_OUTPUT; }
    let u = sampler.rng.next(), last = END_OUTPUT;
    for (let b = 0; b < 256; b++) {
      if (p[b] <= 0) continue;
      last = b;
      u -= p[b];
      if (u < 0) return b;
    }
    return endMass > 0 ? END_OUTPUT : last;
  }

  /** One outcome at `st`, as AR picks it: greedy(), or a draw from distribution(). */
  pick(sampler: Sampler, logits: ArrayLike<number>, st: MatchState, scratch: Float32Array, offset = 0, withEnd = true): number {
    if (sampler.greedy) {
      const g = this.greedy(logits, st, offset);
      return g === END_OUTPUT && !withEnd ? this.bestAllowed(logits, st, offset) : g;
    }
    const p = this.distribution(sampler, logits, st, scratch, offset, withEnd);
    return this.draw(sampler, p, this.endMass);
  }

  private bestAllowed(logits: ArrayLike<number>, st: MatchState, offset: number): number {
    const mask = st.mask;
    let best = -1, bv = -Infinity;
    for (let b = 0; b < 256; b++) if (mask[b >>> 5] & (1 << (b & 31)) && logits[offset + b] > bv) { bv = logits[offset + b]; best = b; }
    return best;
  }
}
