// Thin typed loader for the kernel builds (built from asm/ by `npm run build:asm`): kernels.wasm (SIMD128) and
// kernels-relaxed.wasm (relaxed SIMD), same exports. It takes a precompiled WebAssembly.Module — Workers forbid
// compiling Wasm from bytes at run time — and a fixed-size memory; chooseKernelBuild picks a build.
import type { Kernels } from "../src/kernels/kernels.ts";

/** The raw exports of a kernel build: the Kernels ops with the same signatures, the heap base, and which build. */
export type KernelExports = Omit<Kernels, "name" | "arena"> & { heapBase(): number; relaxedBuild(): number };

export const WASM_PAGE_BYTES = 65536;

/** The two builds: "simd128" runs wherever Wasm SIMD does; "relaxed" needs relaxed SIMD. */
export type KernelBuild = "simd128" | "relaxed";
/** What a KERNELS setting (env var, `--kernels`, the page's ?kernels=) may ask for. */
export type KernelsSetting = KernelBuild | "auto";

export function parseKernelsSetting(v: string | null | undefined): KernelsSetting {
  const s = (v ?? "").trim().toLowerCase();
  if (s === "" || s === "auto") return "auto";
  if (s === "simd128" || s === "relaxed") return s;
  throw new RangeError(`kernels: expected simd128, relaxed or auto, got ${JSON.stringify(v)}`);
}

/** Instantiates the kernels over a new memory of exactly `pages` pages that can never grow. */
export async function instantiateKernels(module: WebAssembly.Module, pages: number):
    Promise<{ exports: KernelExports; memory: WebAssembly.Memory }> {
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  return { exports: instance.exports as unknown as KernelExports, memory };
}

// A tiny module whose one function calls i32x4.relaxed_dot_i8x16_i7x16_add_s (the op the relaxed build relies
// on): it validates only where relaxed SIMD is enabled (Node 20: behind --experimental-wasm-relaxed-simd).
export const RELAXED_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 19, 1,
  17, 0, 65, 0, 253, 15, 65, 0, 253, 15, 65, 0, 253, 15, 253, 147, 2, 11]);

/** Whether this engine accepts relaxed SIMD (validation compiles nothing, so Workers allow it). */
export function relaxedSimdValidates(): boolean {
  try { return WebAssembly.validate(RELAXED_PROBE); } catch { return false; }
}

/**
 * Checks an instance's matmulQ8 on a small case whose exact result is known (activations that quantise without
 * error, ±127 weights, an accumulator carried over 64 values): null when right, else what went wrong. It runs in
 * the engine's first tier, which is where Node 20's Liftoff miscompiles i32x4.relaxed_dot_i8x16_i7x16_add_s
 * (twice the dot product, the accumulator dropped); the optimizing tier computes it right, so a build that passes
 * here cannot go wrong later.
 */
export function checkMatmulQ8(x: KernelExports, memory: WebAssembly.Memory, base: number): string | null {
  const k = 67, n = 5, m = 1;
  const al = (p: number) => Math.ceil(p / 16) * 16;
  const px = al(base), pw = al(px + 4 * k), ps = al(pw + n * k), pxq = al(ps + 8 * n), pout = al(pxq + 8 * k);
  if (pout + 4 * n > memory.buffer.byteLength) return "no room for the check";
  const X = new Float32Array(memory.buffer, px, k), W = new Int8Array(memory.buffer, pw, n * k);
  const S = new Float32Array(memory.buffer, ps, n), sums = new Int32Array(memory.buffer, ps + 4 * n, n);
  // x(c) in −63..63 with max 63: the relaxed build's 7-bit quantisation represents it exactly (scale 1)
  for (let c = 0; c < k; c++) X[c] = c === 5 ? 63 : ((c * 37) % 127) - 63;
  const expect = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    S[j] = 1;
    let s = 0, t = 0;
    for (let c = 0; c < k; c++) { const v = (c + j) % 3 === 0 ? 127 : (c + 2 * j) % 5 === 0 ? -127 : ((c * 11 + j * 7) % 255) - 127; W[j * k + c] = v; s += v; t += v * X[c]; }
    sums[j] = s; expect[j] = t;
  }
  x.matmulQ8(pout, px, pw, ps, pxq, m, k, n);
  const out = new Float32Array(memory.buffer, pout, n);
  for (let j = 0; j < n; j++) {
    if (Math.abs(out[j] - expect[j]) > 1e-4 * Math.abs(expect[j]) + 1e-3) return `matmulQ8 row ${j}: ${out[j]}, expected ${expect[j]}`;
  }
  return null;
}

/** Where a build came from, for chooseKernelBuild: the module, or how to get it (compiling can throw). */
export interface KernelModules {
  simd128: WebAssembly.Module | (() => WebAssembly.Module | Promise<WebAssembly.Module>);
  relaxed?: WebAssembly.Module | (() => WebAssembly.Module | Promise<WebAssembly.Module>);
}

export interface KernelChoice {
  build: KernelBuild;
  module: WebAssembly.Module;
  /** Why this build, e.g. "relaxed: relaxed SIMD validates and computes right" or "simd128: forced". */
  reason: string;
}

/**
 * The build to run: "auto" takes the relaxed build where relaxed SIMD validates and a 1-page instance computes
 * matmulQ8 right (checkMatmulQ8), else the SIMD128 build; a forced build is taken as asked, and a forced relaxed
 * build that fails those checks is an error, not a silent fallback.
 */
export async function chooseKernelBuild(modules: KernelModules, setting: KernelsSetting = "auto"): Promise<KernelChoice> {
  const get = async (m: KernelModules["simd128"]) => (typeof m === "function" ? await m() : m);
  if (setting === "simd128") return { build: "simd128", module: await get(modules.simd128), reason: "simd128: asked for" };
  let why: string;
  if (!modules.relaxed) why = "no relaxed build here";
  else if (!relaxedSimdValidates()) why = "this engine lacks relaxed SIMD";
  else {
    try {
      const module = await get(modules.relaxed);
      const { exports, memory } = await instantiateKernels(module, 1);
      const bad = checkMatmulQ8(exports, memory, exports.heapBase());
      if (!bad) return { build: "relaxed", module, reason: setting === "relaxed" ? "relaxed: asked for" : "relaxed: relaxed SIMD validates and computes right" };
      why = `the relaxed build computes wrong here (${bad}; Node 20's baseline compiler miscompiles relaxed_dot_i8x16_i7x16_add_s: run with --no-liftoff)`;
    } catch (e) {
      why = `the relaxed build does not load (${(e as Error).message})`;
    }
  }
  if (setting === "relaxed") throw new Error(`kernels=relaxed: ${why}`);
  return { build: "simd128", module: await get(modules.simd128), reason: `simd128: ${why}` };
}
