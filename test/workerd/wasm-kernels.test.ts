// The Wasm kernels inside workerd, both builds: each module arrives as a precompiled import, as in the deployed
// Worker, and the loader's choice there is the relaxed build.
import { beforeAll, describe, expect, it } from "vitest";
import kernelsModule from "../../wasm/kernels.wasm";
import kernelsRelaxedModule from "../../wasm/kernels-relaxed.wasm";
import { WasmKernels } from "../../src/kernels/wasm/wasm-kernels.ts";
import { chooseKernelBuild, relaxedSimdValidates } from "../../wasm/loader.ts";
import { TwinKernels } from "../support/twin-kernels.ts";
import { kernelCases } from "../kernels/kernel-cases.ts";

for (const [build, module] of [["simd128", kernelsModule], ["relaxed", kernelsRelaxedModule]] as const) {
  describe(`wasm kernels (${build} build) inside workerd`, () => {
    let twin: TwinKernels;
    beforeAll(async () => {
      expect(module).toBeInstanceOf(WebAssembly.Module);
      expect(typeof navigator !== "undefined" && navigator.userAgent).toBe("Cloudflare-Workers");
      twin = new TwinKernels(await WasmKernels.create(module, 8 << 20));
      expect(twin.fast.name).toBe(`wasm-${build}`);
    });
    for (const c of kernelCases) it(c.name, () => c.run(twin));
  });
}

describe("choosing a build inside workerd", () => {
  it("auto picks the relaxed build (workerd has relaxed SIMD); KERNELS=simd128 forces the other", async () => {
    expect(relaxedSimdValidates()).toBe(true);
    const modules = { simd128: kernelsModule, relaxed: kernelsRelaxedModule };
    expect(await chooseKernelBuild(modules, "auto")).toMatchObject({ build: "relaxed", module: kernelsRelaxedModule });
    expect(await chooseKernelBuild(modules, "simd128")).toMatchObject({ build: "simd128", module: kernelsModule });
  });
});
