// Teacher-forced scoring: the bits the model assigns to a byte sequence after a context, in one batched pass.
// Shared by `npm run eval` (held-out bits per byte) and the benchmark (generated text under the AR model).
import { VOCAB_OUT } from "../config.ts";
import type { BltModel } from "./model/blt-model.ts";
import { Sequence } from "./decode/sequence.ts";

/** Σ −log₂ p(text[i] | context, text[0..i)) over all of text; context starts with BOS and is not scored. */
export async function bitsOf(model: BltModel, context: ArrayLike<number>, text: Uint8Array): Promise<number> {
  const ids = new Int32Array(context.length + text.length - 1);
  ids.set(context as ArrayLike<number>, 0);
  ids.set(text.subarray(0, text.length - 1), context.length);
  const seq = new Sequence(model);
  await seq.appendClean(ids);
  let bits = 0;
  for (let i = 0; i < text.length; i++) {
    const r = context.length - 1 + i;
    const row = seq.rowLogits.subarray(r * VOCAB_OUT, (r + 1) * VOCAB_OUT);
    let mx = -Infinity;
    for (let v = 0; v < VOCAB_OUT; v++) mx = Math.max(mx, row[v]);
    let z = 0;
    for (let v = 0; v < VOCAB_OUT; v++) z += Math.exp(row[v] - mx);
    bits += (Math.log(z) + mx - row[text[i]]) / Math.LN2;
  }
  return bits;
}
