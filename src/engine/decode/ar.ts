// AR (docs/design.md §3): plain BLT decoding. Per byte: one entropy-model step, one encoder step, one decoder
// pass; at each patch boundary one pooling step and one global step. The quality reference.
import type { ModeContext, ModeGenerator } from "./context.ts";
import { decodeArStep } from "./ar-step.ts";

export async function* decodeAr(c: ModeContext): ModeGenerator {
  while (c.budget() > 0) yield await decodeArStep(c);
}
