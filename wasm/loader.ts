// Thin typed loader for kernels.wasm (built from asm/ by `npm run build:asm`). It takes a precompiled
// WebAssembly.Module — Workers forbid compiling Wasm from bytes at run time — and a fixed-size memory.
import type { Kernels } from "../src/kernels/kernels.ts";

/** The raw exports of kernels.wasm: the Kernels ops with the same signatures, plus the heap base. */
export type KernelExports = Omit<Kernels, "name" | "arena"> & { heapBase(): number };

export const WASM_PAGE_BYTES = 65536;

/** Instantiates the kernels over a new memory of exactly `pages` pages that can never grow. */
export async function instantiateKernels(module: WebAssembly.Module, pages: number):
    Promise<{ exports: KernelExports; memory: WebAssembly.Memory }> {
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  return { exports: instance.exports as unknown as KernelExports, memory };
}
