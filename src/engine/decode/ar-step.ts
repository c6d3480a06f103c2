// One AR step, shared by AR and by the speculative modes between patch boundaries.
import type { ModeContext } from "./context.ts";
import { END_OUTPUT } from "./guide.ts";

const NONE = new Uint8Array(0);

export async function decodeArStep(c: ModeContext): Promise<Uint8Array> {
  const s = c.scratch, g = c.guide;
  const b = g ? g.pick(c.sampler, c.seq.nextLogits, g.state, s.dist) : c.sampler.pick(c.seq.nextLogits, s.dist);
  if (b === END_OUTPUT) { g!.finished = true; return NONE; }
  c.lp?.note(c.seq.nextLogits, 0, b);
  g?.commitByte(b);
  s.tok[0] = b;
  await c.seq.appendClean(s.tok);
  s.one[0] = b;
  return s.one;
}
