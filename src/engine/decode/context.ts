// What every mode's generator receives: the sequence, the sampler, the knobs, the byte budget and the
// counters the modes fill. Modes yield committed bytes; the engine applies stops, limits and UTF-8 framing.
import type { ModeKnobs } from "../../protocol.ts";
import type { Sampler } from "./sampler.ts";
import type { Sequence } from "./sequence.ts";

export interface ModeContext {
  seq: Sequence;
  sampler: Sampler;
  knobs: ModeKnobs;
  /** Bytes the request may still generate; a mode never commits more than this at once. */
  budget(): number;
  counters: { draftedBytes: number; acceptedBytes: number };
}

export type ModeGenerator = Generator<Uint8Array, void, void>;

/** Softmax of one logits row: its top probability and entropy (nats), the confidence measures of BLT-D. */
export function confidence(logits: ArrayLike<number>, offset: number): { topP: number; entropy: number } {
  let mx = -Infinity;
  for (let i = 0; i < 256; i++) mx = Math.max(mx, logits[offset + i]);
  let z = 0, s = 0;
  for (let i = 0; i < 256; i++) { const d = logits[offset + i] - mx, e = Math.exp(d); z += e; s += e * d; }
  return { topP: 1 / z, entropy: Math.log(z) - s / z };
}
