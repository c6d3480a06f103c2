// RoPE cos/sin tables, computed once at load the way PyTorch does (f32 frequencies and angles).
import type { Ptr } from "../../kernels/arena.ts";
import type { Kernels } from "../../kernels/kernels.ts";

const f = Math.fround;

/** Allocates and fills cosSin(maxPos, headDim): cos(p·θ_i) in the first half of each row, sin in the second. */
export function ropeTable(K: Kernels, maxPos: number, headDim: number, base: number): Ptr {
  const half = headDim / 2;
  const ptr = K.arena.allocF32(maxPos * headDim);
  const t = K.arena.f32(ptr, maxPos * headDim);
  const freq = Array.from({ length: half }, (_, i) => f(1 / f(Math.pow(base, f((2 * i) / headDim)))));
  for (let p = 0; p < maxPos; p++) {
    for (let i = 0; i < half; i++) {
      const a = f(p * freq[i]);
      t[p * headDim + i] = Math.cos(a);
      t[p * headDim + half + i] = Math.sin(a);
    }
  }
  K.upload?.(ptr, maxPos * headDim * 4);
  return ptr;
}
