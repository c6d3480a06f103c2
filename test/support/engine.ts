// Test helpers for Node: an engine over a model directory on disk, on the Wasm kernels (the SIMD128 build unless
// a build is named).
import { readCheckpoint } from "../../src/checkpoint/reader.ts";
import { Engine } from "../../src/engine/engine.ts";
import { loadModel } from "../../src/engine/load.ts";
import { WasmKernels } from "../../src/kernels/wasm/wasm-kernels.ts";
import type { KernelBuild } from "../../wasm/loader.ts";
import { chooseKernelsNode, compileKernelsModuleNode } from "../../wasm/node.ts";
import { dirReader } from "./node-files.ts";

export async function nodeEngine(dir: string, ctx = 1024, variant: "f32" | "q8" = "f32", build: KernelBuild = "simd128"): Promise<Engine> {
  const ck = await readCheckpoint(dir, dirReader(dir), variant);
  const module = build === "simd128" ? compileKernelsModuleNode() : (await chooseKernelsNode("relaxed")).module;
  return new Engine(await loadModel(ck, (bytes) => WasmKernels.create(module, bytes), ctx));
}

export { collect, request } from "./engine-requests.ts";
