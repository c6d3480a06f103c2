// The kernel module's exports: raw pointer ABI over an imported, fixed-size memory (see src/kernels/wasm).
export { matmulF32, matmulQ8 } from "./matmul";
export { rmsNormF32, layerNormF32 } from "./norm";
export { ropeF32 } from "./rope";
export { softmaxF32, siluF32, geluF32, swigluF32, addF32, maxPoolF32 } from "./activation";
export { attentionF32 } from "./attention";
export { embedGatherF32, ngramEmbedSumF32 } from "./embed";

/** Which build this is: 1 for the relaxed-SIMD build, 0 for the SIMD128 build (scripts/build-asm.mjs). */
export function relaxedBuild(): i32 {
  return ASC_FEATURE_RELAXED_SIMD ? 1 : 0;
}

/** First byte the host may use: everything below holds the module's static data. */
export function heapBase(): usize {
  return __heap_base;
}
