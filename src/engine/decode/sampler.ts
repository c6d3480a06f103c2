// Turning logits into bytes: greedy, or seeded sampling with temperature, top-k and top-p. The sampler owns
// its scratch, allocated once per request.
import type { Sampling } from "../../protocol.ts";

const V = 256;

/** A seeded PRNG (mulberry32): the same seed gives the same stream on every runtime. */
export class Rng {
  private s: number;
  constructor(seed: number) { this.s = seed >>> 0; }
  /** Uniform in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

export function argmax(logits: ArrayLike<number>, offset = 0): number {
  let best = 0, bv = -Infinity;
  for (let i = 0; i < V; i++) if (logits[offset + i] > bv) { bv = logits[offset + i]; best = i; }
  return best;
}

export class Sampler {
  readonly rng: Rng;
  private readonly order = new Uint16Array(V);
  private sorting: Float32Array = new Float32Array(V);
  private readonly byProbability = (a: number, b: number) => this.sorting[b] - this.sorting[a] || a - b;

  constructor(readonly params: Sampling) { this.rng = new Rng(params.seed); }

  get greedy(): boolean { return this.params.temperature <= 0; }

  /** out(256) ← the distribution this request samples from (one-hot at the argmax when greedy). */
  distribution(logits: ArrayLike<number>, out: Float32Array, offset = 0): Float32Array {
    out.fill(0);
    if (this.greedy) { out[argmax(logits, offset)] = 1; return out; }
    const t = this.params.temperature;
    let mx = -Infinity;
    for (let i = 0; i < V; i++) mx = Math.max(mx, logits[offset + i]);
    let z = 0;
    for (let i = 0; i < V; i++) { out[i] = Math.exp((logits[offset + i] - mx) / t); z += out[i]; }
    for (let i = 0; i < V; i++) out[i] /= z;
    const { topK, topP } = this.params;
    if ((topK > 0 && topK < V) || topP < 1) {
      for (let i = 0; i < V; i++) this.order[i] = i;
      this.sorting = out;
      this.order.sort(this.byProbability);
      let keep = topK > 0 ? Math.min(topK, V) : V, mass = 0;
      for (let r = 0; r < keep; r++) {
        mass += out[this.order[r]];
        if (mass >= topP) { keep = r + 1; break; }
      }
      let kept = 0;
      for (let r = 0; r < V; r++) { if (r >= keep) out[this.order[r]] = 0; else kept += out[this.order[r]]; }
      for (let i = 0; i < V; i++) out[i] /= kept;
    }
    return out;
  }

  /** Draws a byte from a distribution. */
  draw(p: ArrayLike<number>): number {
    let u = this.rng.next(), last = 0;
    for (let i = 0; i < V; i++) {
      if (p[i] <= 0) continue;
      last = i;
      u -= p[i];
      if (u < 0) return i;
    }
    return last;
  }

  /** Greedy: the argmax; else a draw from distribution(logits). */
  pick(logits: ArrayLike<number>, scratch: Float32Array, offset = 0): number {
    return this.greedy ? argmax(logits, offset) : this.draw(this.distribution(logits, scratch, offset));
  }
}
