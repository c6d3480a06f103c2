// Key ranges for attentionF32: every mask BLT needs is one contiguous range [lo, hi) per query row.
// These fill caller-owned i32 arrays, so decoding loops allocate nothing.

/** Causal (window = Infinity) or windowed causal: query at position pos0+i sees [pos0+i−window+1, pos0+i+1). */
export function fillCausalRanges(lo: Int32Array, hi: Int32Array, pos0: number, m: number, window = Infinity): void {
  for (let i = 0; i < m; i++) {
    const p = pos0 + i;
    lo[i] = Math.max(0, p - window + 1);
    hi[i] = p + 1;
  }
}

/**
 * BLT-D block: the m = blockLen queries of a block starting at key slot blockStart see their clean prefix
 * (limited to `window` keys before the block start) and the whole block, both directions.
 */
export function fillBlockRanges(lo: Int32Array, hi: Int32Array, blockStart: number, blockLen: number, window = Infinity): void {
  for (let i = 0; i < blockLen; i++) {
    lo[i] = Math.max(0, blockStart + i - window + 1);
    hi[i] = blockStart + blockLen;
  }
}

/** Fixed range for every query: cross-attention of bytes to latents [0, nLatents) or of a patch query to its bytes. */
export function fillFixedRanges(lo: Int32Array, hi: Int32Array, m: number, from: number, to: number): void {
  for (let i = 0; i < m; i++) { lo[i] = from; hi[i] = to; }
}
