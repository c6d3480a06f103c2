// Normalisation: RMSNorm and LayerNorm over the last dimension, row by row.
import { hsumF32 } from "./math";

// out(m,d) = x(m,d) / sqrt(mean(x²) + eps) · w(d). out may alias x.
export function rmsNormF32(out: usize, x: usize, w: usize, m: i32, d: i32, eps: f32): void {
  const d4 = d & ~3;
  for (let i = 0; i < m; i++) {
    const xr = x + <usize>i * (<usize>d << 2), orow = out + <usize>i * (<usize>d << 2);
    let acc = f32x4.splat(0);
    let c = 0;
    for (; c < d4; c += 4) { const v = v128.load(xr + (<usize>c << 2)); acc = f32x4.add(acc, f32x4.mul(v, v)); }
    let ss = hsumF32(acc);
    for (; c < d; c++) { const v = load<f32>(xr + (<usize>c << 2)); ss += v * v; }
    const inv: f32 = 1 / sqrt<f32>(ss / <f32>d + eps);
    const vi = f32x4.splat(inv);
    c = 0;
    for (; c < d4; c += 4) {
      const o = <usize>c << 2;
      v128.store(orow + o, f32x4.mul(f32x4.mul(v128.load(xr + o), vi), v128.load(w + o)));
    }
    for (; c < d; c++) { const o = <usize>c << 2; store<f32>(orow + o, load<f32>(xr + o) * inv * load<f32>(w + o)); }
  }
}

// out(m,d) = (x − mean) / sqrt(var + eps) · w(d) + b(d). out may alias x.
export function layerNormF32(out: usize, x: usize, w: usize, b: usize, m: i32, d: i32, eps: f32): void {
  const d4 = d & ~3;
  for (let i = 0; i < m; i++) {
    const xr = x + <usize>i * (<usize>d << 2), orow = out + <usize>i * (<usize>d << 2);
    let acc = f32x4.splat(0);
    let c = 0;
    for (; c < d4; c += 4) acc = f32x4.add(acc, v128.load(xr + (<usize>c << 2)));
    let s = hsumF32(acc);
    for (; c < d; c++) s += load<f32>(xr + (<usize>c << 2));
    const mean: f32 = s / <f32>d;
    const vm = f32x4.splat(mean);
    acc = f32x4.splat(0);
    c = 0;
    for (; c < d4; c += 4) { const v = f32x4.sub(v128.load(xr + (<usize>c << 2)), vm); acc = f32x4.add(acc, f32x4.mul(v, v)); }
    let ss = hsumF32(acc);
    for (; c < d; c++) { const v = load<f32>(xr + (<usize>c << 2)) - mean; ss += v * v; }
    const inv: f32 = 1 / sqrt<f32>(ss / <f32>d + eps);
    const vi = f32x4.splat(inv);
    c = 0;
    for (; c < d4; c += 4) {
      const o = <usize>c << 2;
      const v = f32x4.mul(f32x4.sub(v128.load(xr + o), vm), vi);
      v128.store(orow + o, f32x4.add(f32x4.mul(v, v128.load(w + o)), v128.load(b + o)));
    }
    for (; c < d; c++) {
      const o = <usize>c << 2;
      store<f32>(orow + o, (load<f32>(xr + o) - mean) * inv * load<f32>(w + o) + load<f32>(b + o));
    }
  }
}
