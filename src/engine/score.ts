// Teacher-forced scoring: the bits the model assigns to a byte sequence after a context, chunk by chunk.
// Shared by `npm run eval` (held-out bits per byte) and the benchmark (generated text under the AR model).
// Any length: past the training window the caches slide as in generation.
import { MAX_ROWS, type BltModel } from "./model/blt-model.ts";
import { Sequence } from "./decode/sequence.ts";

/**
 * Σ −log₂ p(text[i] | context, text[0..i)) over all of text; context starts with BOS and is not scored.
 * With `perByte`, bits of byte i are also stored in perByte[i].
 */
export async function bitsOf(model: BltModel, context: ArrayLike<number>, text: Uint8Array, perByte?: Float64Array): Promise<number> {
  const ids = new Int32Array(context.length + text.length - 1);
  ids.set(context as ArrayLike<number>, 0);
  ids.set(text.subarray(0, text.length - 1), context.length);
  const seq = new Sequence(model);
  let bits = 0;
  for (let off = 0; off < ids.length; off += MAX_ROWS) {
    const end = Math.min(ids.length, off + MAX_ROWS);
    await seq.appendClean(ids.subarray(off, end));
    // rows off..end−1 predict ids[off+1..end], i.e. text[r − context.length + 1] for the scored rows
    for (let r = Math.max(off, context.length - 1); r < end; r++) {
      const i = r - context.length + 1, row = seq.logitsOf(r);
      let mx = -Infinity;
      for (let v = 0; v < row.length; v++) mx = Math.max(mx, row[v]);
      let z = 0;
      for (let v = 0; v < row.length; v++) z += Math.exp(row[v] - mx);
      const b = (Math.log(z) + mx - row[text[i]]) / Math.LN2;
      if (perByte) perByte[i] = b;
      bits += b;
    }
  }
  return bits;
}
