// Browser side of the kernel-build tests: both Wasm builds compiled from the served files, picked the way the page
// picks them (relaxed only where it validates and computes right), every op against the TypeScript reference
// (test/kernels/kernel-cases.ts, run here), and greedy decoding of the default model on each build.
import { readCheckpoint } from "../../src/checkpoint/reader.ts";
import { Engine } from "../../src/engine/engine.ts";
import { loadModel } from "../../src/engine/load.ts";
import type { DecodeMode } from "../../src/protocol.ts";
import { WasmKernels } from "../../src/kernels/wasm/wasm-kernels.ts";
import { compileKernels, wasmProvider, wasmRelaxedProvider } from "../../src/web/kernels-select.ts";
import { chooseKernelBuild, type KernelBuild } from "../../wasm/loader.ts";
import { collect, request } from "../support/engine-requests.ts";
import { TwinKernels } from "../support/twin-kernels.ts";
import { kernelCases } from "../kernels/kernel-cases.ts";

export interface CaseResult { name: string; error: string | null }
export interface KernelBuildsApi {
  /** What auto picks here, and why. */
  auto(): Promise<{ build: KernelBuild; reason: string; relaxedUnavailable: string | null }>;
  /** Every kernel case on one build; returns the kernels' name and each case's outcome. */
  cases(build: KernelBuild): Promise<{ name: string; results: CaseResult[] }>;
  /** Greedy bytes of the default model (q8) on one build, per mode. */
  generate(build: KernelBuild, prompt: string, modes: DecodeMode[], maxBytes: number): Promise<{ name: string; bytes: Record<string, number[]> }>;
}

const factories = { simd128: wasmProvider, relaxed: wasmRelaxedProvider };

const api: KernelBuildsApi = {
  async auto() {
    const c = await chooseKernelBuild({ simd128: () => compileKernels("/kernels.wasm"), relaxed: () => compileKernels("/kernels-relaxed.wasm") });
    return { build: c.build, reason: c.reason, relaxedUnavailable: await wasmRelaxedProvider.unavailable(false) };
  },
  async cases(build) {
    const make = await factories[build].factory({ wasmUrl: "/kernels.wasm" });
    const twin = new TwinKernels(await make(8 << 20) as WasmKernels);
    const results: CaseResult[] = [];
    for (const c of kernelCases) {
      try { c.run(twin); results.push({ name: c.name, error: null }); } catch (e) { results.push({ name: c.name, error: (e as Error).message }); }
    }
    return { name: twin.fast.name, results };
  },
  async generate(build, prompt, modes, maxBytes) {
    const ck = await readCheckpoint("models/blt-v2", async (file) => new Uint8Array(await (await fetch(`/models/blt-v2/${file}`)).arrayBuffer()), "q8");
    const engine = new Engine(await loadModel(ck, await factories[build].factory({ wasmUrl: "/kernels.wasm" }), 512));
    const bytes: Record<string, number[]> = {};
    for (const mode of modes) bytes[mode] = Array.from((await collect(engine.decode(request(prompt, { mode, maxNewBytes: maxBytes })))).bytes);
    return { name: engine.model.K.name, bytes };
  },
};

(globalThis as unknown as { kernelBuilds: KernelBuildsApi }).kernelBuilds = api;
