// Op-by-op checks of a fast kernel implementation against the reference, on random and ragged shapes
// (size 1, not multiples of 4 or 16). Shared by the Node suite and the workerd suite.
import { expect } from "vitest";
import { fillBlockRanges } from "../../src/kernels/attention-ranges.ts";
import type { Kernels } from "../../src/kernels/kernels.ts";
import { attentionMasks, rng, ropeTable, worstError, type TwinKernels } from "../support/twin-kernels.ts";

export interface KernelCase { name: string; run(t: TwinKernels): void }

/** matmulQ8's activation grid: ±63 for the relaxed Wasm build, ±8191 for the SIMD128 build (and WebGPU, its twin). */
export const quantLevels = (K: Kernels): number => (K.name === "wasm-relaxed" ? 63 : 8191);

const R = rng(1234);
const ROWS = [1, 2, 3, 4, 5, 8, 9];
const DIMS = [1, 3, 4, 7, 16, 17, 33, 64, 130];

function close(t: TwinKernels, ptr: number, n: number, atol: number, rtol: number, what: string): void {
  const { fast, ref } = t.read(ptr, n);
  const worst = worstError(fast, ref, atol, rtol);
  expect(worst, `${what}: worst error ${worst.toFixed(3)}× tolerance (atol ${atol}, rtol ${rtol})`).toBeLessThanOrEqual(1);
}

export const kernelCases: KernelCase[] = [
  {
    name: "matmulF32: out(m,n) = x(m,k)·Wᵀ within 1e-5 + 1e-4·|ref|",
    run(t) {
      for (const m of [1, 2, 3, 4, 5, 8, 13]) for (const k of DIMS) for (const n of [1, 2, 3, 5, 16, 31]) {
        t.reset();
        const x = t.f32(R.normals(m * k)), w = t.f32(R.normals(n * k, 0.1)), out = t.zeros(m * n);
        t.run((K) => K.matmulF32(out, x, w, m, k, n));
        close(t, out, m * n, 1e-5, 1e-4, `matmulF32 m=${m} k=${k} n=${n}`);
      }
    },
  },
  {
    name: "matmulF32: a row's result is bit-identical whatever m is (batched verification = one row at a time)",
    run(t) {
      for (const m of [2, 3, 6, 9]) for (const k of [1, 5, 64, 130]) for (const n of [3, 16, 33]) {
        t.reset();
        const x = t.f32(R.normals(m * k)), w = t.f32(R.normals(n * k, 0.1)), all = t.zeros(m * n), one = t.zeros(m * n);
        t.fast.matmulF32(all, x, w, m, k, n);
        for (let i = 0; i < m; i++) t.fast.matmulF32(one + i * n * 4, x + i * k * 4, w, 1, k, n);
        const a = t.fast.arena;
        expect(Array.from(a.f32(all, m * n)), `k=${k} n=${n}`).toEqual(Array.from(a.f32(one, m * n)));
      }
    },
  },
  {
    name: "matmulQ8 and attentionF32: a row's result is bit-identical whatever m is",
    run(t) {
      for (const m of [2, 3, 4, 6, 9]) for (const k of [1, 7, 64, 130]) for (const n of [1, 3, 16, 33]) {
        t.reset();
        const x = t.f32(R.normals(m * k)), w = t.i8(Int8Array.from({ length: n * k }, () => R.int(-127, 128)));
        const s = t.q8Scales(Float32Array.from({ length: n }, () => 0.001 + R.next() * 0.02), w, k), xq = t.zeros(2 * k);
        const all = t.zeros(m * n), one = t.zeros(m * n);
        t.fast.matmulQ8(all, x, w, s, xq, m, k, n);
        for (let i = 0; i < m; i++) t.fast.matmulQ8(one + i * n * 4, x + i * k * 4, w, s, xq, 1, k, n);
        const a = t.fast.arena;
        expect(Array.from(a.f32(all, m * n)), `matmulQ8 m=${m} k=${k} n=${n}`).toEqual(Array.from(a.f32(one, m * n)));
      }
      for (const headDim of [5, 32, 64]) {
        t.reset();
        const m = 8, nHeads = 4, nKeys = 30, d = nHeads * headDim;
        const lo = new Int32Array(m), hi = new Int32Array(m);
        fillBlockRanges(lo, hi, 22, m, 13);
        const q = t.f32(R.normals(m * d)), k = t.f32(R.normals(nKeys * d)), v = t.f32(R.normals(nKeys * d));
        const pLo = t.i32(lo), pHi = t.i32(hi), scores = t.zeros(nKeys), all = t.zeros(m * d), one = t.zeros(m * d);
        t.fast.attentionF32(all, q, k, v, pLo, pHi, scores, m, nHeads, nHeads, headDim);
        for (let i = 0; i < m; i++) t.fast.attentionF32(one + i * d * 4, q + i * d * 4, k, v, pLo + i * 4, pHi + i * 4, scores, 1, nHeads, nHeads, headDim);
        const a = t.fast.arena;
        expect(Array.from(a.f32(all, m * d)), `attention hd=${headDim}`).toEqual(Array.from(a.f32(one, m * d)));
      }
    },
  },
  {
    name: "matmulQ8: int8 rows × per-row scale, within the activation quantisation bound (±127 weights, saturated rows)",
    run(t) {
      // the build's activation grid: 14-bit (±8191) for SIMD128, 7-bit (±63, offset into 1..127) for relaxed
      const Q = quantLevels(t.fast);
      for (const m of [1, 2, 3, 5, 8]) for (const k of [1, 3, 15, 16, 17, 31, 32, 33, 64, 250, 8192]) for (const n of [1, 3, 4, 9]) for (const extreme of [false, true]) {
        if (extreme && k !== 33 && k !== 250 && k !== 8192) continue;
        t.reset();
        // extreme: every weight ±127 and every activation ±max|x|, so each 7-bit operand is 1 or 127 and every
        // pair of products is ±2·127·127 (the edge of x86's pmaddubsw i16 pair sums)
        const xs = extreme ? Float32Array.from({ length: m * k }, (_, i) => (i % 3 === 0 ? -2.5 : 2.5)) : R.normals(m * k);
        const ws = Int8Array.from({ length: n * k }, (_, i) => (extreme ? ((i >> 1) % 2 ? -127 : 127) : R.int(-127, 128)));
        const scales = Float32Array.from({ length: n }, () => 0.001 + R.next() * 0.02);
        const x = t.f32(xs), w = t.i8(ws), s = t.q8Scales(scales, w, k), xq = t.zeros(2 * k), out = t.zeros(m * n);
        t.run((K) => K.matmulQ8(out, x, w, s, xq, m, k, n));
        // |error| ≤ Σ_k |w|·scale·(amax/Q)/2: the rounding of x to the grid, plus f32 rounding of the result.
        const { fast, ref } = t.read(out, m * n);
        for (let i = 0; i < m; i++) {
          let amax = 0;
          for (let c = 0; c < k; c++) amax = Math.max(amax, Math.abs(xs[i * k + c]));
          for (let j = 0; j < n; j++) {
            let wabs = 0;
            for (let c = 0; c < k; c++) wabs += Math.abs(ws[j * k + c]);
            const bound = wabs * scales[j] * (amax / Q) / 2 * 1.01 + 1e-6 * (1 + Math.abs(ref[i * n + j]));
            expect(Math.abs(fast[i * n + j] - ref[i * n + j]), `matmulQ8 m=${m} k=${k} n=${n} [${i},${j}]`).toBeLessThanOrEqual(bound);
          }
        }
      }
    },
  },
  {
    name: "rmsNormF32 and layerNormF32 within 1e-5 + 1e-5·|ref|",
    run(t) {
      for (const m of ROWS) for (const d of DIMS) {
        t.reset();
        const x = t.f32(R.normals(m * d, 3)), w = t.f32(R.normals(d)), b = t.f32(R.normals(d));
        const o1 = t.zeros(m * d), o2 = t.zeros(m * d);
        t.run((K) => { K.rmsNormF32(o1, x, w, m, d, 1e-5); K.layerNormF32(o2, x, w, b, m, d, 1e-5); });
        close(t, o1, m * d, 1e-5, 1e-5, `rmsNorm m=${m} d=${d}`);
        close(t, o2, m * d, 1e-5, 1e-5, `layerNorm m=${m} d=${d}`);
      }
    },
  },
  {
    name: "ropeF32 (rotate-half, per-row positions, strided rows) within 1e-6",
    run(t) {
      for (const headDim of [2, 6, 8, 32, 34]) for (const nHeads of [1, 3]) for (const m of [1, 5]) {
        t.reset();
        const rowStride = nHeads * headDim + 5;
        const x = t.f32(R.normals(m * rowStride)), table = t.f32(ropeTable(64, headDim));
        const pos = t.i32(Array.from({ length: m }, () => R.int(0, 64)));
        t.run((K) => K.ropeF32(x, pos, table, m, nHeads, headDim, rowStride));
        close(t, x, m * rowStride, 1e-6, 1e-6, `rope hd=${headDim} heads=${nHeads} m=${m}`);
      }
    },
  },
  {
    name: "softmaxF32 within 1e-7 + 1e-5·|ref|, rows with large and equal values",
    run(t) {
      for (const m of ROWS) for (const n of [1, 2, 3, 5, 8, 17, 256, 259]) {
        t.reset();
        const data = R.normals(m * n, 8);
        if (n > 2) { data[0] = 80; data[1] = 80; }
        const x = t.f32(data);
        t.run((K) => K.softmaxF32(x, m, n));
        close(t, x, m * n, 1e-7, 1e-5, `softmax m=${m} n=${n}`);
      }
    },
  },
  {
    name: "siluF32, geluF32, swigluF32, addF32 within 1e-6 + 1e-5·|ref|",
    run(t) {
      for (const n of [1, 3, 4, 5, 16, 127, 1000]) {
        t.reset();
        const a = t.f32(R.normals(n, 4)), b = t.f32(R.normals(n, 4));
        const o1 = t.zeros(n), o2 = t.zeros(n), o3 = t.zeros(n), o4 = t.zeros(n);
        t.run((K) => { K.siluF32(o1, a, n); K.geluF32(o2, a, n); K.swigluF32(o3, a, b, n); K.addF32(o4, a, b, n); });
        close(t, o1, n, 1e-6, 1e-5, `silu n=${n}`);
        close(t, o2, n, 1e-6, 1e-5, `gelu n=${n}`);
        close(t, o3, n, 1e-6, 1e-5, `swiglu n=${n}`);
        close(t, o4, n, 0, 0, `add n=${n}`);
      }
    },
  },
  {
    name: "maxPoolF32 is exact",
    run(t) {
      for (const m of [1, 2, 7]) for (const d of DIMS) {
        t.reset();
        const x = t.f32(R.normals(m * d)), out = t.zeros(d);
        t.run((K) => K.maxPoolF32(out, x, m, d));
        close(t, out, d, 0, 0, `maxPool m=${m} d=${d}`);
      }
    },
  },
  {
    name: "attentionF32 with causal, windowed, BLT-D block, cross and pooling masks, grouped heads, within 1e-5 + 1e-4·|ref|",
    run(t) {
      for (const headDim of [1, 5, 8, 32, 37, 64]) for (const [nHeads, nKvHeads] of [[1, 1], [4, 4], [4, 2], [3, 1]]) {
        const nKeys = 23;
        for (const [mask, m, fill] of attentionMasks(nKeys)) {
          t.reset();
          const lo = new Int32Array(m), hi = new Int32Array(m);
          fill(lo, hi);
          const q = t.f32(R.normals(m * nHeads * headDim));
          const k = t.f32(R.normals(nKeys * nKvHeads * headDim)), v = t.f32(R.normals(nKeys * nKvHeads * headDim));
          const pLo = t.i32(lo), pHi = t.i32(hi), scores = t.zeros(nKeys), out = t.zeros(m * nHeads * headDim);
          t.run((K) => K.attentionF32(out, q, k, v, pLo, pHi, scores, m, nHeads, nKvHeads, headDim));
          close(t, out, m * nHeads * headDim, 1e-5, 1e-4, `attention ${mask} hd=${headDim} heads=${nHeads}/${nKvHeads}`);
        }
      }
    },
  },
  {
    name: "copyF32 is exact, and ops after it read the copy",
    run(t) {
      for (const n of [1, 3, 4, 5, 17, 130, 1000]) {
        t.reset();
        const a = t.f32(R.normals(n, 4)), b = t.f32(R.normals(n, 4)), c = t.zeros(n), s = t.zeros(n);
        t.run((K) => { K.copyF32(c, a, n); K.addF32(s, c, b, n); });
        close(t, c, n, 0, 0, `copy n=${n}`);
        close(t, s, n, 0, 0, `add after copy n=${n}`);
        expect(Array.from(t.fast.arena.f32(c, n))).toEqual(Array.from(t.fast.arena.f32(a, n)));
      }
    },
  },
  {
    name: "embedGatherF32 and ngramEmbedSumF32 (n = 3..8) are exact",
    run(t) {
      for (const d of [1, 3, 8, 17]) for (const [pos0, m] of [[0, 1], [0, 9], [6, 1], [5, 11]]) {
        t.reset();
        const vocab = 259, ns = [3, 4, 5, 6, 7, 8], rows = [31, 64, 17, 100, 3, 50];
        const tokens = [256, ...Array.from({ length: pos0 + m - 1 }, () => R.int(0, 256))];
        const table = t.f32(R.normals(vocab * d)), tables = t.f32(R.normals(rows.reduce((a, b) => a + b) * d));
        const ids = t.i32(tokens.slice(pos0, pos0 + m)), tok = t.i32(tokens);
        const pNs = t.i32(ns), pRows = t.i32(rows), out = t.zeros(m * d);
        t.run((K) => {
          K.embedGatherF32(out, table, ids, m, d);
          K.ngramEmbedSumF32(out, tok, tables, pNs, pRows, pos0, m, ns.length, d);
        });
        close(t, out, m * d, 0, 0, `embed d=${d} pos0=${pos0} m=${m}`);
      }
    },
  },
];
