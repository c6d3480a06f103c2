// One AR step, shared by AR and by the speculative modes between patch boundaries.
import type { ModeContext } from "./context.ts";

export function decodeArStep(c: ModeContext, scratch: Float32Array): Uint8Array {
  const b = c.sampler.pick(c.seq.nextLogits, scratch);
  c.seq.appendClean([b]);
  return Uint8Array.of(b);
}
