// Vector math shared by the kernels: exp on f32x4 (Cephes-style, max relative error ≈ 2e-7).

const LOG2E: f32 = 1.44269504;
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440e-4;

// 1.5·2^23: adding it to an f32 v with |v| < 2^22 rounds v to an integer (to nearest, ties to even: IEEE addition's
// own rounding) and leaves that integer in the low mantissa bits, so the sum's bits minus MAGIC's are the i32.
// Two cheap instructions instead of f32x4.nearest + i32x4.trunc_sat_f32x4_s (about eight on x86 in V8), the same
// result for every |v| < 2^22.
const MAGIC: f32 = 12582912.0;
const MAGIC_BITS: i32 = 0x4b400000;

// a·b + c lane-wise. The relaxed build fuses it (f32x4.relaxed_madd: one FMA instruction where the CPU has one, so
// the product is not rounded on its own; where it has none, mul then add); the SIMD128 build rounds the product,
// then the sum. Within one build on one machine a given input always gives the same result.
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}

// round-to-nearest-even of each lane as i32, for lanes with |v| < 2^22
@inline export function roundI32(v: v128): v128 {
  return i32x4.sub(f32x4.add(v, f32x4.splat(MAGIC)), i32x4.splat(MAGIC_BITS));
}

// exp(x) lane-wise; inputs are clamped to [-87.3, 88] so results stay finite and normal (pmin/pmax: one instruction
// each, the same as min/max on everything but NaN, which passes through).
@inline export function expV(x0: v128): v128 {
  const x = f32x4.pmin(f32x4.pmax(x0, f32x4.splat(-87.3)), f32x4.splat(88.0));
  // fx = nearest(x·log2 e) as f32 (|x·log2 e| ≤ 127), and as i32 in n
  const t = f32x4.add(f32x4.mul(x, f32x4.splat(LOG2E)), f32x4.splat(MAGIC));
  const fx = f32x4.sub(t, f32x4.splat(MAGIC));
  const n = i32x4.sub(t, i32x4.splat(MAGIC_BITS));
  let r = f32x4.sub(x, f32x4.mul(fx, f32x4.splat(LN2_HI)));
  r = f32x4.sub(r, f32x4.mul(fx, f32x4.splat(LN2_LO)));
  let p = f32x4.splat(1.9875691500e-4);
  p = madd(p, r, f32x4.splat(1.3981999507e-3));
  p = madd(p, r, f32x4.splat(8.3334519073e-3));
  p = madd(p, r, f32x4.splat(4.1665795894e-2));
  p = madd(p, r, f32x4.splat(1.6666665459e-1));
  p = madd(p, r, f32x4.splat(5.0000001201e-1));
  const r2 = f32x4.mul(r, r);
  p = f32x4.add(f32x4.add(f32x4.mul(p, r2), r), f32x4.splat(1));
  const e = i32x4.shl(i32x4.add(n, i32x4.splat(127)), 23);
  return f32x4.mul(p, e);
}

@inline export function expS(x: f32): f32 {
  return f32x4.extract_lane(expV(f32x4.splat(x)), 0);
}

@inline export function hsumF32(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) +
         f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

@inline export function hmaxF32(v: v128): f32 {
  return max(max(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)),
             max(f32x4.extract_lane(v, 2), f32x4.extract_lane(v, 3)));
}

/** In place on x(n): x ← exp(x − mx); returns Σ x. The softmax numerator, shared by softmax and attention. */
@inline export function expShiftSum(x: usize, n: i32, mx: f32): f32 {
  const vm = f32x4.splat(mx);
  let acc = f32x4.splat(0);
  let t = 0;
  for (; t + 4 <= n; t += 4) {
    const o = <usize>t << 2;
    const e = expV(f32x4.sub(v128.load(x + o), vm));
    v128.store(x + o, e);
    acc = f32x4.add(acc, e);
  }
  let sum = hsumF32(acc);
  for (; t < n; t++) {
    const o = <usize>t << 2;
    const e = f32x4.extract_lane(expV(f32x4.splat(load<f32>(x + o) - mx)), 0);
    store<f32>(x + o, e);
    sum += e;
  }
  return sum;
}
