// Matrix multiplies: out(m,n) = x(m,k) · Wᵀ with W stored as n rows of k (PyTorch Linear layout).
// matmulF32 streams f32 weights; matmulQ8 streams int8 weights with one f32 scale per output row.

import { roundI32 } from "./math";

@inline function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) +
         f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

// out(n) = W(n,k) · x(k). Four weight rows stream at once, taken a quarter of W apart (rows j, j+q, j+2q,
// j+3q): far-apart streams keep more DRAM pages open than adjacent rows do (measured: ~30 vs ~20 GB/s).
// Summation order is the tile's (one f32x4 accumulator over k in steps of 4, lanes summed 0+1+2+3, then the
// scalar tail), so a row's result does not depend on how many rows one call multiplies: a batched
// verification pass reproduces byte-by-byte decoding exactly.
function matvecF32(out: usize, x: usize, w: usize, k: i32, n: i32): void {
  const rowBytes = <usize>k << 2;
  const q = n >> 2;
  const qBytes = <usize>q * rowBytes;
  const k4 = <usize>(k & ~3) << 2;
  for (let j = 0; j < q; j++) {
    let p0 = w + <usize>j * rowBytes, p1 = p0 + qBytes, p2 = p1 + qBytes, p3 = p2 + qBytes;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let xp = x;
    const x4 = x + k4, xEnd = x + rowBytes;
    for (; xp < x4; xp += 16) {
      const xa = v128.load(xp);
      a0 = f32x4.add(a0, f32x4.mul(xa, v128.load(p0))); a1 = f32x4.add(a1, f32x4.mul(xa, v128.load(p1)));
      a2 = f32x4.add(a2, f32x4.mul(xa, v128.load(p2))); a3 = f32x4.add(a3, f32x4.mul(xa, v128.load(p3)));
      p0 += 16; p1 += 16; p2 += 16; p3 += 16;
    }
    let s0 = hsum(a0), s1 = hsum(a1), s2 = hsum(a2), s3 = hsum(a3);
    for (; xp < xEnd; xp += 4) {
      const xv = load<f32>(xp);
      s0 += xv * load<f32>(p0); s1 += xv * load<f32>(p1); s2 += xv * load<f32>(p2); s3 += xv * load<f32>(p3);
      p0 += 4; p1 += 4; p2 += 4; p3 += 4;
    }
    store<f32>(out + (<usize>j << 2), s0);
    store<f32>(out + (<usize>(j + q) << 2), s1);
    store<f32>(out + (<usize>(j + 2 * q) << 2), s2);
    store<f32>(out + (<usize>(j + 3 * q) << 2), s3);
  }
  for (let j = q << 2; j < n; j++) {
    let p = w + <usize>j * rowBytes;
    let a = f32x4.splat(0);
    let xp = x;
    const x4 = x + k4, xEnd = x + rowBytes;
    for (; xp < x4; xp += 16, p += 16) a = f32x4.add(a, f32x4.mul(v128.load(xp), v128.load(p)));
    let s = hsum(a);
    for (; xp < xEnd; xp += 4, p += 4) s += load<f32>(xp) * load<f32>(p);
    store<f32>(out + (<usize>j << 2), s);
  }
}

// A 4×2 tile of out: x rows i..i+3 against W rows j and j+h (8 accumulators, 6 loads per k-step). The two
// weight rows are half the matrix apart, so as j advances each is one long sequential stream (adjacent rows
// j, j+1 make two strided streams that the prefetchers follow badly: measured 2.4× slower from L3).
@inline function tile4x2(out: usize, x: usize, w: usize, i: i32, j: i32, h: i32, k: i32, n: i32): void {
  const rowBytes = <usize>k << 2;
  const x0 = x + <usize>i * rowBytes;
  const x1 = x0 + rowBytes, x2 = x1 + rowBytes, x3 = x2 + rowBytes;
  const w0 = w + <usize>j * rowBytes, w1 = w0 + <usize>h * rowBytes;
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  const k4 = k & ~3;
  let kk = 0;
  for (; kk < k4; kk += 4) {
    const o = <usize>kk << 2;
    const v0 = v128.load(w0 + o), v1 = v128.load(w1 + o);
    const u0 = v128.load(x0 + o);
    c00 = f32x4.add(c00, f32x4.mul(u0, v0)); c01 = f32x4.add(c01, f32x4.mul(u0, v1));
    const u1 = v128.load(x1 + o);
    c10 = f32x4.add(c10, f32x4.mul(u1, v0)); c11 = f32x4.add(c11, f32x4.mul(u1, v1));
    const u2 = v128.load(x2 + o);
    c20 = f32x4.add(c20, f32x4.mul(u2, v0)); c21 = f32x4.add(c21, f32x4.mul(u2, v1));
    const u3 = v128.load(x3 + o);
    c30 = f32x4.add(c30, f32x4.mul(u3, v0)); c31 = f32x4.add(c31, f32x4.mul(u3, v1));
  }
  let s00 = hsum(c00), s01 = hsum(c01), s10 = hsum(c10), s11 = hsum(c11);
  let s20 = hsum(c20), s21 = hsum(c21), s30 = hsum(c30), s31 = hsum(c31);
  for (; kk < k; kk++) {
    const o = <usize>kk << 2;
    const v0 = load<f32>(w0 + o), v1 = load<f32>(w1 + o);
    const u0 = load<f32>(x0 + o), u1 = load<f32>(x1 + o), u2 = load<f32>(x2 + o), u3 = load<f32>(x3 + o);
    s00 += u0 * v0; s01 += u0 * v1; s10 += u1 * v0; s11 += u1 * v1;
    s20 += u2 * v0; s21 += u2 * v1; s30 += u3 * v0; s31 += u3 * v1;
  }
  const outRow = <usize>n << 2;
  const o0 = out + <usize>i * outRow + (<usize>j << 2), hb = <usize>h << 2;
  store<f32>(o0, s00); store<f32>(o0 + hb, s01);
  store<f32>(o0 + outRow, s10); store<f32>(o0 + outRow + hb, s11);
  store<f32>(o0 + 2 * outRow, s20); store<f32>(o0 + 2 * outRow + hb, s21);
  store<f32>(o0 + 3 * outRow, s30); store<f32>(o0 + 3 * outRow + hb, s31);
}

// A 2×4 tile of out: x rows i, i+1 against W rows j, j+q, j+2q, j+3q (8 accumulators, 6 loads per k-step;
// four long streams, as in matvecF32), for batches of 2–3 rows (a BLT-S verification's few patches): the
// weights stream once, not once per row.
@inline function tile2x4(out: usize, x: usize, w: usize, i: i32, j: i32, q: i32, k: i32, n: i32): void {
  const rowBytes = <usize>k << 2, qBytes = <usize>q * rowBytes;
  const x0 = x + <usize>i * rowBytes, x1 = x0 + rowBytes;
  const w0 = w + <usize>j * rowBytes, w1 = w0 + qBytes, w2 = w1 + qBytes, w3 = w2 + qBytes;
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c02 = f32x4.splat(0), c03 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0), c12 = f32x4.splat(0), c13 = f32x4.splat(0);
  const k4 = <usize>(k & ~3) << 2;
  let o: usize = 0;
  for (; o < k4; o += 16) {
    const u0 = v128.load(x0 + o), u1 = v128.load(x1 + o);
    const v0 = v128.load(w0 + o), v1 = v128.load(w1 + o);
    c00 = f32x4.add(c00, f32x4.mul(u0, v0)); c10 = f32x4.add(c10, f32x4.mul(u1, v0));
    c01 = f32x4.add(c01, f32x4.mul(u0, v1)); c11 = f32x4.add(c11, f32x4.mul(u1, v1));
    const v2 = v128.load(w2 + o), v3 = v128.load(w3 + o);
    c02 = f32x4.add(c02, f32x4.mul(u0, v2)); c12 = f32x4.add(c12, f32x4.mul(u1, v2));
    c03 = f32x4.add(c03, f32x4.mul(u0, v3)); c13 = f32x4.add(c13, f32x4.mul(u1, v3));
  }
  let s00 = hsum(c00), s01 = hsum(c01), s02 = hsum(c02), s03 = hsum(c03);
  let s10 = hsum(c10), s11 = hsum(c11), s12 = hsum(c12), s13 = hsum(c13);
  const kb = rowBytes;
  for (; o < kb; o += 4) {
    const u0 = load<f32>(x0 + o), u1 = load<f32>(x1 + o);
    const v0 = load<f32>(w0 + o), v1 = load<f32>(w1 + o), v2 = load<f32>(w2 + o), v3 = load<f32>(w3 + o);
    s00 += u0 * v0; s01 += u0 * v1; s02 += u0 * v2; s03 += u0 * v3;
    s10 += u1 * v0; s11 += u1 * v1; s12 += u1 * v2; s13 += u1 * v3;
  }
  const outRow = <usize>n << 2, qb = <usize>q << 2;
  const o0 = out + <usize>i * outRow + (<usize>j << 2), o1 = o0 + outRow;
  store<f32>(o0, s00); store<f32>(o0 + qb, s01); store<f32>(o0 + 2 * qb, s02); store<f32>(o0 + 3 * qb, s03);
  store<f32>(o1, s10); store<f32>(o1 + qb, s11); store<f32>(o1 + 2 * qb, s12); store<f32>(o1 + 3 * qb, s13);
}

/** out(m,n) = x(m,k) · W(n,k)ᵀ. out must not alias x or w. */
export function matmulF32(out: usize, x: usize, w: usize, m: i32, k: i32, n: i32): void {
  const rowBytes = <usize>k << 2;
  const outRow = <usize>n << 2;
  let i = 0;
  if (m >= 4) {
    // Weight rows j and j+h pair up; walk j in panels so the panel's rows stay in cache across all x rows.
    const h = n >> 1;
    const panel = max(1, (8192 / max(k, 1))); // ~64 KiB of weights per panel (two half-panels)
    const m4 = m & ~3;
    for (let j0 = 0; j0 < h; j0 += panel) {
      const j1 = min(j0 + panel, h);
      for (i = 0; i < m4; i += 4) {
        for (let j = j0; j < j1; j++) tile4x2(out, x, w, i, j, h, k, n);
      }
    }
    if (2 * h < n) {
      // odd last column: one weight row against every x row
      for (let r = 0; r < m4; r++) matvecF32(out + <usize>r * outRow + (<usize>(n - 1) << 2), x + <usize>r * rowBytes, w + <usize>(n - 1) * rowBytes, k, 1);
    }
    i = m4;
  }
  if (m - i >= 2) {
    // a pair of rows left (or a batch of 2–3): 2×4 tiles, the last n mod 4 columns one row at a time
    const q = n >> 2, n4 = q << 2;
    for (let j = 0; j < q; j++) tile2x4(out, x, w, i, j, q, k, n);
    if (n4 < n) {
      for (let r = i; r < i + 2; r++) matvecF32(out + <usize>r * outRow + (<usize>n4 << 2), x + <usize>r * rowBytes, w + <usize>n4 * rowBytes, k, n - n4);
    }
    i += 2;
  }
  for (; i < m; i++) matvecF32(out + <usize>i * outRow, x + <usize>i * rowBytes, w, k, n);
}

// Activations are quantised per row to i16 in [-8191, 8191]: with int8 weights each i32 lane of a
// dot product then stays below 2^31 for k ≤ 8192 (k/4 products of at most 8191·127 per lane).
const Q_X: f32 = 8191;

// xq(k) = round(x(k) / sx) with sx = max|x| / Q_X; returns sx. Eight values per step, scalar tail.
// The vector steps use the cheap forms of max and of round-to-integer (see roundI32 in math.ts): on finite inputs
// the same values as f32x4.max and f32x4.nearest + trunc_sat, in a third of the instructions.
function quantizeRowI16(xq: usize, x: usize, k: i32): f32 {
  const k8 = k & ~7;
  let vmax = f32x4.splat(0);
  let kk = 0;
  for (; kk < k8; kk += 8) {
    const o = <usize>kk << 2;
    vmax = f32x4.pmax(vmax, f32x4.pmax(f32x4.abs(v128.load(x + o)), f32x4.abs(v128.load(x + o, 16))));
  }
  let amax = max(max(f32x4.extract_lane(vmax, 0), f32x4.extract_lane(vmax, 1)), max(f32x4.extract_lane(vmax, 2), f32x4.extract_lane(vmax, 3)));
  for (; kk < k; kk++) amax = max(amax, abs(load<f32>(x + (<usize>kk << 2))));
  const sx: f32 = amax > 0 ? amax / Q_X : 1;
  const inv: f32 = 1 / sx;
  const vi = f32x4.splat(inv), lo = f32x4.splat(-Q_X), hi = f32x4.splat(Q_X);
  kk = 0;
  for (; kk < k8; kk += 8) {
    const o = <usize>kk << 2;
    // clamped first (x/sx can round a hair past Q_X; a NaN becomes −Q_X), so roundI32's range always holds
    const a = roundI32(f32x4.pmin(hi, f32x4.pmax(lo, f32x4.mul(v128.load(x + o), vi))));
    const b = roundI32(f32x4.pmin(hi, f32x4.pmax(lo, f32x4.mul(v128.load(x + o, 16), vi))));
    v128.store(xq + (<usize>kk << 1), i16x8.narrow_i32x4_s(a, b));
  }
  for (; kk < k; kk++) {
    store<i16>(xq + (<usize>kk << 1), <i16>nearest(load<f32>(x + (<usize>kk << 2)) * inv));
  }
  return sx;
}

// acc + Σ of the 16 products w(p..p+16)·x, the int8 weights sign-extended to i16 by the load itself.
@inline function dotQ8(acc: v128, p: usize, xa: v128, xb: v128): v128 {
  return i32x4.add(acc, i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(p), xa), i32x4.dot_i16x8_s(v128.load8x8_s(p, 8), xb)));
}

// out(n) = (W(n,k) · xq(k)) · scale(n) · sx. Rows j, j+q, j+2q, j+3q stream together, as in matvecF32.
function matvecQ8(out: usize, xq: usize, sx: f32, w: usize, scale: usize, k: i32, n: i32): void {
  const rowBytes = <usize>k;
  const q = n >> 2;
  const qBytes = <usize>q * rowBytes;
  const k16 = <usize>(k & ~15);
  for (let j = 0; j < q; j++) {
    let p0 = w + <usize>j * rowBytes, p1 = p0 + qBytes, p2 = p1 + qBytes, p3 = p2 + qBytes;
    let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
    let xp = xq;
    const x16 = xq + (k16 << 1), xEnd = xq + (rowBytes << 1);
    for (; xp < x16; xp += 32) {
      const xa = v128.load(xp), xb = v128.load(xp, 16);
      a0 = dotQ8(a0, p0, xa, xb); a1 = dotQ8(a1, p1, xa, xb);
      a2 = dotQ8(a2, p2, xa, xb); a3 = dotQ8(a3, p3, xa, xb);
      p0 += 16; p1 += 16; p2 += 16; p3 += 16;
    }
    let s0 = isum(a0), s1 = isum(a1), s2 = isum(a2), s3 = isum(a3);
    for (; xp < xEnd; xp += 2) {
      const xv = <i32>load<i16>(xp);
      s0 += <i32>load<i8>(p0) * xv; s1 += <i32>load<i8>(p1) * xv; s2 += <i32>load<i8>(p2) * xv; s3 += <i32>load<i8>(p3) * xv;
      p0++; p1++; p2++; p3++;
    }
    store<f32>(out + (<usize>j << 2), <f32>s0 * load<f32>(scale + (<usize>j << 2)) * sx);
    store<f32>(out + (<usize>(j + q) << 2), <f32>s1 * load<f32>(scale + (<usize>(j + q) << 2)) * sx);
    store<f32>(out + (<usize>(j + 2 * q) << 2), <f32>s2 * load<f32>(scale + (<usize>(j + 2 * q) << 2)) * sx);
    store<f32>(out + (<usize>(j + 3 * q) << 2), <f32>s3 * load<f32>(scale + (<usize>(j + 3 * q) << 2)) * sx);
  }
  for (let j = q << 2; j < n; j++) {
    let p = w + <usize>j * rowBytes;
    let a = i32x4.splat(0);
    let xp = xq;
    const x16 = xq + (k16 << 1), xEnd = xq + (rowBytes << 1);
    for (; xp < x16; xp += 32, p += 16) a = dotQ8(a, p, v128.load(xp), v128.load(xp, 16));
    let s = isum(a);
    for (; xp < xEnd; xp += 2, p++) s += <i32>load<i8>(p) * <i32>load<i16>(xp);
    store<f32>(out + (<usize>j << 2), <f32>s * load<f32>(scale + (<usize>j << 2)) * sx);
  }
}

@inline function isum(v: v128): i32 {
  return i32x4.extract_lane(v, 0) + i32x4.extract_lane(v, 1) + i32x4.extract_lane(v, 2) + i32x4.extract_lane(v, 3);
}

// W rows j..j+cols (cols = 2 or 4) against `rows` (4 or 2) quantised x rows at xq (k i16 each, 2k bytes apart):
// each group of 8 weights is sign-extended once and dotted with every row. Integer sums are exact, so results
// equal matvecQ8's bit for bit whatever the grouping.
@inline function tileQ8x4x2(out: usize, xq: usize, s0: f32, s1: f32, s2: f32, s3: f32, w: usize, scale: usize, j: i32, k: i32, n: i32): void {
  const xs = <usize>k << 1;
  const x0 = xq, x1 = x0 + xs, x2 = x1 + xs, x3 = x2 + xs;
  const w0 = w + <usize>j * <usize>k, w1 = w0 + <usize>k;
  let a00 = i32x4.splat(0), a01 = i32x4.splat(0), a10 = i32x4.splat(0), a11 = i32x4.splat(0);
  let a20 = i32x4.splat(0), a21 = i32x4.splat(0), a30 = i32x4.splat(0), a31 = i32x4.splat(0);
  const k8 = <usize>(k & ~7);
  let kk: usize = 0;
  for (; kk < k8; kk += 8) {
    const v0 = v128.load8x8_s(w0 + kk), v1 = v128.load8x8_s(w1 + kk);
    const o = kk << 1;
    let u = v128.load(x0 + o);
    a00 = i32x4.add(a00, i32x4.dot_i16x8_s(u, v0)); a01 = i32x4.add(a01, i32x4.dot_i16x8_s(u, v1));
    u = v128.load(x1 + o);
    a10 = i32x4.add(a10, i32x4.dot_i16x8_s(u, v0)); a11 = i32x4.add(a11, i32x4.dot_i16x8_s(u, v1));
    u = v128.load(x2 + o);
    a20 = i32x4.add(a20, i32x4.dot_i16x8_s(u, v0)); a21 = i32x4.add(a21, i32x4.dot_i16x8_s(u, v1));
    u = v128.load(x3 + o);
    a30 = i32x4.add(a30, i32x4.dot_i16x8_s(u, v0)); a31 = i32x4.add(a31, i32x4.dot_i16x8_s(u, v1));
  }
  let t00 = isum(a00), t01 = isum(a01), t10 = isum(a10), t11 = isum(a11);
  let t20 = isum(a20), t21 = isum(a21), t30 = isum(a30), t31 = isum(a31);
  for (; kk < <usize>k; kk++) {
    const v0 = <i32>load<i8>(w0 + kk), v1 = <i32>load<i8>(w1 + kk), o = kk << 1;
    const u0 = <i32>load<i16>(x0 + o), u1 = <i32>load<i16>(x1 + o), u2 = <i32>load<i16>(x2 + o), u3 = <i32>load<i16>(x3 + o);
    t00 += u0 * v0; t01 += u0 * v1; t10 += u1 * v0; t11 += u1 * v1;
    t20 += u2 * v0; t21 += u2 * v1; t30 += u3 * v0; t31 += u3 * v1;
  }
  const c0 = load<f32>(scale + (<usize>j << 2)), c1 = load<f32>(scale + (<usize>j << 2), 4);
  const outRow = <usize>n << 2;
  const o0 = out + (<usize>j << 2), o1 = o0 + outRow, o2 = o1 + outRow, o3 = o2 + outRow;
  store<f32>(o0, <f32>t00 * c0 * s0); store<f32>(o0, <f32>t01 * c1 * s0, 4);
  store<f32>(o1, <f32>t10 * c0 * s1); store<f32>(o1, <f32>t11 * c1 * s1, 4);
  store<f32>(o2, <f32>t20 * c0 * s2); store<f32>(o2, <f32>t21 * c1 * s2, 4);
  store<f32>(o3, <f32>t30 * c0 * s3); store<f32>(o3, <f32>t31 * c1 * s3, 4);
}

@inline function tileQ8x2x4(out: usize, xq: usize, s0: f32, s1: f32, w: usize, scale: usize, j: i32, k: i32, n: i32): void {
  const x0 = xq, x1 = x0 + (<usize>k << 1);
  const w0 = w + <usize>j * <usize>k, w1 = w0 + <usize>k, w2 = w1 + <usize>k, w3 = w2 + <usize>k;
  let a00 = i32x4.splat(0), a01 = i32x4.splat(0), a02 = i32x4.splat(0), a03 = i32x4.splat(0);
  let a10 = i32x4.splat(0), a11 = i32x4.splat(0), a12 = i32x4.splat(0), a13 = i32x4.splat(0);
  const k8 = <usize>(k & ~7);
  let kk: usize = 0;
  for (; kk < k8; kk += 8) {
    const o = kk << 1;
    const u0 = v128.load(x0 + o), u1 = v128.load(x1 + o);
    let v = v128.load8x8_s(w0 + kk);
    a00 = i32x4.add(a00, i32x4.dot_i16x8_s(u0, v)); a10 = i32x4.add(a10, i32x4.dot_i16x8_s(u1, v));
    v = v128.load8x8_s(w1 + kk);
    a01 = i32x4.add(a01, i32x4.dot_i16x8_s(u0, v)); a11 = i32x4.add(a11, i32x4.dot_i16x8_s(u1, v));
    v = v128.load8x8_s(w2 + kk);
    a02 = i32x4.add(a02, i32x4.dot_i16x8_s(u0, v)); a12 = i32x4.add(a12, i32x4.dot_i16x8_s(u1, v));
    v = v128.load8x8_s(w3 + kk);
    a03 = i32x4.add(a03, i32x4.dot_i16x8_s(u0, v)); a13 = i32x4.add(a13, i32x4.dot_i16x8_s(u1, v));
  }
  let t00 = isum(a00), t01 = isum(a01), t02 = isum(a02), t03 = isum(a03);
  let t10 = isum(a10), t11 = isum(a11), t12 = isum(a12), t13 = isum(a13);
  for (; kk < <usize>k; kk++) {
    const o = kk << 1, u0 = <i32>load<i16>(x0 + o), u1 = <i32>load<i16>(x1 + o);
    const v0 = <i32>load<i8>(w0 + kk), v1 = <i32>load<i8>(w1 + kk), v2 = <i32>load<i8>(w2 + kk), v3 = <i32>load<i8>(w3 + kk);
    t00 += u0 * v0; t01 += u0 * v1; t02 += u0 * v2; t03 += u0 * v3;
    t10 += u1 * v0; t11 += u1 * v1; t12 += u1 * v2; t13 += u1 * v3;
  }
  const sc = scale + (<usize>j << 2);
  const c0 = load<f32>(sc), c1 = load<f32>(sc, 4), c2 = load<f32>(sc, 8), c3 = load<f32>(sc, 12);
  const o0 = out + (<usize>j << 2), o1 = o0 + (<usize>n << 2);
  store<f32>(o0, <f32>t00 * c0 * s0); store<f32>(o0, <f32>t01 * c1 * s0, 4); store<f32>(o0, <f32>t02 * c2 * s0, 8); store<f32>(o0, <f32>t03 * c3 * s0, 12);
  store<f32>(o1, <f32>t10 * c0 * s1); store<f32>(o1, <f32>t11 * c1 * s1, 4); store<f32>(o1, <f32>t12 * c2 * s1, 8); store<f32>(o1, <f32>t13 * c3 * s1, 12);
}

/**
 * out(m,n) = x(m,k) · (W(n,k) · scale(n))ᵀ with W int8; scale(n) f32 is followed by Σ_k W(j,k) as n i32 (read by the
 * relaxed build only). xq is scratch for 4·k i16 values.
 * SIMD128 build: x quantised per row to i16, i32x4.dot_i16x8_s. Relaxed build: matmulQ7 (below). One row streams through matvecQ8; batches go four rows (then two) at a time, so the weights stream once
 * per group rather than once per row. Precondition: k ≤ 8192 (checked by the host).
 */
export function matmulQ8(out: usize, x: usize, w: usize, scale: usize, xq: usize, m: i32, k: i32, n: i32): void {
  if (ASC_FEATURE_RELAXED_SIMD) {
    matmulQ7(out, x, w, scale, xq, m, k, n);
    return;
  }
  const xRow = <usize>k << 2, xs = <usize>k << 1, outRow = <usize>n << 2;
  let i = 0;
  for (; i + 4 <= m; i += 4) {
    const x0 = x + <usize>i * xRow;
    const s0 = quantizeRowI16(xq, x0, k), s1 = quantizeRowI16(xq + xs, x0 + xRow, k);
    const s2 = quantizeRowI16(xq + 2 * xs, x0 + 2 * xRow, k), s3 = quantizeRowI16(xq + 3 * xs, x0 + 3 * xRow, k);
    const o = out + <usize>i * outRow;
    const n2 = n & ~1;
    for (let j = 0; j < n2; j += 2) tileQ8x4x2(o, xq, s0, s1, s2, s3, w, scale, j, k, n);
    if (n2 < n) {
      const wl = w + <usize>n2 * <usize>k, sl = scale + (<usize>n2 << 2), ol = o + (<usize>n2 << 2);
      matvecQ8(ol, xq, s0, wl, sl, k, 1); matvecQ8(ol + outRow, xq + xs, s1, wl, sl, k, 1);
      matvecQ8(ol + 2 * outRow, xq + 2 * xs, s2, wl, sl, k, 1); matvecQ8(ol + 3 * outRow, xq + 3 * xs, s3, wl, sl, k, 1);
    }
  }
  if (i + 2 <= m) {
    const x0 = x + <usize>i * xRow;
    const s0 = quantizeRowI16(xq, x0, k), s1 = quantizeRowI16(xq + xs, x0 + xRow, k);
    const o = out + <usize>i * outRow;
    const n4 = n & ~3;
    for (let j = 0; j < n4; j += 4) tileQ8x2x4(o, xq, s0, s1, w, scale, j, k, n);
    if (n4 < n) {
      const wl = w + <usize>n4 * <usize>k, sl = scale + (<usize>n4 << 2), ol = o + (<usize>n4 << 2);
      matvecQ8(ol, xq, s0, wl, sl, k, n - n4); matvecQ8(ol + outRow, xq + xs, s1, wl, sl, k, n - n4);
    }
    i += 2;
  }
  for (; i < m; i++) {
    const sx = quantizeRowI16(xq, x + <usize>i * xRow, k);
    matvecQ8(out + <usize>i * outRow, xq, sx, w, scale, k, n);
  }
}

// ---- the relaxed-SIMD build's int8 path (ASC_FEATURE_RELAXED_SIMD; scripts/build-asm.mjs builds both) ----
// i32x4.relaxed_dot_i8x16_i7x16_add_s multiplies 16 int8 weights by 16 activations that must lie in 0..127 (x86
// VNNI and pmaddubsw read that operand as unsigned, Arm as signed: the two agree only there), summing four products
// per i32 lane onto an accumulator. Activations are quantised per row to ±Q_X7 and offset by +64 into 1..127, so
// W·(xq + 64) − 64·Σ_k W(j,k) = W·xq, with Σ_k W(j,k) read from just after the row scales (the caller writes it
// once, at load: writeQ8RowSums in src/kernels/kernels.ts). Every partial sum is an exact integer (pmaddubsw's i16
// pair sums stay below 2·127·127 < 2^15), so results are the same on every engine and for every batch size.
const Q_X7: f32 = 63;

// xq(k) = round(x(k) / sx) + 64 as u8 (1..127) with sx = max|x| / Q_X7; returns sx. 16 values per step; the cheap
// max and round-to-integer forms, as in quantizeRowI16.
function quantizeRowU7(xq: usize, x: usize, k: i32): f32 {
  const k16 = k & ~15;
  let vmax = f32x4.splat(0);
  let kk = 0;
  for (; kk < k16; kk += 16) {
    const o = <usize>kk << 2;
    vmax = f32x4.pmax(vmax, f32x4.pmax(
      f32x4.pmax(f32x4.abs(v128.load(x + o)), f32x4.abs(v128.load(x + o, 16))),
      f32x4.pmax(f32x4.abs(v128.load(x + o, 32)), f32x4.abs(v128.load(x + o, 48)))));
  }
  let amax = max(max(f32x4.extract_lane(vmax, 0), f32x4.extract_lane(vmax, 1)), max(f32x4.extract_lane(vmax, 2), f32x4.extract_lane(vmax, 3)));
  for (; kk < k; kk++) amax = max(amax, abs(load<f32>(x + (<usize>kk << 2))));
  const sx: f32 = amax > 0 ? amax / Q_X7 : 1;
  const inv: f32 = 1 / sx;
  const vi = f32x4.splat(inv), lo = f32x4.splat(-Q_X7), hi = f32x4.splat(Q_X7), off = i8x16.splat(64);
  kk = 0;
  for (; kk < k16; kk += 16) {
    const o = <usize>kk << 2;
    // clamped in f32 (x/sx can round a hair past 63; a NaN becomes −63), rounded, then narrowed: i32 → i16 → i8, +64
    const a = roundI32(f32x4.pmin(hi, f32x4.pmax(lo, f32x4.mul(v128.load(x + o), vi))));
    const b = roundI32(f32x4.pmin(hi, f32x4.pmax(lo, f32x4.mul(v128.load(x + o, 16), vi))));
    const c = roundI32(f32x4.pmin(hi, f32x4.pmax(lo, f32x4.mul(v128.load(x + o, 32), vi))));
    const d = roundI32(f32x4.pmin(hi, f32x4.pmax(lo, f32x4.mul(v128.load(x + o, 48), vi))));
    v128.store(xq + <usize>kk, i8x16.add(i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(a, b), i16x8.narrow_i32x4_s(c, d)), off));
  }
  for (; kk < k; kk++) {
    const v = min(Q_X7, max(-Q_X7, load<f32>(x + (<usize>kk << 2)) * inv));
    store<u8>(xq + <usize>kk, <u8>(<i32>nearest(v) + 64));
  }
  return sx;
}

@inline function rdot(acc: v128, w: v128, x: v128): v128 {
  return i32x4.relaxed_dot_i8x16_i7x16_add_s(w, x, acc);
}

// the one formula every path ends with: (W·(xq+64) − 64·Σw) · scale · sx
@inline function q7out(acc: i32, sum: usize, scale: usize, j: i32, sx: f32): f32 {
  return <f32>(acc - (load<i32>(sum + (<usize>j << 2)) << 6)) * load<f32>(scale + (<usize>j << 2)) * sx;
}

// [Σa, Σb, Σc, Σd]: the lane sums of four accumulators as one vector (a transposed reduction, 6 shuffles + 3 adds)
@inline function isum4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = i32x4.add(i32x4.shuffle(a, b, 0, 4, 1, 5), i32x4.shuffle(a, b, 2, 6, 3, 7));
  const cd = i32x4.add(i32x4.shuffle(c, d, 0, 4, 1, 5), i32x4.shuffle(c, d, 2, 6, 3, 7));
  return i32x4.add(i32x4.shuffle(ab, cd, 0, 1, 4, 5), i32x4.shuffle(ab, cd, 2, 3, 6, 7));
}

// q7out for four adjacent columns j..j+3 of one row, lane by lane the same operations in the same order:
// t = the four dot products, sum64 = 64·Σw of the four rows (i32), sc = their scales, sx = splat of the row scale
@inline function q7out4(o: usize, t: v128, sum64: v128, sc: v128, sx: v128): void {
  v128.store(o, f32x4.mul(f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(t, sum64)), sc), sx));
}

// The scalar tail (k mod 16 values) of a row against W rows w0..w0+3k, as a vector of four dot products.
@inline function tail4(x: usize, w0: usize, o: usize, k: usize): v128 {
  let t = i32x4.splat(0);
  for (; o < k; o++) {
    const u = i32x4.splat(<i32>load<u8>(x + o));
    let v = i32x4.splat(<i32>load<i8>(w0 + o));
    v = i32x4.replace_lane(v, 1, <i32>load<i8>(w0 + k + o));
    v = i32x4.replace_lane(v, 2, <i32>load<i8>(w0 + 2 * k + o));
    v = i32x4.replace_lane(v, 3, <i32>load<i8>(w0 + 3 * k + o));
    t = i32x4.add(t, i32x4.mul(u, v));
  }
  return t;
}

// out(n) for one row: W rows j..j+3 stream together, 32 weights of each per step (eight accumulators: enough
// independent chains to keep two dot units busy), then 16, then a scalar tail; the four results leave as one vector.
function matvecQ7(out: usize, xq: usize, sx: f32, w: usize, scale: usize, sum: usize, k: i32, n: i32): void {
  const rowBytes = <usize>k;
  const n4 = n & ~3, n8 = n & ~7;
  const k32 = <usize>(k & ~31), k16 = <usize>(k & ~15);
  const vsx = f32x4.splat(sx);
  let j = 0;
  for (; j < n8; j += 8) {
    const p0 = w + <usize>j * rowBytes, p1 = p0 + rowBytes, p2 = p1 + rowBytes, p3 = p2 + rowBytes;
    const p4 = p3 + rowBytes, p5 = p4 + rowBytes, p6 = p5 + rowBytes, p7 = p6 + rowBytes;
    let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
    let b0 = i32x4.splat(0), b1 = i32x4.splat(0), b2 = i32x4.splat(0), b3 = i32x4.splat(0);
    let o: usize = 0;
    for (; o < k16; o += 16) {
      const xa = v128.load(xq + o);
      a0 = rdot(a0, v128.load(p0 + o), xa); a1 = rdot(a1, v128.load(p1 + o), xa);
      a2 = rdot(a2, v128.load(p2 + o), xa); a3 = rdot(a3, v128.load(p3 + o), xa);
      b0 = rdot(b0, v128.load(p4 + o), xa); b1 = rdot(b1, v128.load(p5 + o), xa);
      b2 = rdot(b2, v128.load(p6 + o), xa); b3 = rdot(b3, v128.load(p7 + o), xa);
    }
    let t = isum4(a0, a1, a2, a3), u = isum4(b0, b1, b2, b3);
    if (o < rowBytes) { t = i32x4.add(t, tail4(xq, p0, o, rowBytes)); u = i32x4.add(u, tail4(xq, p4, o, rowBytes)); }
    const c = <usize>j << 2;
    q7out4(out + c, t, i32x4.shl(v128.load(sum + c), 6), v128.load(scale + c), vsx);
    q7out4(out + c + 16, u, i32x4.shl(v128.load(sum + c, 16), 6), v128.load(scale + c, 16), vsx);
  }
  for (; j < n4; j += 4) {
    const p0 = w + <usize>j * rowBytes, p1 = p0 + rowBytes, p2 = p1 + rowBytes, p3 = p2 + rowBytes;
    let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
    let o: usize = 0;
    for (; o < k16; o += 16) {
      const xa = v128.load(xq + o);
      a0 = rdot(a0, v128.load(p0 + o), xa); a1 = rdot(a1, v128.load(p1 + o), xa);
      a2 = rdot(a2, v128.load(p2 + o), xa); a3 = rdot(a3, v128.load(p3 + o), xa);
    }
    let t = isum4(a0, a1, a2, a3);
    if (o < rowBytes) t = i32x4.add(t, tail4(xq, p0, o, rowBytes));
    const c = <usize>j << 2;
    q7out4(out + c, t, i32x4.shl(v128.load(sum + c), 6), v128.load(scale + c), vsx);
  }
  for (; j < n; j++) {
    const p = w + <usize>j * rowBytes;
    let a = i32x4.splat(0);
    let o: usize = 0;
    for (; o < k16; o += 16) a = rdot(a, v128.load(p + o), v128.load(xq + o));
    let s = isum(a);
    for (; o < rowBytes; o++) s += <i32>load<i8>(p + o) * <i32>load<u8>(xq + o);
    store<f32>(out + (<usize>j << 2), q7out(s, sum, scale, j, sx));
  }
}

// W rows j..j+3 against three quantised rows at xq (k bytes apart): 12 accumulators, 7 loads per 12 dots.
@inline function tileQ7x3x4(out: usize, xq: usize, s0: v128, s1: v128, s2: v128, w: usize, scale: usize, sum: usize, j: i32, k: i32, n: i32): void {
  const x0 = xq, x1 = x0 + <usize>k, x2 = x1 + <usize>k;
  const w0 = w + <usize>j * <usize>k, w1 = w0 + <usize>k, w2 = w1 + <usize>k, w3 = w2 + <usize>k;
  let a00 = i32x4.splat(0), a01 = i32x4.splat(0), a02 = i32x4.splat(0), a03 = i32x4.splat(0);
  let a10 = i32x4.splat(0), a11 = i32x4.splat(0), a12 = i32x4.splat(0), a13 = i32x4.splat(0);
  let a20 = i32x4.splat(0), a21 = i32x4.splat(0), a22 = i32x4.splat(0), a23 = i32x4.splat(0);
  const k16 = <usize>(k & ~15);
  let o: usize = 0;
  for (; o < k16; o += 16) {
    const u0 = v128.load(x0 + o), u1 = v128.load(x1 + o), u2 = v128.load(x2 + o);
    let v = v128.load(w0 + o);
    a00 = rdot(a00, v, u0); a10 = rdot(a10, v, u1); a20 = rdot(a20, v, u2);
    v = v128.load(w1 + o);
    a01 = rdot(a01, v, u0); a11 = rdot(a11, v, u1); a21 = rdot(a21, v, u2);
    v = v128.load(w2 + o);
    a02 = rdot(a02, v, u0); a12 = rdot(a12, v, u1); a22 = rdot(a22, v, u2);
    v = v128.load(w3 + o);
    a03 = rdot(a03, v, u0); a13 = rdot(a13, v, u1); a23 = rdot(a23, v, u2);
  }
  let t0 = isum4(a00, a01, a02, a03), t1 = isum4(a10, a11, a12, a13), t2 = isum4(a20, a21, a22, a23);
  if (o < <usize>k) {
    t0 = i32x4.add(t0, tail4(x0, w0, o, <usize>k));
    t1 = i32x4.add(t1, tail4(x1, w0, o, <usize>k));
    t2 = i32x4.add(t2, tail4(x2, w0, o, <usize>k));
  }
  const c = <usize>j << 2, outRow = <usize>n << 2;
  const u = i32x4.shl(v128.load(sum + c), 6), sc = v128.load(scale + c);
  const o0 = out + c;
  q7out4(o0, t0, u, sc, s0); q7out4(o0 + outRow, t1, u, sc, s1); q7out4(o0 + 2 * outRow, t2, u, sc, s2);
}

// W rows j..j+3 against two quantised rows: 8 accumulators, 6 loads per 8 dots.
@inline function tileQ7x2x4(out: usize, xq: usize, s0: v128, s1: v128, w: usize, scale: usize, sum: usize, j: i32, k: i32, n: i32): void {
  const x0 = xq, x1 = x0 + <usize>k;
  const w0 = w + <usize>j * <usize>k, w1 = w0 + <usize>k, w2 = w1 + <usize>k, w3 = w2 + <usize>k;
  let a00 = i32x4.splat(0), a01 = i32x4.splat(0), a02 = i32x4.splat(0), a03 = i32x4.splat(0);
  let a10 = i32x4.splat(0), a11 = i32x4.splat(0), a12 = i32x4.splat(0), a13 = i32x4.splat(0);
  const k16 = <usize>(k & ~15);
  let o: usize = 0;
  for (; o < k16; o += 16) {
    const u0 = v128.load(x0 + o), u1 = v128.load(x1 + o);
    let v = v128.load(w0 + o);
    a00 = rdot(a00, v, u0); a10 = rdot(a10, v, u1);
    v = v128.load(w1 + o);
    a01 = rdot(a01, v, u0); a11 = rdot(a11, v, u1);
    v = v128.load(w2 + o);
    a02 = rdot(a02, v, u0); a12 = rdot(a12, v, u1);
    v = v128.load(w3 + o);
    a03 = rdot(a03, v, u0); a13 = rdot(a13, v, u1);
  }
  let t0 = isum4(a00, a01, a02, a03), t1 = isum4(a10, a11, a12, a13);
  if (o < <usize>k) {
    t0 = i32x4.add(t0, tail4(x0, w0, o, <usize>k));
    t1 = i32x4.add(t1, tail4(x1, w0, o, <usize>k));
  }
  const c = <usize>j << 2;
  const u = i32x4.shl(v128.load(sum + c), 6), sc = v128.load(scale + c);
  const o0 = out + c;
  q7out4(o0, t0, u, sc, s0); q7out4(o0 + (<usize>n << 2), t1, u, sc, s1);
}

// Rows go three at a time (two where two or four are left, one through matvecQ7), each group against W in tiles
// of four adjacent rows; the n mod 4 last columns of a group go through matvecQ7 row by row.
function matmulQ7(out: usize, x: usize, w: usize, scale: usize, xq: usize, m: i32, k: i32, n: i32): void {
  const sum = scale + (<usize>n << 2);
  const xRow = <usize>k << 2, xs = <usize>k, outRow = <usize>n << 2;
  const n4 = n & ~3;
  const wl = w + <usize>n4 * <usize>k, sl = scale + (<usize>n4 << 2), ul = sum + (<usize>n4 << 2);
  let i = 0;
  while (i < m) {
    const r = m - i;
    const x0 = x + <usize>i * xRow;
    const o = out + <usize>i * outRow, ol = o + (<usize>n4 << 2);
    if (r == 1) {
      matvecQ7(o, xq, quantizeRowU7(xq, x0, k), w, scale, sum, k, n);
      i += 1;
    } else if (r == 2 || r == 4) {
      const s0 = quantizeRowU7(xq, x0, k), s1 = quantizeRowU7(xq + xs, x0 + xRow, k);
      const v0 = f32x4.splat(s0), v1 = f32x4.splat(s1);
      for (let j = 0; j < n4; j += 4) tileQ7x2x4(o, xq, v0, v1, w, scale, sum, j, k, n);
      if (n4 < n) {
        matvecQ7(ol, xq, s0, wl, sl, ul, k, n - n4); matvecQ7(ol + outRow, xq + xs, s1, wl, sl, ul, k, n - n4);
      }
      i += 2;
    } else {
      const s0 = quantizeRowU7(xq, x0, k), s1 = quantizeRowU7(xq + xs, x0 + xRow, k);
      const s2 = quantizeRowU7(xq + 2 * xs, x0 + 2 * xRow, k);
      const v0 = f32x4.splat(s0), v1 = f32x4.splat(s1), v2 = f32x4.splat(s2);
      for (let j = 0; j < n4; j += 4) tileQ7x3x4(o, xq, v0, v1, v2, w, scale, sum, j, k, n);
      if (n4 < n) {
        matvecQ7(ol, xq, s0, wl, sl, ul, k, n - n4); matvecQ7(ol + outRow, xq + xs, s1, wl, sl, ul, k, n - n4);
        matvecQ7(ol + 2 * outRow, xq + 2 * xs, s2, wl, sl, ul, k, n - n4);
      }
      i += 3;
    }
  }
}
