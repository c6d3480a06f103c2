// Builds a BltModel from a verified checkpoint: plans the arena (weights + run state for ctx positions),
// lets the caller create the kernels over it, and copies the weights in once.
import type { Checkpoint } from "../checkpoint/reader.ts";
import type { Kernels } from "../kernels/kernels.ts";
import { BltModel, runStateBytes } from "./model/blt-model.ts";
import { Weights, weightArenaBytes } from "./model/weights.ts";

/** Creates kernels whose arena holds at least arenaBytes. */
export type KernelsFactory = (arenaBytes: number) => Promise<Kernels>;

export async function loadModel(ck: Checkpoint, makeKernels: KernelsFactory, ctx: number): Promise<BltModel> {
  const K = await makeKernels(weightArenaBytes(ck) + runStateBytes(ck.config, ctx));
  return new BltModel(K, new Weights(K, ck), ck.config, ctx);
}
