// Browser side of the engine-on-WebGPU tests: loads a checkpoint twice, once on the Wasm kernels and once on the
// WebGPU kernels (through the demo page's own provider, so the device is requested the way the page does it),
// and decodes with either engine on request from Node.
import { readCheckpoint } from "../../src/checkpoint/reader.ts";
import type { WeightVariant } from "../../src/checkpoint/format.ts";
import { Engine } from "../../src/engine/engine.ts";
import { loadModel } from "../../src/engine/load.ts";
import type { DecodeMode, DecodeStats } from "../../src/protocol.ts";
import { wasmProvider, webgpuProvider } from "../../src/web/kernels-select.ts";
import { collect, request } from "../support/engine-requests.ts";

export type Impl = "wasm" | "webgpu";
export interface Generated { bytes: number[]; ms: number; stats: DecodeStats | null; error: string | null }
export interface EngineTestApi {
  /** Loads models/<name> (variant) on both kernels; returns the WebGPU kernels' name. */
  load(name: string, variant: WeightVariant): Promise<string>;
  generate(name: string, impl: Impl, prompt: string, mode: DecodeMode, maxBytes: number): Promise<Generated>;
}

const CONTEXT = 512;
const engines = new Map<string, Engine>();

const api: EngineTestApi = {
  async load(name, variant) {
    const ck = await readCheckpoint(`models/${name}`, async (file) => {
      const res = await fetch(`/models/${name}/${file}`);
      if (!res.ok) throw new Error(`GET ${file}: HTTP ${res.status}`);
      return new Uint8Array(await res.arrayBuffer());
    }, variant);
    const wasm = await wasmProvider.factory({ wasmUrl: "/kernels.wasm" });
    const gpu = await webgpuProvider.factory({ wasmUrl: "/kernels.wasm" });
    engines.set(`${name}/wasm`, new Engine(await loadModel(ck, wasm, CONTEXT)));
    const onGpu = new Engine(await loadModel(ck, gpu, CONTEXT));
    engines.set(`${name}/webgpu`, onGpu);
    return onGpu.model.K.name;
  },
  async generate(name, impl, prompt, mode, maxBytes) {
    const engine = engines.get(`${name}/${impl}`);
    if (!engine) throw new Error(`${name} on ${impl} is not loaded`);
    const t0 = performance.now();
    const r = await collect(engine.decode(request(prompt, { mode, maxNewBytes: maxBytes })));
    const ms = performance.now() - t0;
    return { bytes: Array.from(r.bytes), ms, stats: r.end.type === "done" ? r.end.stats : null,
      error: r.end.type === "error" ? r.end.message : null };
  },
};

(globalThis as unknown as { engineTests: EngineTestApi }).engineTests = api;
