// The AssemblyScript SIMD kernels against the TypeScript reference, in Node: both builds (kernels.wasm, SIMD128,
// and kernels-relaxed.wasm, relaxed SIMD), and how the loader picks one.
import { execFileSync } from "node:child_process";
import { beforeAll, describe, expect, it } from "vitest";
import { WasmKernels } from "../../src/kernels/wasm/wasm-kernels.ts";
import { chooseKernelBuild, parseKernelsSetting, RELAXED_PROBE } from "../../wasm/loader.ts";
import { chooseKernelsNode, compileKernelsModuleNode } from "../../wasm/node.ts";
import { TwinKernels, rng } from "../support/twin-kernels.ts";
import { kernelCases } from "./kernel-cases.ts";

describe("wasm kernels (SIMD128 build) match the reference", () => {
  let twin: TwinKernels;
  beforeAll(async () => {
    twin = new TwinKernels(await WasmKernels.create(compileKernelsModuleNode(), 8 << 20));
    expect(twin.fast.name).toBe("wasm-simd128");
  });
  for (const c of kernelCases) it(c.name, () => c.run(twin));
});

describe("wasm kernels (relaxed build) match the reference", () => {
  let twin: TwinKernels;
  beforeAll(async () => {
    // on Node 20 this turns on --experimental-wasm-relaxed-simd and the optimizing tier only (wasm/node.ts)
    const choice = await chooseKernelsNode("relaxed");
    expect(choice.build).toBe("relaxed");
    twin = new TwinKernels(await WasmKernels.create(choice.module, 8 << 20));
    expect(twin.fast.name).toBe("wasm-relaxed");
  });
  for (const c of kernelCases) it(c.name, () => c.run(twin));
});

describe("choosing a build", () => {
  it("parses the setting", () => {
    expect(parseKernelsSetting(undefined)).toBe("auto");
    expect(parseKernelsSetting(" Relaxed ")).toBe("relaxed");
    expect(parseKernelsSetting("simd128")).toBe("simd128");
    expect(() => parseKernelsSetting("avx512")).toThrow(/simd128, relaxed or auto/);
  });

  it("a forced SIMD128 build is taken as asked; without a relaxed build auto falls back to it", async () => {
    const simd128 = compileKernelsModuleNode("simd128");
    expect((await chooseKernelBuild({ simd128, relaxed: compileKernelsModuleNode("relaxed") }, "simd128")).build).toBe("simd128");
    const c = await chooseKernelBuild({ simd128 }, "auto");
    expect([c.build, c.reason]).toEqual(["simd128", "simd128: no relaxed build here"]);
    await expect(chooseKernelBuild({ simd128 }, "relaxed")).rejects.toThrow(/kernels=relaxed: no relaxed build here/);
  });

  // fresh processes, since V8 flags are per process: what auto picks and why, with and without the features
  const pick = (flags: string[], setting: string) => JSON.parse(execFileSync(process.execPath, [...flags, "--import", "tsx", "-e",
    `import("./wasm/node.ts").then(async (n) => { const c = await n.chooseKernelsNode(${JSON.stringify(setting)}); ` +
    `const { WasmKernels } = await import("./src/kernels/wasm/wasm-kernels.ts"); const k = await WasmKernels.create(c.module, 1 << 20); ` +
    `console.log(JSON.stringify({ build: c.build, reason: c.reason, name: k.name, probe: WebAssembly.validate(new Uint8Array(${JSON.stringify(Array.from(RELAXED_PROBE))})) })); })`],
    { encoding: "utf8", env: { ...process.env, KERNELS: "" } }).trim().split("\n").pop()!) as { build: string; reason: string; name: string; probe: boolean };

  const node20 = Number(process.versions.node.split(".")[0]) === 20;
  it("auto takes the relaxed build only where it validates and computes right (Node 20: lacks it, or Liftoff miscompiles it)", () => {
    const plain = pick([], "auto");
    if (node20) {
      expect(plain).toMatchObject({ build: "simd128", name: "wasm-simd128", probe: false, reason: "simd128: this engine lacks relaxed SIMD" });
      // the feature on, the baseline tier on: the known-answer check catches Liftoff's relaxed dot
      const liftoff = pick(["--experimental-wasm-relaxed-simd"], "auto");
      expect(liftoff).toMatchObject({ build: "simd128", name: "wasm-simd128", probe: true });
      expect(liftoff.reason).toMatch(/computes wrong here \(matmulQ8 row \d+: .*--no-liftoff/);
      expect(pick(["--experimental-wasm-relaxed-simd", "--no-liftoff"], "auto")).toMatchObject({ build: "relaxed", name: "wasm-relaxed" });
    } else {
      expect(plain).toMatchObject({ build: "relaxed", name: "wasm-relaxed", probe: true });
    }
    // forced, the relaxed build runs (Node 20: the loader turns the feature on and Liftoff off)
    expect(pick([], "relaxed")).toMatchObject({ build: "relaxed", name: "wasm-relaxed", reason: "relaxed: asked for" });
    expect(pick([], "simd128")).toMatchObject({ build: "simd128", name: "wasm-simd128" });
  });

  it.runIf(node20)("a relaxed build that computes wrong refuses to load", () => {
    const out = execFileSync(process.execPath, ["--experimental-wasm-relaxed-simd", "--import", "tsx", "-e",
      `import("./wasm/node.ts").then(async (n) => { const { WasmKernels } = await import("./src/kernels/wasm/wasm-kernels.ts"); ` +
      `try { await WasmKernels.create(n.compileKernelsModuleNode("relaxed"), 1 << 20); console.log("loaded"); } catch (e) { console.log(e.message); } })`],
    { encoding: "utf8" });
    expect(out).toMatch(/wasm-relaxed: the relaxed build computes wrong on this engine/);
  });
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
