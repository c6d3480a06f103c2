// Builds a BltModel from a verified checkpoint: plans the arena (weights + a run state whose size does not grow
// with the sequence), lets the caller create the kernels over it, and copies the weights in once.
import type { Checkpoint } from "../checkpoint/reader.ts";
import type { Kernels } from "../kernels/kernels.ts";
import { BltModel, runStateBytes, type SlideDomain } from "./model/blt-model.ts";
import { Weights, weightArenaBytes } from "./model/weights.ts";

/** Creates kernels whose arena holds at least arenaBytes. */
export type KernelsFactory = (arenaBytes: number) => Promise<Kernels>;

/**
 * @param ctx the most bytes (BOS included) a prompt may fill; capped at the model's training window
 * (max_seq_len), which is the default. Generation itself is not limited by it (the caches slide).
 */
export async function loadModel(ck: Checkpoint, makeKernels: KernelsFactory, ctx = ck.config.maxSeqLen,
                                domains?: { bytes: SlideDomain; patches: SlideDomain }): Promise<BltModel> {
  const K = await makeKernels(weightArenaBytes(ck) + runStateBytes(ck.config, domains));
  return new BltModel(K, new Weights(K, ck), ck.config, ctx, domains);
}
