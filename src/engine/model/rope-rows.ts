// RoPE cos/sin rows computed the way PyTorch does (f32 frequencies and angles), kept in a small ring so that
// positions can keep counting past any fixed table (generation past the training window).
import type { Ptr } from "../../kernels/arena.ts";
import type { Kernels } from "../../kernels/kernels.ts";

/**
 * RoPE cos/sin rows, computed the way PyTorch does (f32 frequencies and angles), in a ring: position p lives at row
 * p mod rows, computed once while it stays there, so positions keep counting past any fixed table. fill() points
 * the shared `pos` buffer (ropeF32's positions) at the rows of one call's positions.
 */
export class RopeRows {
  readonly ptr: Ptr;
  private readonly t: Float32Array;
  private readonly held: Int32Array;
  private readonly freq: number[];
  private readonly half: number;

  constructor(private readonly K: Kernels, private readonly rows: number, private readonly headDim: number, base: number,
              private readonly pos: Ptr, private readonly posV: Int32Array) {
    const f = Math.fround;
    this.half = headDim / 2;
    this.ptr = K.arena.allocF32(rows * headDim);
    this.t = K.arena.f32(this.ptr, rows * headDim);
    this.held = new Int32Array(rows).fill(-1);
    this.freq = Array.from({ length: this.half }, (_, i) => i).map((i) => f(1 / f(Math.pow(base, f((2 * i) / headDim)))));
  }

  /** Points pos[0..m) at the rows of positions pos0..pos0+m−1, computing the rows not held. */
  fill(pos0: number, m: number): void {
    const { t, freq, half, headDim, rows, held } = this;
    if (m > rows / 2) throw new RangeError(`${m} rows exceed ${rows / 2}`);
    let lo = rows, hi = -1;
    for (let i = 0; i < m; i++) {
      const p = pos0 + i, r = p % rows;
      this.posV[i] = r;
      if (held[r] === p) continue;
      held[r] = p;
      lo = Math.min(lo, r); hi = Math.max(hi, r);
      for (let j = 0; j < half; j++) {
        const a = Math.fround(p * freq[j]);
        t[r * headDim + j] = Math.cos(a);
        t[r * headDim + half + j] = Math.sin(a);
      }
    }
    if (hi >= lo) this.K.upload?.(this.ptr + lo * headDim * 4, (hi - lo + 1) * headDim * 4);
    this.K.upload?.(this.pos, m * 4);
  }
}
