// Runs the same op on the reference kernels and a fast implementation over identical arenas, so a test
// writes its inputs once and compares outputs pointer for pointer.
import { fillBlockRanges, fillCausalRanges, fillFixedRanges } from "../../src/kernels/attention-ranges.ts";
import { Arena, type Ptr } from "../../src/kernels/arena.ts";
import { writeQ8RowSums, type Kernels } from "../../src/kernels/kernels.ts";
import { RefKernels } from "../../src/kernels/ref/ref-kernels.ts";

export class TwinKernels {
  readonly ref: RefKernels;
  private readonly start: number;

  constructor(readonly fast: Kernels) {
    this.start = fast.arena.usedBytes;
    this.ref = new RefKernels(new Arena(new ArrayBuffer(fast.arena.capacityBytes), this.start));
  }

  /** Frees everything allocated since construction (both arenas start over at the same offset). */
  reset(): void {
    this.fast.arena.release(this.start);
    this.ref.arena.release(this.start);
  }

  /** Allocates the same bytes in both arenas and writes data there through the typed view `view`. */
  private twin(bytes: number, data: ArrayLike<number>, view: (a: Arena, p: Ptr, n: number) => { set(d: ArrayLike<number>): void }): Ptr {
    const p = this.fast.arena.alloc(bytes);
    if (this.ref.arena.alloc(bytes) !== p) throw new Error("twin arenas diverged");
    view(this.fast.arena, p, data.length).set(data);
    view(this.ref.arena, p, data.length).set(data);
    return p;
  }
  f32(data: ArrayLike<number>): Ptr { return this.twin(data.length * 4, data, (a, p, n) => a.f32(p, n)); }
  i32(data: ArrayLike<number>): Ptr { return this.twin(data.length * 4, data, (a, p, n) => a.i32(p, n)); }
  i8(data: ArrayLike<number>): Ptr { return this.twin(data.length, data, (a, p, n) => a.i8(p, n)); }
  zeros(n: number): Ptr { return this.f32(new Float32Array(n)); }
  /** matmulQ8's scale argument for the int8 rows at w (k each): the scales, then the row sums, in both arenas. */
  q8Scales(scales: ArrayLike<number>, w: Ptr, k: number): Ptr {
    const n = scales.length, p = this.zeros(2 * n);
    for (const a of [this.fast.arena, this.ref.arena]) {
      a.f32(p, n).set(scales);
      writeQ8RowSums(a.buffer, w, p, k, n);
    }
    return p;
  }

  run(op: (k: Kernels) => void): void { op(this.fast); op(this.ref); }

  /** The n floats at ptr from the fast and the reference implementation. */
  read(ptr: Ptr, n: number): { fast: Float32Array; ref: Float32Array } {
    return { fast: this.fast.arena.f32(ptr, n).slice(), ref: this.ref.arena.f32(ptr, n).slice() };
  }
}

/** Deterministic xorshift32 PRNG. */
export function rng(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };
  return {
    next,
    normal(): number { return Math.sqrt(-2 * Math.log(next() + 1e-12)) * Math.cos(2 * Math.PI * next()); },
    int(lo: number, hi: number): number { return lo + Math.floor(next() * (hi - lo)); },
    normals(n: number, scale = 1): Float32Array { return Float32Array.from({ length: n }, () => this.normal() * scale); },
  };
}

/** Largest |fast − ref| / (atol + rtol·|ref|); ≤ 1 means within tolerance. */
export function worstError(fast: ArrayLike<number>, ref: ArrayLike<number>, atol: number, rtol: number): number {
  if (fast.length !== ref.length) throw new Error(`length ${fast.length} ≠ ${ref.length}`);
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    const diff = Math.abs(fast[i] - ref[i]);
    const e = diff === 0 ? 0 : diff / (atol + rtol * Math.abs(ref[i]));
    if (!(e <= worst)) worst = Number.isNaN(e) ? Infinity : e;
  }
  return worst;
}

/** A plain RoPE cos/sin table (maxPos, headDim), base 10000, for kernel tests. */
export function ropeTable(maxPos: number, headDim: number): Float32Array {
  const half = headDim >> 1, out = new Float32Array(maxPos * headDim);
  for (let p = 0; p < maxPos; p++) {
    for (let i = 0; i < half; i++) {
      const a = p * Math.pow(10000, (-2 * i) / headDim);
      out[p * headDim + i] = Math.cos(a);
      out[p * headDim + half + i] = Math.sin(a);
    }
  }
  return out;
}

/**
 * Every mask BLT uses, as [name, query rows, fill(lo, hi)], over a cache of nKeys keys whose queries end at the
 * last key; windows and the cross range widen once nKeys passes 100 so long ranges are exercised too.
 */
export function attentionMasks(nKeys: number): Array<[string, number, (lo: Int32Array, hi: Int32Array) => void]> {
  const e = nKeys - 9, long = nKeys > 100;
  return [
    ["causal", 9, (lo, hi) => fillCausalRanges(lo, hi, e, 9)],
    ["windowed", 9, (lo, hi) => fillCausalRanges(lo, hi, e, 9, long ? 70 : 4)],
    ["block", 8, (lo, hi) => fillBlockRanges(lo, hi, e + 1, 8)],
    ["block-windowed", 8, (lo, hi) => fillBlockRanges(lo, hi, e + 1, 8, long ? 130 : 6)],
    ["cross", 5, (lo, hi) => fillFixedRanges(lo, hi, 5, 0, long ? 129 : 7)],
    ["pool", 1, (lo, hi) => fillFixedRanges(lo, hi, 1, 11, 14)],
    ["empty", 2, (lo, hi) => fillFixedRanges(lo, hi, 2, 3, 3)],
  ];
}
