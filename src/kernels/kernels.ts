// The op-level interface every kernel implementation provides: plain TypeScript (ref/, the oracle),
// AssemblyScript SIMD (wasm/), WebGPU (webgpu/). Signatures: output, inputs, dimensions; pointers are arena
// byte offsets; matrices are row-major; W is stored (n, k) as PyTorch's Linear keeps it.
import type { Arena, Ptr } from "./arena.ts";

export interface Kernels {
  /** Which implementation this is, e.g. "ref", "wasm-simd128" or "wasm-relaxed". */
  readonly name: string;
  /** The memory every Ptr points into. */
  readonly arena: Arena;

  /**
   * For implementations whose ops run elsewhere (WebGPU): the CPU wrote arena bytes [ptr, ptr+nBytes) that
   * later ops read. Absent where the ops run on the arena itself (ref, wasm).
   */
  upload?(ptr: Ptr, nBytes: number): void;
  /**
   * Resolves once the listed arena ranges hold what the ops recorded so far wrote, for the CPU to read.
   * Absent where ops run synchronously on the arena (ref, wasm).
   */
  sync?(ranges: Array<[Ptr, number]>): Promise<void>;

  /** out(n) = x(n); the ranges do not overlap. */
  copyF32(out: Ptr, x: Ptr, n: number): void;

  /** out(m,n) = x(m,k) · W(n,k)ᵀ. */
  matmulF32(out: Ptr, x: Ptr, w: Ptr, m: number, k: number, n: number): void;
  /**
   * out(m,n) = x(m,k) · (W(n,k)·scale(n))ᵀ, W int8; xq is scratch for 4·k i16 (rows are quantised four at a time);
   * k ≤ 8192. `scale` holds n f32 scales followed by the n i32 row sums Σ_k W(j,k) (writeQ8RowSums; the relaxed
   * Wasm build reads them, the other implementations need only the scales).
   */
  matmulQ8(out: Ptr, x: Ptr, w: Ptr, scale: Ptr, xq: Ptr, m: number, k: number, n: number): void;

  /** out(m,d) = x / sqrt(mean(x²) + eps) · w(d). */
  rmsNormF32(out: Ptr, x: Ptr, w: Ptr, m: number, d: number, eps: number): void;
  /** out(m,d) = (x − mean) / sqrt(var + eps) · w(d) + b(d). */
  layerNormF32(out: Ptr, x: Ptr, w: Ptr, b: Ptr, m: number, d: number, eps: number): void;
  /** In place, rotate-half RoPE on x(m, rowStride) for nHeads heads; positions(m) i32; cosSin(maxPos, headDim). */
  ropeF32(x: Ptr, positions: Ptr, cosSin: Ptr, m: number, nHeads: number, headDim: number, rowStride: number): void;

  /** In place: each row of x(m,n) ← softmax(row). */
  softmaxF32(x: Ptr, m: number, n: number): void;
  /** out(n) = x / (1 + e^−x). */
  siluF32(out: Ptr, x: Ptr, n: number): void;
  /** out(n) = gelu(x), tanh form. */
  geluF32(out: Ptr, x: Ptr, n: number): void;
  /** out(n) = silu(gate) · up. */
  swigluF32(out: Ptr, gate: Ptr, up: Ptr, n: number): void;
  /** out(n) = a + b. */
  addF32(out: Ptr, a: Ptr, b: Ptr, n: number): void;
  /** out(d) = max over the m ≥ 1 rows of x(m,d). */
  maxPoolF32(out: Ptr, x: Ptr, m: number, d: number): void;

  /**
   * out(m, nHeads·hd) = softmax(q·Kᵀ/√hd)·V, query row i over keys [kvLo[i], kvHi[i]); k, v(nKeys, nKvHeads·hd);
   * scores is scratch for the longest range.
   */
  attentionF32(out: Ptr, q: Ptr, k: Ptr, v: Ptr, kvLo: Ptr, kvHi: Ptr, scores: Ptr,
               m: number, nHeads: number, nKvHeads: number, headDim: number): void;

  /** out(m,d) = table[ids[i]]. */
  embedGatherF32(out: Ptr, table: Ptr, ids: Ptr, m: number, d: number): void;
  /** out(m,d) += Σ_c tables_c[hash_{ns[c]}(tokens ending at pos0+i) mod rows[c]]. */
  ngramEmbedSumF32(out: Ptr, tokens: Ptr, tables: Ptr, ns: Ptr, rows: Ptr,
                   pos0: number, m: number, count: number, d: number): void;
}

/** Largest k matmulQ8 accepts: its i32 accumulators stay exact up to here. */
export const MATMUL_Q8_MAX_K = 8192;

/** Bytes matmulQ8's `scale` argument takes for n output rows: n f32 scales, then n i32 row sums. */
export const q8ScaleBytes = (n: number): number => 8 * n;

/** Writes Σ_k W(j,k) for each of the n int8 rows at w (k each) as i32 just after the n scales at `scale`. */
export function writeQ8RowSums(buffer: ArrayBuffer, w: number, scale: number, k: number, n: number): void {
  const W = new Int8Array(buffer, w, n * k), sums = new Int32Array(buffer, scale + 4 * n, n);
  for (let j = 0; j < n; j++) {
    let s = 0;
    for (let c = j * k, end = c + k; c < end; c++) s += W[c];
    sums[j] = s;
  }
}
