// Runs the same op on the reference kernels and a fast implementation over identical arenas, so a test
// writes its inputs once and compares outputs pointer for pointer.
import { Arena, type Ptr } from "../../src/kernels/arena.ts";
import type { Kernels } from "../../src/kernels/kernels.ts";
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

  f32(data: ArrayLike<number>): Ptr {
    const p = this.fast.arena.allocF32(data.length);
    if (this.ref.arena.allocF32(data.length) !== p) throw new Error("twin arenas diverged");
    this.fast.arena.f32(p, data.length).set(data);
    this.ref.arena.f32(p, data.length).set(data);
    return p;
  }
  i32(data: ArrayLike<number>): Ptr {
    const p = this.fast.arena.allocI32(data.length);
    if (this.ref.arena.allocI32(data.length) !== p) throw new Error("twin arenas diverged");
    this.fast.arena.i32(p, data.length).set(data);
    this.ref.arena.i32(p, data.length).set(data);
    return p;
  }
  i8(data: ArrayLike<number>): Ptr {
    const p = this.fast.arena.alloc(data.length);
    if (this.ref.arena.alloc(data.length) !== p) throw new Error("twin arenas diverged");
    this.fast.arena.i8(p, data.length).set(data);
    this.ref.arena.i8(p, data.length).set(data);
    return p;
  }
  zeros(n: number): Ptr { return this.f32(new Float32Array(n)); }

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
