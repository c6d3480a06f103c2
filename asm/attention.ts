// Attention of m query rows over a KV cache. Every BLT mask is a contiguous key range per query row:
// causal [0, p+1), windowed causal [p−W+1, p+1), a BLT-D block [0, blockEnd) (clean prefix + itself),
// bytes → latents [0, patch), patch query → its bytes [start, end). The host fills kvLo/kvHi.
// A row's arithmetic depends only on its own q, range and the cache, never on m or its neighbours, so a
// batched pass reproduces one-row-at-a-time decoding exactly.
import { expShiftSum, madd } from "./math";

// (Σa, Σb, Σc, Σd): the lane sums of four vectors in one vector (lanes summed as (0+2)+(1+3)).
@inline function hsum4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = f32x4.add(v128.shuffle<f32>(a, b, 0, 4, 1, 5), v128.shuffle<f32>(a, b, 2, 6, 3, 7));
  const cd = f32x4.add(v128.shuffle<f32>(c, d, 0, 4, 1, 5), v128.shuffle<f32>(c, d, 2, 6, 3, 7));
  return f32x4.add(v128.shuffle<f32>(ab, cd, 0, 1, 4, 5), v128.shuffle<f32>(ab, cd, 2, 3, 6, 7));
}

// scores(t) = scale · q·k_t for keys t = 0..n−1 starting at k0 (rows kvRow bytes apart); returns the max.
// Four keys per step (four independent dot products, then one transpose-sum); hd4 = headDim & ~3.
@inline function scoreKeys(scores: usize, qh: usize, k0: usize, kvRow: usize, n: i32, headDim: i32, scale: f32): f32 {
  const hdBytes = <usize>(headDim & ~3) << 2;
  const vs = f32x4.splat(scale);
  let vmax = f32x4.splat(-Infinity);
  let t = 0;
  for (; t + 4 <= n; t += 4) {
    const k1 = k0 + <usize>t * kvRow, k2 = k1 + kvRow, k3 = k2 + kvRow, k4 = k3 + kvRow;
    let a = f32x4.splat(0), b = f32x4.splat(0), c = f32x4.splat(0), d = f32x4.splat(0);
    for (let o: usize = 0; o < hdBytes; o += 16) {
      const qv = v128.load(qh + o);
      a = f32x4.add(a, f32x4.mul(qv, v128.load(k1 + o)));
      b = f32x4.add(b, f32x4.mul(qv, v128.load(k2 + o)));
      c = f32x4.add(c, f32x4.mul(qv, v128.load(k3 + o)));
      d = f32x4.add(d, f32x4.mul(qv, v128.load(k4 + o)));
    }
    let s = hsum4(a, b, c, d);
    for (let e = headDim & ~3; e < headDim; e++) { // ragged head dims: the scalar tail, lane-wise
      const qe = f32x4.splat(load<f32>(qh + (<usize>e << 2)));
      let kv = f32x4.splat(0);
      kv = f32x4.replace_lane(kv, 0, load<f32>(k1 + (<usize>e << 2)));
      kv = f32x4.replace_lane(kv, 1, load<f32>(k2 + (<usize>e << 2)));
      kv = f32x4.replace_lane(kv, 2, load<f32>(k3 + (<usize>e << 2)));
      kv = f32x4.replace_lane(kv, 3, load<f32>(k4 + (<usize>e << 2)));
      s = f32x4.add(s, f32x4.mul(qe, kv));
    }
    s = f32x4.mul(s, vs);
    v128.store(scores + (<usize>t << 2), s);
    vmax = f32x4.pmax(vmax, s);
  }
  let mx = max(max(f32x4.extract_lane(vmax, 0), f32x4.extract_lane(vmax, 1)), max(f32x4.extract_lane(vmax, 2), f32x4.extract_lane(vmax, 3)));
  for (; t < n; t++) {
    const kt = k0 + <usize>t * kvRow;
    let a = f32x4.splat(0);
    for (let o: usize = 0; o < hdBytes; o += 16) a = f32x4.add(a, f32x4.mul(v128.load(qh + o), v128.load(kt + o)));
    let s = f32x4.extract_lane(hsum4(a, a, a, a), 0);
    for (let e = headDim & ~3; e < headDim; e++) s += load<f32>(qh + (<usize>e << 2)) * load<f32>(kt + (<usize>e << 2));
    s *= scale;
    store<f32>(scores + (<usize>t << 2), s);
    mx = max(mx, s);
  }
  return mx;
}

// scoreKeys for headDim 32 (every local model's heads): q's 8 vectors stay in registers, 4 keys per step,
// each key's dot product summed in the same order as scoreKeys's.
@inline function scoreKeys32(scores: usize, qh: usize, k0: usize, kvRow: usize, n: i32, scale: f32): f32 {
  const q0 = v128.load(qh), q1 = v128.load(qh, 16), q2 = v128.load(qh, 32), q3 = v128.load(qh, 48);
  const q4 = v128.load(qh, 64), q5 = v128.load(qh, 80), q6 = v128.load(qh, 96), q7 = v128.load(qh, 112);
  const vs = f32x4.splat(scale);
  let vmax = f32x4.splat(-Infinity);
  let t = 0;
  let kr = k0;
  for (; t + 4 <= n; t += 4) {
    const s = f32x4.mul(hsum4(dot32(kr, q0, q1, q2, q3, q4, q5, q6, q7), dot32(kr + kvRow, q0, q1, q2, q3, q4, q5, q6, q7),
                              dot32(kr + 2 * kvRow, q0, q1, q2, q3, q4, q5, q6, q7), dot32(kr + 3 * kvRow, q0, q1, q2, q3, q4, q5, q6, q7)), vs);
    v128.store(scores + (<usize>t << 2), s);
    vmax = f32x4.pmax(vmax, s);
    kr += 4 * kvRow;
  }
  let mx = max(max(f32x4.extract_lane(vmax, 0), f32x4.extract_lane(vmax, 1)), max(f32x4.extract_lane(vmax, 2), f32x4.extract_lane(vmax, 3)));
  for (; t < n; t++, kr += kvRow) {
    const a = dot32(kr, q0, q1, q2, q3, q4, q5, q6, q7);
    const s = f32x4.extract_lane(hsum4(a, a, a, a), 0) * scale;
    store<f32>(scores + (<usize>t << 2), s);
    mx = max(mx, s);
  }
  return mx;
}

// The lane-wise partial sums of q·k over 32 dims, accumulated in dim order as scoreKeys does.
@inline function dot32(kr: usize, q0: v128, q1: v128, q2: v128, q3: v128, q4: v128, q5: v128, q6: v128, q7: v128): v128 {
  let a = f32x4.mul(q0, v128.load(kr));
  a = madd(q1, v128.load(kr, 16), a);
  a = madd(q2, v128.load(kr, 32), a);
  a = madd(q3, v128.load(kr, 48), a);
  a = madd(q4, v128.load(kr, 64), a);
  a = madd(q5, v128.load(kr, 80), a);
  a = madd(q6, v128.load(kr, 96), a);
  return madd(q7, v128.load(kr, 112), a);
}

// a + p·v + q·w: in the SIMD128 build the two products summed first, then added (today's order); fused in the
// relaxed build, one key after the other
@inline function acc2(a: v128, p: v128, v: v128, q: v128, w: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return madd(q, w, madd(p, v, a));
  return f32x4.add(a, f32x4.add(f32x4.mul(p, v), f32x4.mul(q, w)));
}

// out(hd) = inv · Σ_t p_t · v_t over keys t = 0..n−1 from v0; value rows summed in key order (two keys per step
// for 32-dim groups), dims in groups of 8 vectors (32 floats), then 1 vector, then scalars.
@inline function weightValues(oh: usize, p: usize, v0: usize, kvRow: usize, n: i32, headDim: i32, inv: f32): void {
  const vi = f32x4.splat(inv);
  let c: usize = 0;
  const hd32 = <usize>(headDim & ~31) << 2, hd4 = <usize>(headDim & ~3) << 2, hdb = <usize>headDim << 2;
  for (; c < hd32; c += 128) {
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let a4 = f32x4.splat(0), a5 = f32x4.splat(0), a6 = f32x4.splat(0), a7 = f32x4.splat(0);
    let vr = v0 + c;
    let t = 0;
    for (; t + 2 <= n; t += 2, vr += 2 * kvRow) {
      const pt = v128.load32_splat(p + (<usize>t << 2)), pu = v128.load32_splat(p + (<usize>t << 2), 4);
      const vs = vr + kvRow;
      a0 = acc2(a0, pt, v128.load(vr), pu, v128.load(vs));
      a1 = acc2(a1, pt, v128.load(vr, 16), pu, v128.load(vs, 16));
      a2 = acc2(a2, pt, v128.load(vr, 32), pu, v128.load(vs, 32));
      a3 = acc2(a3, pt, v128.load(vr, 48), pu, v128.load(vs, 48));
      a4 = acc2(a4, pt, v128.load(vr, 64), pu, v128.load(vs, 64));
      a5 = acc2(a5, pt, v128.load(vr, 80), pu, v128.load(vs, 80));
      a6 = acc2(a6, pt, v128.load(vr, 96), pu, v128.load(vs, 96));
      a7 = acc2(a7, pt, v128.load(vr, 112), pu, v128.load(vs, 112));
    }
    if (t < n) {
      const pt = v128.load32_splat(p + (<usize>t << 2));
      a0 = madd(pt, v128.load(vr), a0);
      a1 = madd(pt, v128.load(vr, 16), a1);
      a2 = madd(pt, v128.load(vr, 32), a2);
      a3 = madd(pt, v128.load(vr, 48), a3);
      a4 = madd(pt, v128.load(vr, 64), a4);
      a5 = madd(pt, v128.load(vr, 80), a5);
      a6 = madd(pt, v128.load(vr, 96), a6);
      a7 = madd(pt, v128.load(vr, 112), a7);
    }
    const o = oh + c;
    v128.store(o, f32x4.mul(a0, vi)); v128.store(o, f32x4.mul(a1, vi), 16);
    v128.store(o, f32x4.mul(a2, vi), 32); v128.store(o, f32x4.mul(a3, vi), 48);
    v128.store(o, f32x4.mul(a4, vi), 64); v128.store(o, f32x4.mul(a5, vi), 80);
    v128.store(o, f32x4.mul(a6, vi), 96); v128.store(o, f32x4.mul(a7, vi), 112);
  }
  for (; c < hd4; c += 16) {
    let a = f32x4.splat(0);
    let vr = v0 + c;
    for (let t = 0; t < n; t++, vr += kvRow) a = f32x4.add(a, f32x4.mul(v128.load32_splat(p + (<usize>t << 2)), v128.load(vr)));
    v128.store(oh + c, f32x4.mul(a, vi));
  }
  for (; c < hdb; c += 4) {
    let s: f32 = 0;
    let vr = v0 + c;
    for (let t = 0; t < n; t++, vr += kvRow) s += load<f32>(p + (<usize>t << 2)) * load<f32>(vr);
    store<f32>(oh + c, s * inv);
  }
}

/**
 * out(m, nHeads·hd) = softmax(q·Kᵀ/√hd) · V per head, with query row i attending keys [kvLo[i], kvHi[i]).
 * q(m, nHeads·hd); k, v(nKeys, nKvHeads·hd), nHeads a multiple of nKvHeads (grouped-query heads share a KV head);
 * kvLo, kvHi(m) i32; scores is scratch for max(kvHi − kvLo) f32. An empty range gives a zero row.
 */
export function attentionF32(out: usize, q: usize, k: usize, v: usize, kvLo: usize, kvHi: usize, scores: usize,
                             m: i32, nHeads: i32, nKvHeads: i32, headDim: i32): void {
  const group = nHeads / nKvHeads;
  const qRow = <usize>nHeads * <usize>headDim * 4;
  const kvRow = <usize>nKvHeads * <usize>headDim * 4;
  const scale: f32 = 1 / sqrt<f32>(<f32>headDim);
  for (let i = 0; i < m; i++) {
    const lo = load<i32>(kvLo + (<usize>i << 2)), hi = load<i32>(kvHi + (<usize>i << 2));
    const n = hi - lo;
    for (let h = 0; h < nHeads; h++) {
      const qh = q + <usize>i * qRow + <usize>h * <usize>headDim * 4;
      const oh = out + <usize>i * qRow + <usize>h * <usize>headDim * 4;
      const kvOff = <usize>(h / group) * <usize>headDim * 4 + <usize>lo * kvRow;
      if (n <= 0) { memory.fill(oh, 0, <usize>headDim << 2); continue; }
      const mx = headDim == 32 ? scoreKeys32(scores, qh, k + kvOff, kvRow, n, scale) : scoreKeys(scores, qh, k + kvOff, kvRow, n, headDim, scale);
      const inv: f32 = 1 / expShiftSum(scores, n, mx);
      weightValues(oh, scores, v + kvOff, kvRow, n, headDim, inv);
    }
  }
}
