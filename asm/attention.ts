// Attention of m query rows over a KV cache. Every BLT mask is a contiguous key range per query row:
// causal [0, p+1), windowed causal [p−W+1, p+1), a BLT-D block [0, blockEnd) (clean prefix + itself),
// bytes → latents [0, patch), patch query → its bytes [start, end). The host fills kvLo/kvHi.
import { expShiftSum, hsumF32 } from "./math";

/**
 * out(m, nHeads·hd) = softmax(q·Kᵀ/√hd) · V per head, with query row i attending keys [kvLo[i], kvHi[i]).
 * q(m, nHeads·hd); k, v(nKeys, nKvHeads·hd), nHeads a multiple of nKvHeads (grouped-query heads share a KV head);
 * kvLo, kvHi(m) i32; scores is scratch for max(kvHi − kvLo) f32. An empty range gives a zero row.
 */
export function attentionF32(out: usize, q: usize, k: usize, v: usize, kvLo: usize, kvHi: usize, scores: usize,
                             m: i32, nHeads: i32, nKvHeads: i32, headDim: i32): void {
  const group = nHeads / nKvHeads;
  const hd4 = headDim & ~3;
  const qRow = <usize>nHeads * <usize>headDim * 4;
  const kvRow = <usize>nKvHeads * <usize>headDim * 4;
  const scale: f32 = 1 / sqrt<f32>(<f32>headDim);
  for (let i = 0; i < m; i++) {
    const lo = load<i32>(kvLo + (<usize>i << 2)), hi = load<i32>(kvHi + (<usize>i << 2));
    const n = hi - lo;
    for (let h = 0; h < nHeads; h++) {
      const qh = q + <usize>i * qRow + <usize>h * <usize>headDim * 4;
      const oh = out + <usize>i * qRow + <usize>h * <usize>headDim * 4;
      const kvOff = <usize>(h / group) * <usize>headDim * 4;
      if (n <= 0) { memory.fill(oh, 0, <usize>headDim << 2); continue; }
      // scores(n) = q·k / √hd
      let mx: f32 = -Infinity;
      for (let t = 0; t < n; t++) {
        const kt = k + <usize>(lo + t) * kvRow + kvOff;
        let acc = f32x4.splat(0);
        let c = 0;
        for (; c < hd4; c += 4) acc = f32x4.add(acc, f32x4.mul(v128.load(qh + (<usize>c << 2)), v128.load(kt + (<usize>c << 2))));
        let s = hsumF32(acc);
        for (; c < headDim; c++) s += load<f32>(qh + (<usize>c << 2)) * load<f32>(kt + (<usize>c << 2));
        s *= scale;
        store<f32>(scores + (<usize>t << 2), s);
        mx = max(mx, s);
      }
      // p(n) = exp(scores − max), sum
      const inv: f32 = 1 / expShiftSum(scores, n, mx);
      // out(hd) = Σ_t p_t · v_t / sum, four dims at a time
      let c = 0;
      for (; c < hd4; c += 4) {
        let acc = f32x4.splat(0);
        const vc = v + kvOff + (<usize>c << 2);
        for (let tt = 0; tt < n; tt++) {
          acc = f32x4.add(acc, f32x4.mul(f32x4.splat(load<f32>(scores + (<usize>tt << 2))), v128.load(vc + <usize>(lo + tt) * kvRow)));
        }
        v128.store(oh + (<usize>c << 2), f32x4.mul(acc, f32x4.splat(inv)));
      }
      for (; c < headDim; c++) {
        let s: f32 = 0;
        const vc = v + kvOff + (<usize>c << 2);
        for (let tt = 0; tt < n; tt++) s += load<f32>(scores + (<usize>tt << 2)) * load<f32>(vc + <usize>(lo + tt) * kvRow);
        store<f32>(oh + (<usize>c << 2), s * inv);
      }
    }
  }
}
