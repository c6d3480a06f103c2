// Register-only loops, one per SIMD instruction kind the matmul kernels are built on: the most multiply-adds per
// second the engine running them can issue on this CPU, with no memory traffic at all. Built into wasm/peak.wasm
// (relaxed SIMD enabled) for `npm run bench:kernels` only; the kernels never call these. Twelve independent
// accumulators per loop hide each instruction's latency; each loop returns its accumulators' sum so that nothing
// is optimised away. Every function runs `iters` iterations of 12 instructions (or instruction pairs).

@inline function isum(v: v128): i32 {
  return i32x4.extract_lane(v, 0) + i32x4.extract_lane(v, 1) + i32x4.extract_lane(v, 2) + i32x4.extract_lane(v, 3);
}
@inline function fsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

/** i32x4.dot_i16x8_s then i32x4.add (the SIMD128 build's int8 path): 8 multiply-adds per pair. */
export function peakDotI16x8(iters: i32, seed: i32): i32 {
  const y = i16x8.splat(<i16>(seed | 1));
  let c0 = i32x4.splat(seed), c1 = i32x4.splat(seed + 1), c2 = i32x4.splat(seed + 2), c3 = i32x4.splat(seed + 3);
  let c4 = i32x4.splat(seed + 4), c5 = i32x4.splat(seed + 5), c6 = i32x4.splat(seed + 6), c7 = i32x4.splat(seed + 7);
  let c8 = i32x4.splat(seed + 8), c9 = i32x4.splat(seed + 9), ca = i32x4.splat(seed + 10), cb = i32x4.splat(seed + 11);
  for (let i = 0; i < iters; i++) {
    // each accumulator is also an operand, so the dot cannot be hoisted out of the loop
    c0 = i32x4.add(c0, i32x4.dot_i16x8_s(c0, y)); c1 = i32x4.add(c1, i32x4.dot_i16x8_s(c1, y));
    c2 = i32x4.add(c2, i32x4.dot_i16x8_s(c2, y)); c3 = i32x4.add(c3, i32x4.dot_i16x8_s(c3, y));
    c4 = i32x4.add(c4, i32x4.dot_i16x8_s(c4, y)); c5 = i32x4.add(c5, i32x4.dot_i16x8_s(c5, y));
    c6 = i32x4.add(c6, i32x4.dot_i16x8_s(c6, y)); c7 = i32x4.add(c7, i32x4.dot_i16x8_s(c7, y));
    c8 = i32x4.add(c8, i32x4.dot_i16x8_s(c8, y)); c9 = i32x4.add(c9, i32x4.dot_i16x8_s(c9, y));
    ca = i32x4.add(ca, i32x4.dot_i16x8_s(ca, y)); cb = i32x4.add(cb, i32x4.dot_i16x8_s(cb, y));
  }
  return isum(i32x4.add(i32x4.add(i32x4.add(c0, c1), i32x4.add(c2, c3)), i32x4.add(i32x4.add(c4, c5), i32x4.add(c6, c7)))) +
    isum(i32x4.add(i32x4.add(c8, c9), i32x4.add(ca, cb)));
}

/** i32x4.relaxed_dot_i8x16_i7x16_add_s (the relaxed build's int8 path; VNNI's vpdpbusd): 16 multiply-adds each. */
export function peakRelaxedDotI8x16(iters: i32, seed: i32): i32 {
  const x = i8x16.splat(<i8>seed), y = i8x16.splat(<i8>((seed & 63) + 1));
  let c0 = i32x4.splat(seed), c1 = i32x4.splat(seed + 1), c2 = i32x4.splat(seed + 2), c3 = i32x4.splat(seed + 3);
  let c4 = i32x4.splat(seed + 4), c5 = i32x4.splat(seed + 5), c6 = i32x4.splat(seed + 6), c7 = i32x4.splat(seed + 7);
  let c8 = i32x4.splat(seed + 8), c9 = i32x4.splat(seed + 9), ca = i32x4.splat(seed + 10), cb = i32x4.splat(seed + 11);
  for (let i = 0; i < iters; i++) {
    c0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x, y, c0); c1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x, y, c1);
    c2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x, y, c2); c3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x, y, c3);
    c4 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x, y, c4); c5 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x, y, c5);
    c6 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x, y, c6); c7 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x, y, c7);
    c8 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x, y, c8); c9 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x, y, c9);
    ca = i32x4.relaxed_dot_i8x16_i7x16_add_s(x, y, ca); cb = i32x4.relaxed_dot_i8x16_i7x16_add_s(x, y, cb);
  }
  return isum(i32x4.add(i32x4.add(i32x4.add(c0, c1), i32x4.add(c2, c3)), i32x4.add(i32x4.add(c4, c5), i32x4.add(c6, c7)))) +
    isum(i32x4.add(i32x4.add(c8, c9), i32x4.add(ca, cb)));
}

/** f32x4.mul then f32x4.add (the f32 kernels): 4 multiply-adds per pair. c ← c·½ + 1 stays near 2 (no denormals). */
export function peakF32MulAdd(iters: i32, seed: f32): f32 {
  const y = f32x4.splat(0.5), z = f32x4.splat(1);
  let c0 = f32x4.splat(seed), c1 = f32x4.splat(seed + 1), c2 = f32x4.splat(seed + 2), c3 = f32x4.splat(seed + 3);
  let c4 = f32x4.splat(seed + 4), c5 = f32x4.splat(seed + 5), c6 = f32x4.splat(seed + 6), c7 = f32x4.splat(seed + 7);
  let c8 = f32x4.splat(seed + 8), c9 = f32x4.splat(seed + 9), ca = f32x4.splat(seed + 10), cb = f32x4.splat(seed + 11);
  for (let i = 0; i < iters; i++) {
    c0 = f32x4.add(f32x4.mul(c0, y), z); c1 = f32x4.add(f32x4.mul(c1, y), z); c2 = f32x4.add(f32x4.mul(c2, y), z);
    c3 = f32x4.add(f32x4.mul(c3, y), z); c4 = f32x4.add(f32x4.mul(c4, y), z); c5 = f32x4.add(f32x4.mul(c5, y), z);
    c6 = f32x4.add(f32x4.mul(c6, y), z); c7 = f32x4.add(f32x4.mul(c7, y), z); c8 = f32x4.add(f32x4.mul(c8, y), z);
    c9 = f32x4.add(f32x4.mul(c9, y), z); ca = f32x4.add(f32x4.mul(ca, y), z); cb = f32x4.add(f32x4.mul(cb, y), z);
  }
  return fsum(f32x4.add(f32x4.add(f32x4.add(c0, c1), f32x4.add(c2, c3)), f32x4.add(f32x4.add(c4, c5), f32x4.add(c6, c7)))) +
    fsum(f32x4.add(f32x4.add(c8, c9), f32x4.add(ca, cb)));
}

/** f32x4.relaxed_madd (fused where the CPU has FMA): 4 multiply-adds each. */
export function peakF32RelaxedMadd(iters: i32, seed: f32): f32 {
  const y = f32x4.splat(0.5), z = f32x4.splat(1);
  let c0 = f32x4.splat(seed), c1 = f32x4.splat(seed + 1), c2 = f32x4.splat(seed + 2), c3 = f32x4.splat(seed + 3);
  let c4 = f32x4.splat(seed + 4), c5 = f32x4.splat(seed + 5), c6 = f32x4.splat(seed + 6), c7 = f32x4.splat(seed + 7);
  let c8 = f32x4.splat(seed + 8), c9 = f32x4.splat(seed + 9), ca = f32x4.splat(seed + 10), cb = f32x4.splat(seed + 11);
  for (let i = 0; i < iters; i++) {
    c0 = f32x4.relaxed_madd(c0, y, z); c1 = f32x4.relaxed_madd(c1, y, z); c2 = f32x4.relaxed_madd(c2, y, z);
    c3 = f32x4.relaxed_madd(c3, y, z); c4 = f32x4.relaxed_madd(c4, y, z); c5 = f32x4.relaxed_madd(c5, y, z);
    c6 = f32x4.relaxed_madd(c6, y, z); c7 = f32x4.relaxed_madd(c7, y, z); c8 = f32x4.relaxed_madd(c8, y, z);
    c9 = f32x4.relaxed_madd(c9, y, z); ca = f32x4.relaxed_madd(ca, y, z); cb = f32x4.relaxed_madd(cb, y, z);
  }
  return fsum(f32x4.add(f32x4.add(f32x4.add(c0, c1), f32x4.add(c2, c3)), f32x4.add(f32x4.add(c4, c5), f32x4.add(c6, c7)))) +
    fsum(f32x4.add(f32x4.add(c8, c9), f32x4.add(ca, cb)));
}
