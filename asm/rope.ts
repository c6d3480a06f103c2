// Rotary position embedding, "rotate-half" convention: dims (i, i + h/2) form a pair.

/**
 * In place on x(m, rowStride): for each row r and head h, with p = positions[r] and half = headDim/2,
 * (x1, x2) ← (x1·cos − x2·sin, x2·cos + x1·sin), where cos/sin = cosSin[p·headDim + i], cosSin[p·headDim + half + i].
 * cosSin(maxPos, headDim) holds cos(p·θ_i) in its first half and sin(p·θ_i) in its second.
 */
export function ropeF32(x: usize, positions: usize, cosSin: usize, m: i32, nHeads: i32, headDim: i32, rowStride: i32): void {
  const half = headDim >> 1;
  const half4 = half & ~3;
  const halfBytes = <usize>half << 2;
  for (let r = 0; r < m; r++) {
    const p = load<i32>(positions + (<usize>r << 2));
    const cs = cosSin + <usize>p * (<usize>headDim << 2);
    const sn = cs + halfBytes;
    for (let h = 0; h < nHeads; h++) {
      const a = x + (<usize>r * <usize>rowStride + <usize>h * <usize>headDim) * 4;
      const b = a + halfBytes;
      let i = 0;
      for (; i < half4; i += 4) {
        const o = <usize>i << 2;
        const x1 = v128.load(a + o), x2 = v128.load(b + o);
        const c = v128.load(cs + o), s = v128.load(sn + o);
        v128.store(a + o, f32x4.sub(f32x4.mul(x1, c), f32x4.mul(x2, s)));
        v128.store(b + o, f32x4.add(f32x4.mul(x2, c), f32x4.mul(x1, s)));
      }
      for (; i < half; i++) {
        const o = <usize>i << 2;
        const x1 = load<f32>(a + o), x2 = load<f32>(b + o);
        const c = load<f32>(cs + o), s = load<f32>(sn + o);
        store<f32>(a + o, x1 * c - x2 * s);
        store<f32>(b + o, x2 * c + x1 * s);
      }
    }
  }
}
