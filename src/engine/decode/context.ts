// What every mode's generator receives: the sequence, the sampler, the knobs, the byte budget and the
// counters the modes fill. Modes yield committed bytes; the engine applies stops, limits and UTF-8 framing.
import { REQUEST_FIELDS } from "../../contract.ts";
import type { ModeKnobs } from "../../protocol.ts";
import type { Guide } from "./guide.ts";
import type { LogprobRecorder } from "./logprobs.ts";
import type { Sampler } from "./sampler.ts";
import type { Sequence } from "./sequence.ts";
import type { WorkBudget } from "./work-budget.ts";

/** Largest block, draft or passes per block a request may ask for (the request contract, src/contract.ts). */
export const MAX_BLOCK = Math.max(REQUEST_FIELDS.block_size.max, REQUEST_FIELDS.draft_length.max, REQUEST_FIELDS.max_steps_per_block.max);

/**
 * Every buffer a mode needs, allocated when the request opens; the decoding loops allocate none. Yielded byte
 * arrays are views into `out`/`one`: the consumer copies them before asking for more.
 */
export class ModeScratch {
  readonly dist = new Float32Array(256);
  readonly p = new Float32Array(256);
  readonly residual = new Float32Array(256);
  readonly ids = new Int32Array(MAX_BLOCK);
  readonly drafts = new Float32Array(MAX_BLOCK * 256);
  readonly conf = new Float32Array(MAX_BLOCK);
  readonly ent = new Float32Array(MAX_BLOCK);
  readonly pick = new Uint8Array(MAX_BLOCK);
  readonly order = new Int32Array(MAX_BLOCK);
  /** BLT-D: which block rows' logits a pass needs (the masked ones), and the logits row each one's are in. */
  readonly need = new Uint8Array(MAX_BLOCK);
  readonly rowOf = new Int32Array(MAX_BLOCK);
  readonly out = new Uint8Array(MAX_BLOCK + 1);
  readonly one = new Uint8Array(1);
  readonly tok = new Int32Array(1);
}

export interface ModeContext {
  seq: Sequence;
  sampler: Sampler;
  knobs: ModeKnobs;
  scratch: ModeScratch;
  /** Bytes the request may still generate; a mode never commits more than this at once. */
  budget(): number;
  /** The decoder rows the request may still spend on drafts (work-budget.ts). */
  work: WorkBudget;
  counters: { draftedBytes: number; acceptedBytes: number };
  /** The response format's automaton (guide.ts), absent when the output is free. */
  guide?: Guide | null;
  /** Where each committed byte's log-probabilities go, when the request asks for them (logprobs.ts). */
  lp?: LogprobRecorder | null;
}

/** Async: a mode awaits the model's results (the kernels may compute them elsewhere, e.g. on a GPU). */
export type ModeGenerator = AsyncGenerator<Uint8Array, void, void>;

/** Softmax of logits row `row`: conf[k] ← its top probability, ent[k] ← its entropy (nats); BLT-D's confidence measures. */
export function confidenceInto(logits: ArrayLike<number>, row: number, k: number, conf: Float32Array, ent: Float32Array): void {
  const offset = row * 256;
  let mx = -Infinity;
  for (let i = 0; i < 256; i++) mx = Math.max(mx, logits[offset + i]);
  let z = 0, s = 0;
  for (let i = 0; i < 256; i++) { const d = logits[offset + i] - mx, e = Math.exp(d); z += e; s += e * d; }
  conf[k] = 1 / z;
  ent[k] = Math.log(z) - s / z;
}
