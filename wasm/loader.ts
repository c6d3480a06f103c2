// Thin typed loader for kernels.wasm (built from asm/ by `npm run build:asm`). It takes a precompiled
// WebAssembly.Module — Workers forbid compiling Wasm from bytes at run time — and a fixed-size memory.

/** The raw exports of kernels.wasm; every pointer is a byte offset into the imported memory. */
export interface KernelExports {
  heapBase(): number;
  matmulF32(out: number, x: number, w: number, m: number, k: number, n: number): void;
  matmulQ8(out: number, x: number, w: number, scale: number, xq: number, m: number, k: number, n: number): void;
  rmsNormF32(out: number, x: number, w: number, m: number, d: number, eps: number): void;
  layerNormF32(out: number, x: number, w: number, b: number, m: number, d: number, eps: number): void;
  ropeF32(x: number, positions: number, cosSin: number, m: number, nHeads: number, headDim: number, rowStride: number): void;
  softmaxF32(x: number, m: number, n: number): void;
  siluF32(out: number, x: number, n: number): void;
  geluF32(out: number, x: number, n: number): void;
  swigluF32(out: number, gate: number, up: number, n: number): void;
  addF32(out: number, a: number, b: number, n: number): void;
  maxPoolF32(out: number, x: number, m: number, d: number): void;
  attentionF32(out: number, q: number, k: number, v: number, kvLo: number, kvHi: number, scores: number,
               m: number, nHeads: number, nKvHeads: number, headDim: number): void;
  embedGatherF32(out: number, table: number, ids: number, m: number, d: number): void;
  ngramEmbedSumF32(out: number, tokens: number, tables: number, ns: number, rows: number,
                   pos0: number, m: number, count: number, d: number): void;
}

export const WASM_PAGE_BYTES = 65536;

/** Instantiates the kernels over a new memory of exactly `pages` pages that can never grow. */
export async function instantiateKernels(module: WebAssembly.Module, pages: number):
    Promise<{ exports: KernelExports; memory: WebAssembly.Memory }> {
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  return { exports: instance.exports as unknown as KernelExports, memory };
}
