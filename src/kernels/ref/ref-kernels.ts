// The plain TypeScript kernels: the oracle every fast implementation is tested against.
// Straight loops, accumulation in f64, no tricks; speed is not a goal here.
import type { Arena, Ptr } from "../arena.ts";
import type { Kernels } from "../kernels.ts";
import { ngramRow } from "../ngram-hash.ts";

export class RefKernels implements Kernels {
  readonly name = "ref";
  constructor(readonly arena: Arena) {}

  private f(ptr: Ptr, n: number) { return this.arena.f32(ptr, n); }
  private i(ptr: Ptr, n: number) { return this.arena.i32(ptr, n); }

  copyF32(out: Ptr, x: Ptr, n: number): void {
    new Float32Array(this.arena.buffer).copyWithin(out >> 2, x >> 2, (x >> 2) + n);
  }

  matmulF32(out: Ptr, x: Ptr, w: Ptr, m: number, k: number, n: number): void {
    const O = this.f(out, m * n), X = this.f(x, m * k), W = this.f(w, n * k);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let kk = 0; kk < k; kk++) s += X[i * k + kk] * W[j * k + kk];
        O[i * n + j] = s;
      }
    }
  }

  matmulQ8(out: Ptr, x: Ptr, w: Ptr, scale: Ptr, _xq: Ptr, m: number, k: number, n: number): void {
    const O = this.f(out, m * n), X = this.f(x, m * k), W = this.arena.i8(w, n * k), S = this.f(scale, n);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let kk = 0; kk < k; kk++) s += X[i * k + kk] * W[j * k + kk];
        O[i * n + j] = s * S[j];
      }
    }
  }

  rmsNormF32(out: Ptr, x: Ptr, w: Ptr, m: number, d: number, eps: number): void {
    const O = this.f(out, m * d), X = this.f(x, m * d), W = this.f(w, d);
    for (let i = 0; i < m; i++) {
      let ss = 0;
      for (let c = 0; c < d; c++) ss += X[i * d + c] ** 2;
      const inv = 1 / Math.sqrt(ss / d + eps);
      for (let c = 0; c < d; c++) O[i * d + c] = X[i * d + c] * inv * W[c];
    }
  }

  layerNormF32(out: Ptr, x: Ptr, w: Ptr, b: Ptr, m: number, d: number, eps: number): void {
    const O = this.f(out, m * d), X = this.f(x, m * d), W = this.f(w, d), B = this.f(b, d);
    for (let i = 0; i < m; i++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += X[i * d + c];
      const mean = s / d;
      let ss = 0;
      for (let c = 0; c < d; c++) ss += (X[i * d + c] - mean) ** 2;
      const inv = 1 / Math.sqrt(ss / d + eps);
      for (let c = 0; c < d; c++) O[i * d + c] = (X[i * d + c] - mean) * inv * W[c] + B[c];
    }
  }

  ropeF32(x: Ptr, positions: Ptr, cosSin: Ptr, m: number, nHeads: number, headDim: number, rowStride: number): void {
    const X = this.f(x, (m - 1) * rowStride + nHeads * headDim), P = this.i(positions, m);
    const half = headDim >> 1;
    for (let r = 0; r < m; r++) {
      const T = this.f(cosSin + P[r] * headDim * 4, headDim);
      for (let h = 0; h < nHeads; h++) {
        const a = r * rowStride + h * headDim;
        for (let i = 0; i < half; i++) {
          const x1 = X[a + i], x2 = X[a + half + i], c = T[i], s = T[half + i];
          X[a + i] = x1 * c - x2 * s;
          X[a + half + i] = x2 * c + x1 * s;
        }
      }
    }
  }

  softmaxF32(x: Ptr, m: number, n: number): void {
    const X = this.f(x, m * n);
    for (let i = 0; i < m; i++) softmaxRow(X.subarray(i * n, (i + 1) * n));
  }

  siluF32(out: Ptr, x: Ptr, n: number): void {
    const O = this.f(out, n), X = this.f(x, n);
    for (let c = 0; c < n; c++) O[c] = silu(X[c]);
  }

  geluF32(out: Ptr, x: Ptr, n: number): void {
    const O = this.f(out, n), X = this.f(x, n);
    for (let c = 0; c < n; c++) {
      const v = X[c];
      O[c] = 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
    }
  }

  swigluF32(out: Ptr, gate: Ptr, up: Ptr, n: number): void {
    const O = this.f(out, n), G = this.f(gate, n), U = this.f(up, n);
    for (let c = 0; c < n; c++) O[c] = silu(G[c]) * U[c];
  }

  addF32(out: Ptr, a: Ptr, b: Ptr, n: number): void {
    const O = this.f(out, n), A = this.f(a, n), B = this.f(b, n);
    for (let c = 0; c < n; c++) O[c] = A[c] + B[c];
  }

  maxPoolF32(out: Ptr, x: Ptr, m: number, d: number): void {
    const O = this.f(out, d), X = this.f(x, m * d);
    for (let c = 0; c < d; c++) {
      let v = -Infinity;
      for (let i = 0; i < m; i++) v = Math.max(v, X[i * d + c]);
      O[c] = v;
    }
  }

  attentionF32(out: Ptr, q: Ptr, k: Ptr, v: Ptr, kvLo: Ptr, kvHi: Ptr, _scores: Ptr,
               m: number, nHeads: number, nKvHeads: number, headDim: number): void {
    const Lo = this.i(kvLo, m), Hi = this.i(kvHi, m);
    const nKeys = Math.max(0, ...Hi);
    const qw = nHeads * headDim, kvw = nKvHeads * headDim;
    const Q = this.f(q, m * qw), O = this.f(out, m * qw);
    const K = this.f(k, nKeys * kvw), V = this.f(v, nKeys * kvw);
    const group = nHeads / nKvHeads;
    for (let i = 0; i < m; i++) {
      for (let h = 0; h < nHeads; h++) {
        const qo = i * qw + h * headDim, kvo = Math.floor(h / group) * headDim;
        const n = Hi[i] - Lo[i];
        const p = new Float64Array(Math.max(n, 0));
        for (let t = 0; t < n; t++) {
          let s = 0;
          for (let c = 0; c < headDim; c++) s += Q[qo + c] * K[(Lo[i] + t) * kvw + kvo + c];
          p[t] = s / Math.sqrt(headDim);
        }
        softmaxRow(p);
        for (let c = 0; c < headDim; c++) {
          let s = 0;
          for (let t = 0; t < n; t++) s += p[t] * V[(Lo[i] + t) * kvw + kvo + c];
          O[qo + c] = s;
        }
      }
    }
  }

  embedGatherF32(out: Ptr, table: Ptr, ids: Ptr, m: number, d: number): void {
    const Ids = this.i(ids, m);
    for (let i = 0; i < m; i++) this.f(out + i * d * 4, d).set(this.f(table + Ids[i] * d * 4, d));
  }

  ngramEmbedSumF32(out: Ptr, tokens: Ptr, tables: Ptr, ns: Ptr, rows: Ptr,
                   pos0: number, m: number, count: number, d: number): void {
    const T = this.i(tokens, pos0 + m), N = this.i(ns, count), R = this.i(rows, count);
    const O = this.f(out, m * d);
    for (let i = 0; i < m; i++) {
      let base = tables;
      for (let c = 0; c < count; c++) {
        const row = this.f(base + ngramRow(T, pos0 + i, N[c], R[c]) * d * 4, d);
        for (let e = 0; e < d; e++) O[i * d + e] += row[e];
        base += R[c] * d * 4;
      }
    }
  }
}

function silu(v: number): number {
  return v / (1 + Math.exp(-v));
}

function softmaxRow(row: Float32Array | Float64Array): void {
  let mx = -Infinity;
  for (const v of row) mx = Math.max(mx, v);
  let sum = 0;
  for (let t = 0; t < row.length; t++) { row[t] = Math.exp(row[t] - mx); sum += row[t]; }
  for (let t = 0; t < row.length; t++) row[t] /= sum;
}
