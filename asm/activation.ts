// Element-wise and row-wise activations: softmax, SiLU, GELU (tanh form), SwiGLU, residual add, max-pool.
import { expShiftSum, expV, hmaxF32 } from "./math";

// In place on x(m,n): each row ← softmax(row).
export function softmaxF32(x: usize, m: i32, n: i32): void {
  const n4 = n & ~3;
  for (let i = 0; i < m; i++) {
    const r = x + <usize>i * (<usize>n << 2);
    let vmax = f32x4.splat(-Infinity);
    let c = 0;
    for (; c < n4; c += 4) vmax = f32x4.max(vmax, v128.load(r + (<usize>c << 2)));
    let mx = hmaxF32(vmax);
    for (; c < n; c++) mx = max(mx, load<f32>(r + (<usize>c << 2)));
    const sum = expShiftSum(r, n, mx);
    const inv = f32x4.splat(1 / sum);
    c = 0;
    for (; c < n4; c += 4) { const o = <usize>c << 2; v128.store(r + o, f32x4.mul(v128.load(r + o), inv)); }
    const invS: f32 = 1 / sum;
    for (; c < n; c++) { const o = <usize>c << 2; store<f32>(r + o, load<f32>(r + o) * invS); }
  }
}

@inline function siluV(v: v128): v128 {
  return f32x4.div(v, f32x4.add(f32x4.splat(1), expV(f32x4.neg(v))));
}

// tanh-form GELU: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), with tanh(u) = 1 − 2/(e^{2u} + 1).
@inline function geluV(v: v128): v128 {
  const u = f32x4.mul(f32x4.splat(0.7978845608), f32x4.add(v, f32x4.mul(f32x4.splat(0.044715), f32x4.mul(v, f32x4.mul(v, v)))));
  const t = f32x4.sub(f32x4.splat(1), f32x4.div(f32x4.splat(2), f32x4.add(expV(f32x4.add(u, u)), f32x4.splat(1))));
  return f32x4.mul(f32x4.mul(f32x4.splat(0.5), v), f32x4.add(f32x4.splat(1), t));
}

// out(n) = silu(x(n)) = x / (1 + e^{−x}). out may alias x.
export function siluF32(out: usize, x: usize, n: i32): void {
  let c = 0;
  for (; c + 4 <= n; c += 4) { const o = <usize>c << 2; v128.store(out + o, siluV(v128.load(x + o))); }
  for (; c < n; c++) { const o = <usize>c << 2; store<f32>(out + o, f32x4.extract_lane(siluV(f32x4.splat(load<f32>(x + o))), 0)); }
}

// out(n) = gelu(x(n)), tanh form. out may alias x.
export function geluF32(out: usize, x: usize, n: i32): void {
  let c = 0;
  for (; c + 4 <= n; c += 4) { const o = <usize>c << 2; v128.store(out + o, geluV(v128.load(x + o))); }
  for (; c < n; c++) { const o = <usize>c << 2; store<f32>(out + o, f32x4.extract_lane(geluV(f32x4.splat(load<f32>(x + o))), 0)); }
}

// out(n) = silu(gate(n)) · up(n). out may alias gate or up.
export function swigluF32(out: usize, gate: usize, up: usize, n: i32): void {
  let c = 0;
  for (; c + 4 <= n; c += 4) {
    const o = <usize>c << 2;
    v128.store(out + o, f32x4.mul(siluV(v128.load(gate + o)), v128.load(up + o)));
  }
  for (; c < n; c++) {
    const o = <usize>c << 2;
    store<f32>(out + o, f32x4.extract_lane(siluV(f32x4.splat(load<f32>(gate + o))), 0) * load<f32>(up + o));
  }
}

// out(n) = a(n) + b(n): the residual add. out may alias a or b.
export function addF32(out: usize, a: usize, b: usize, n: i32): void {
  let c = 0;
  for (; c + 4 <= n; c += 4) { const o = <usize>c << 2; v128.store(out + o, f32x4.add(v128.load(a + o), v128.load(b + o))); }
  for (; c < n; c++) { const o = <usize>c << 2; store<f32>(out + o, load<f32>(a + o) + load<f32>(b + o)); }
}

// out(d) = max over rows of x(m,d), m ≥ 1: the initial query of patch pooling.
export function maxPoolF32(out: usize, x: usize, m: i32, d: i32): void {
  const d4 = d & ~3;
  const rowBytes = <usize>d << 2;
  let c = 0;
  for (; c < d4; c += 4) {
    const o = <usize>c << 2;
    let v = v128.load(x + o);
    for (let i = 1; i < m; i++) v = f32x4.max(v, v128.load(x + <usize>i * rowBytes + o));
    v128.store(out + o, v);
  }
  for (; c < d; c++) {
    const o = <usize>c << 2;
    let v = load<f32>(x + o);
    for (let i = 1; i < m; i++) v = max(v, load<f32>(x + <usize>i * rowBytes + o));
    store<f32>(out + o, v);
  }
}
