// One AR step, shared by AR and by the speculative modes between patch boundaries.
import type { ModeContext } from "./context.ts";

export async function decodeArStep(c: ModeContext): Promise<Uint8Array> {
  const s = c.scratch;
  const b = c.sampler.pick(c.seq.nextLogits, s.dist);
  s.tok[0] = b;
  await c.seq.appendClean(s.tok);
  s.one[0] = b;
  return s.one;
}
