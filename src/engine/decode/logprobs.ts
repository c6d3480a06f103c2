// Log-probabilities of the bytes a request emits (docs/api.md, "Log-probabilities"): for each byte, the model's
// log-probability of it and of the `top` most likely bytes, from the model's own distribution at that position
// (log-softmax of the logits: before temperature, top-k, top-p and any constraint's mask, as OpenAI reports them).
// AR, BLT-S and BLT-DV report the causal (AR) row that predicts the byte, so their figures are AR's; BLT-D reports
// the denoising row its byte was drawn from (it computes no causal row for it).

import type { ByteLogprob } from "../../protocol.ts";

export type { ByteLogprob };


/** The log-probability record of `byte` under logits row [offset, offset + 256). */
export function logprobOf(logits: ArrayLike<number>, offset: number, byte: number, top: number): ByteLogprob {
  let mx = -Infinity;
  for (let v = 0; v < 256; v++) mx = Math.max(mx, logits[offset + v]);
  let z = 0;
  for (let v = 0; v < 256; v++) z += Math.exp(logits[offset + v] - mx);
  const lz = mx + Math.log(z);
  const rec: ByteLogprob = { byte, logprob: logits[offset + byte] - lz, top: [] };
  if (top > 0) {
    // a partial selection of the top entries (top ≤ 20 of 256)
    const idx: number[] = [];
    for (let v = 0; v < 256; v++) {
      const x = logits[offset + v];
      if (idx.length === top && x <= logits[offset + idx[top - 1]]) continue;
      let j = idx.length < top ? idx.length : top - 1;
      if (idx.length < top) idx.push(v);
      while (j > 0 && logits[offset + idx[j - 1]] < x) { idx[j] = idx[j - 1]; j--; }
      idx[j] = v;
    }
    rec.top = idx.map((v) => ({ byte: v, logprob: logits[offset + v] - lz }));
  }
  return rec;
}

/** The records of committed bytes, in order, until the engine emits them. */
export class LogprobRecorder {
  private queue: ByteLogprob[] = [];
  /** A block's records by position (BLT-D), committed in order once the block is. */
  readonly block: (ByteLogprob | null)[] = [];

  constructor(readonly top: number) {}

  note(logits: ArrayLike<number>, offset: number, byte: number): void {
    this.queue.push(logprobOf(logits, offset, byte, this.top));
  }

  noteBlock(k: number, logits: ArrayLike<number>, offset: number, byte: number): void {
    this.block[k] = logprobOf(logits, offset, byte, this.top);
  }

  commitBlock(len: number): void {
    for (let k = 0; k < len; k++) this.queue.push(this.block[k]!);
  }

  /** The records of the next n emitted bytes. */
  take(n: number): ByteLogprob[] {
    return this.queue.splice(0, n);
  }
}
