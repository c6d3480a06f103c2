// The Wasm kernels inside workerd: the module arrives as a precompiled import, as in the deployed Worker.
import { beforeAll, describe, expect, it } from "vitest";
import kernelsModule from "../../wasm/kernels.wasm";
import { WasmKernels } from "../../src/kernels/wasm/wasm-kernels.ts";
import { TwinKernels } from "../support/twin-kernels.ts";
import { kernelCases } from "../kernels/kernel-cases.ts";

describe("wasm kernels inside workerd", () => {
  let twin: TwinKernels;
  beforeAll(async () => {
    expect(kernelsModule).toBeInstanceOf(WebAssembly.Module);
    expect(typeof navigator !== "undefined" && navigator.userAgent).toBe("Cloudflare-Workers");
    twin = new TwinKernels(await WasmKernels.create(kernelsModule, 8 << 20));
  });
  for (const c of kernelCases) it(c.name, () => c.run(twin));
});
