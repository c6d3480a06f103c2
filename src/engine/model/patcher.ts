// Entropy patching (docs/model.md §5): H(i) is the entropy, in nats, of the entropy model's prediction for
// byte i; byte i ≥ 2 starts a patch when H(i) > θ or the current patch already holds maxPatchLen bytes.

/** Entropy in nats of softmax(logits). */
export function entropyNats(logits: Float32Array | ArrayLike<number>, offset = 0, n = 256): number {
  let mx = -Infinity;
  for (let i = 0; i < n; i++) mx = Math.max(mx, logits[offset + i]);
  let z = 0, s = 0;
  for (let i = 0; i < n; i++) {
    const d = logits[offset + i] - mx, e = Math.exp(d);
    z += e;
    s += e * d;
  }
  return Math.log(z) - s / z;
}

/** Whether the byte at position i (≥ 1) starts a new patch, given its entropy and the current patch's length. */
export function startsPatch(i: number, entropy: number, currentPatchLen: number, threshold: number, maxPatchLen: number): boolean {
  return i <= 1 || entropy > threshold || currentPatchLen >= maxPatchLen;
}
