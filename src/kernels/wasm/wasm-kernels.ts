// The AssemblyScript SIMD kernels behind the Kernels interface, either build (SIMD128 or relaxed SIMD: the module
// says which). The arena is the Wasm memory itself, planned once (sized in bytes by the caller), committed at
// creation and never grown; each op is one call across the boundary.
import { checkMatmulQ8, instantiateKernels, WASM_PAGE_BYTES, type KernelBuild, type KernelExports } from "../../../wasm/loader.ts";
import { Arena, type Ptr } from "../arena.ts";
import { MATMUL_Q8_MAX_K, type Kernels } from "../kernels.ts";

export class WasmKernels implements Kernels {
  /** "wasm-simd128" or "wasm-relaxed". */
  readonly name: string;
  /** Which build of asm/ runs: "simd128" (kernels.wasm) or "relaxed" (kernels-relaxed.wasm). */
  readonly build: KernelBuild;

  private readonly words: Float32Array;

  private constructor(readonly arena: Arena, readonly memory: WebAssembly.Memory, private readonly x: KernelExports) {
    this.words = new Float32Array(memory.buffer); // the memory never grows, so the view stays valid
    this.build = x.relaxedBuild() ? "relaxed" : "simd128";
    this.name = `wasm-${this.build}`;
  }

  /**
   * Instantiates the module with room for `arenaBytes` of tensors after the module's own data. A relaxed build
   * must first compute a known matmulQ8 right on this engine (checkMatmulQ8), else this throws.
   */
  static async create(module: WebAssembly.Module, arenaBytes: number): Promise<WasmKernels> {
    const probe = await instantiateKernels(module, 1);
    const base = probe.exports.heapBase();
    if (probe.exports.relaxedBuild()) {
      const bad = checkMatmulQ8(probe.exports, probe.memory, base);
      if (bad) throw new Error(`wasm-relaxed: the relaxed build computes wrong on this engine (${bad})`);
    }
    const pages = Math.ceil((base + arenaBytes + 16) / WASM_PAGE_BYTES);
    const { exports, memory } = await instantiateKernels(module, pages);
    // Commit the whole arena now (every page written once): the process's resident memory is then what it will be
    // at its busiest, instead of climbing in steps as longer requests first reach deeper into the run state.
    new Uint8Array(memory.buffer, base).fill(0);
    return new WasmKernels(new Arena(memory.buffer, base), memory, exports);
  }

  // a row copy is one memmove on the arena: no call across the boundary needed
  copyF32(out: Ptr, x: Ptr, n: number): void {
    this.words.copyWithin(out >> 2, x >> 2, (x >> 2) + n);
  }
  matmulF32(out: Ptr, x: Ptr, w: Ptr, m: number, k: number, n: number): void {
    this.x.matmulF32(out, x, w, m, k, n);
  }
  matmulQ8(out: Ptr, x: Ptr, w: Ptr, scale: Ptr, xq: Ptr, m: number, k: number, n: number): void {
    if (k > MATMUL_Q8_MAX_K) throw new RangeError(`matmulQ8: k = ${k} exceeds ${MATMUL_Q8_MAX_K}`);
    this.x.matmulQ8(out, x, w, scale, xq, m, k, n);
  }
  rmsNormF32(out: Ptr, x: Ptr, w: Ptr, m: number, d: number, eps: number): void {
    this.x.rmsNormF32(out, x, w, m, d, eps);
  }
  layerNormF32(out: Ptr, x: Ptr, w: Ptr, b: Ptr, m: number, d: number, eps: number): void {
    this.x.layerNormF32(out, x, w, b, m, d, eps);
  }
  ropeF32(x: Ptr, positions: Ptr, cosSin: Ptr, m: number, nHeads: number, headDim: number, rowStride: number): void {
    this.x.ropeF32(x, positions, cosSin, m, nHeads, headDim, rowStride);
  }
  softmaxF32(x: Ptr, m: number, n: number): void { this.x.softmaxF32(x, m, n); }
  siluF32(out: Ptr, x: Ptr, n: number): void { this.x.siluF32(out, x, n); }
  geluF32(out: Ptr, x: Ptr, n: number): void { this.x.geluF32(out, x, n); }
  swigluF32(out: Ptr, gate: Ptr, up: Ptr, n: number): void { this.x.swigluF32(out, gate, up, n); }
  addF32(out: Ptr, a: Ptr, b: Ptr, n: number): void { this.x.addF32(out, a, b, n); }
  maxPoolF32(out: Ptr, x: Ptr, m: number, d: number): void { this.x.maxPoolF32(out, x, m, d); }
  attentionF32(out: Ptr, q: Ptr, k: Ptr, v: Ptr, kvLo: Ptr, kvHi: Ptr, scores: Ptr,
               m: number, nHeads: number, nKvHeads: number, headDim: number): void {
    if (nHeads % nKvHeads !== 0) throw new RangeError(`attentionF32: nHeads ${nHeads} is not a multiple of nKvHeads ${nKvHeads}`);
    this.x.attentionF32(out, q, k, v, kvLo, kvHi, scores, m, nHeads, nKvHeads, headDim);
  }
  embedGatherF32(out: Ptr, table: Ptr, ids: Ptr, m: number, d: number): void {
    this.x.embedGatherF32(out, table, ids, m, d);
  }
  ngramEmbedSumF32(out: Ptr, tokens: Ptr, tables: Ptr, ns: Ptr, rows: Ptr,
                   pos0: number, m: number, count: number, d: number): void {
    this.x.ngramEmbedSumF32(out, tokens, tables, ns, rows, pos0, m, count, d);
  }
}
