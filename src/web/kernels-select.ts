/// <reference types="@webgpu/types" />
// Which kernels run the engine in this browser. Providers are tried in order of preference: WebGPU first, when
// the browser has a hardware adapter, else the Wasm kernels, the relaxed-SIMD build where the browser has relaxed
// SIMD (Chrome ≥ 114, Firefox ≥ 145) and the SIMD128 build elsewhere (Safari); ?kernels= on the page puts one first
// (webgpu, wasm, relaxed or simd128), and lets WebGPU run on a software adapter, which is two orders of magnitude
// slower than Wasm: measured 11 vs 2,274 bytes/s on SwiftShader.
import type { KernelsFactory } from "../engine/load.ts";
import { WasmKernels } from "../kernels/wasm/wasm-kernels.ts";
import { chooseKernelBuild, relaxedSimdValidates } from "../../wasm/loader.ts";
import { WebGpuKernels } from "../kernels/webgpu/webgpu-kernels.ts";

export interface KernelsProvider {
  /** Shown on the page, e.g. "wasm-relaxed". */
  readonly id: string;
  /** False until the implementation exists; such a provider is reported, never picked. */
  readonly implemented: boolean;
  /** Whether this browser can run it (null) or why not (a reason); `asked`: the page asked for it by name. */
  unavailable(asked: boolean): Promise<string | null>;
  /**
   * Prepares the implementation (compiles, requests a device) and returns the engine's kernels factory. wasmUrl is
   * the SIMD128 build (kernels.wasm); the relaxed build is kernels-relaxed.wasm beside it.
   */
  factory(assets: { wasmUrl: string }): Promise<KernelsFactory>;
}

const gpuOf = () => (navigator as unknown as { gpu?: GPU }).gpu;

export const webgpuProvider: KernelsProvider = {
  id: "webgpu",
  implemented: true,
  async unavailable(asked) {
    const gpu = gpuOf();
    if (!gpu) return "navigator.gpu is absent";
    try {
      const adapter = await gpu.requestAdapter();
      if (!adapter) return "no adapter";
      // a software adapter (SwiftShader) is far slower than the Wasm kernels: used only when asked for
      const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
      const software = info?.isFallbackAdapter === true || (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter === true || info?.architecture === "swiftshader";
      return software && !asked ? `software adapter (${info?.architecture || "fallback"}); ?kernels=webgpu uses it` : null;
    } catch (e) {
      return `requestAdapter failed (${(e as Error).message})`;
    }
  },
  async factory() {
    // the device is requested once the arena's size is known (it must allow a storage binding that large), each
    // time from a fresh adapter, since an adapter gives one device
    return async (arenaBytes) => {
      const adapter = await gpuOf()?.requestAdapter();
      if (!adapter) throw new Error("webgpu: no adapter");
      const device = await adapter.requestDevice({ requiredLimits: WebGpuKernels.requiredLimits(adapter, arenaBytes) });
      return WebGpuKernels.create(device, arenaBytes);
    };
  },
};

// a tiny module returning a v128 (i8x16.splat, i8x16.popcnt): validates only where Wasm SIMD is supported
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);

/** Compiles kernels.wasm, streaming when the server labels it application/wasm. */
export async function compileKernels(url: string): Promise<WebAssembly.Module> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  if (typeof WebAssembly.compileStreaming === "function" && res.headers.get("content-type")?.startsWith("application/wasm")) {
    return WebAssembly.compileStreaming(res);
  }
  return WebAssembly.compile(await res.arrayBuffer());
}

/** The SIMD128 build: every browser with Wasm SIMD. */
export const wasmProvider: KernelsProvider = {
  id: "wasm-simd128",
  implemented: true,
  async unavailable() {
    return WebAssembly.validate(SIMD_PROBE) ? null : "this browser lacks WebAssembly SIMD";
  },
  async factory({ wasmUrl }) {
    const module = await compileKernels(wasmUrl);
    return (arenaBytes) => WasmKernels.create(module, arenaBytes);
  },
};

/** The relaxed-SIMD build, checked on a known matmulQ8 before it is used (wasm/loader.ts). */
export const wasmRelaxedProvider: KernelsProvider = {
  id: "wasm-relaxed",
  implemented: true,
  async unavailable() {
    return relaxedSimdValidates() ? null : "this browser lacks relaxed SIMD";
  },
  async factory({ wasmUrl }) {
    const relaxed = await compileKernels(wasmUrl.replace(/kernels\.wasm$/, "kernels-relaxed.wasm"));
    const { module } = await chooseKernelBuild({ simd128: () => compileKernels(wasmUrl), relaxed }, "relaxed");
    return (arenaBytes) => WasmKernels.create(module, arenaBytes);
  },
};

export const PROVIDERS: readonly KernelsProvider[] = [webgpuProvider, wasmRelaxedProvider, wasmProvider];

export interface KernelsChoice {
  provider: KernelsProvider;
  /** One line per provider considered, e.g. "webgpu: unavailable (no adapter)". */
  report: string[];
}

/**
 * Whether ?kernels=want names provider id: the id itself, its family ("wasm" for both Wasm builds) or its build
 * ("relaxed" for "wasm-relaxed", "simd128" or the older "wasm-simd" for "wasm-simd128").
 */
function names(want: string | null | undefined, id: string): boolean {
  return !!want && (id === want || id.startsWith(`${want}-`) || id === `wasm-${want}` || (want === "wasm-simd" && id === "wasm-simd128"));
}

/** The first implemented, available provider; `prefer` (an id or family, e.g. from ?kernels=) is tried first. */
export async function pickKernels(prefer?: string | null, providers: readonly KernelsProvider[] = PROVIDERS): Promise<KernelsChoice> {
  const ordered = [...providers].sort((a, b) => Number(names(prefer, b.id)) - Number(names(prefer, a.id)));
  const report: string[] = [];
  let chosen: KernelsProvider | undefined;
  for (const p of ordered) {
    const why = await p.unavailable(names(prefer, p.id));
    if (why) report.push(`${p.id}: unavailable (${why})`);
    else if (!p.implemented) report.push(`${p.id}: available, kernels not implemented yet`);
    else if (chosen) report.push(`${p.id}: available`);
    else { chosen = p; report.push(`${p.id}: in use`); }
  }
  if (!chosen) throw new Error(`no kernels can run in this browser: ${report.join("; ")}`);
  return { provider: chosen, report };
}
