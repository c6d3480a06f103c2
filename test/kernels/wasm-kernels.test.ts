// The AssemblyScript SIMD kernels against the TypeScript reference, in Node.
import { beforeAll, describe, expect, it } from "vitest";
import { WasmKernels } from "../../src/kernels/wasm/wasm-kernels.ts";
import { compileKernelsModuleNode } from "../../wasm/node.ts";
import { TwinKernels, rng } from "../support/twin-kernels.ts";
import { kernelCases } from "./kernel-cases.ts";

describe("wasm kernels match the reference", () => {
  let twin: TwinKernels;
  beforeAll(async () => { twin = new TwinKernels(await WasmKernels.create(compileKernelsModuleNode(), 8 << 20)); });
  for (const c of kernelCases) it(c.name, () => c.run(twin));
});

describe("wasm memory", () => {
  it("does not grow across repeated calls, and cannot grow", async () => {
    const k = await WasmKernels.create(compileKernelsModuleNode(), 1 << 20);
    const bytes = k.memory.buffer.byteLength;
    const R = rng(7);
    const a = k.arena;
    const x = a.allocF32(64 * 96), w = a.allocF32(96 * 96), out = a.allocF32(64 * 96), s = a.allocF32(96);
    a.f32(x, 64 * 96).set(R.normals(64 * 96));
    a.f32(w, 96 * 96).set(R.normals(96 * 96));
    for (let r = 0; r < 200; r++) {
      k.matmulF32(out, x, w, 64, 96, 96);
      k.softmaxF32(out, 64, 96);
      k.rmsNormF32(out, out, s, 64, 96, 1e-5);
    }
    expect(k.memory.buffer.byteLength).toBe(bytes);
    expect(() => k.memory.grow(1)).toThrow();
    expect(() => a.alloc(2 << 20)).toThrow(/arena exhausted/);
  });
});
