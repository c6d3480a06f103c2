// The engine in the browser: fetches a model's int8 checkpoint (Cache API, progress), verifies it with
// readCheckpoint (size, sha256, shapes), picks the kernels (WebGPU when available, else Wasm
// SIMD) and serves the decoding protocol with the same LocalBackend the Worker uses. Runs in a Web Worker.
import { LocalBackend } from "../backends/local.ts";
import { CheckpointError, readCheckpoint } from "../checkpoint/reader.ts";
import { Engine } from "../engine/engine.ts";
import { loadModel } from "../engine/load.ts";
import { pickKernels } from "./kernels-select.ts";
import { fetchModelFiles, type FileProgress } from "./model-files.ts";

export interface LoadOptions {
  /** The page's origin, e.g. "http://127.0.0.1:8787": models at /models/<name>/, kernels at /kernels.wasm. */
  origin: string;
  model: string;
  /** A kernels id to try first (the page's ?kernels=). */
  preferKernels?: string | null;
}

export type LoadProgress = FileProgress | { file: "kernels" | "verify" | "load"; loaded: number; total: number; fromCache: boolean };

export interface LoadedInfo {
  model: string;
  kernels: string;
  kernelsReport: string[];
  fromCache: boolean;
  weightBytes: number;
  /** Time to fetch, verify and load, ms. */
  loadMs: number;
  fetchMs: number;
}

export async function loadBrowserEngine(o: LoadOptions, onProgress: (p: LoadProgress) => void): Promise<{ backend: LocalBackend; info: LoadedInfo }> {
  const t0 = performance.now();
  const base = `${o.origin}/models/${encodeURIComponent(o.model)}`;
  const [choice, fetched] = await Promise.all([pickKernels(o.preferKernels), fetchModelFiles(base, onProgress)]);
  let files = fetched;
  const fetchMs = performance.now() - t0;
  onProgress({ file: "verify", loaded: 0, total: 1, fromCache: files.fromCache });
  let ck;
  try {
    ck = await readCheckpoint(`models/${o.model}`, async (name) => files.files[name], "q8");
  } catch (e) {
    // a damaged cached copy is dropped and fetched again once
    if (!(e instanceof CheckpointError) || !files.fromCache) throw e;
    await files.evict();
    files = await fetchModelFiles(base, onProgress);
    ck = await readCheckpoint(`models/${o.model}`, async (name) => files.files[name], "q8");
  }
  onProgress({ file: "kernels", loaded: 0, total: 1, fromCache: files.fromCache });
  const factory = await choice.provider.factory({ wasmUrl: `${o.origin}/kernels.wasm` });
  onProgress({ file: "load", loaded: 0, total: 1, fromCache: files.fromCache });
  const model = await loadModel(ck, factory);
  const backend = new LocalBackend(new Map([[o.model, new Engine(model)]]));
  return {
    backend,
    info: {
      model: o.model, kernels: choice.provider.id, kernelsReport: choice.report, fromCache: files.fromCache,
      weightBytes: files.files["model.q8.safetensors"].length, loadMs: performance.now() - t0, fetchMs,
    },
  };
}
