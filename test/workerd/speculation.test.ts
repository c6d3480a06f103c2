// Speculation inside workerd on the default model (blt-v2, int8, as the Worker bundles it): greedy BLT-S's drafts
// are rejected there (its latents matter, so bytes drafted past a patch boundary on a stale latent are often
// wrong), and the output is still AR's byte for byte; so is BLT-DV's; on both kernel builds (SIMD128 and relaxed
// SIMD, which quantise activations differently). (On blt-d-tiny every greedy draft is accepted, so a wrong
// acceptance could not show.)
import { describe, expect, it } from "vitest";
import kernelsModule from "../../wasm/kernels.wasm";
import kernelsRelaxedModule from "../../wasm/kernels-relaxed.wasm";
import weights from "../../models/blt-v2/model.q8.safetensors";
import manifest from "../../models/blt-v2/manifest.json";
import { readCheckpoint } from "../../src/checkpoint/reader.ts";
import { Engine } from "../../src/engine/engine.ts";
import { loadModel } from "../../src/engine/load.ts";
import { WasmKernels } from "../../src/kernels/wasm/wasm-kernels.ts";
import { collect, request } from "../support/engine-requests.ts";

describe.each([["simd128", kernelsModule], ["relaxed", kernelsRelaxedModule]] as const)("speculation inside workerd (blt-v2, int8, %s build)", (build, kernelsModule) => {
  it("greedy BLT-S has drafts rejected and equals AR; BLT-DV equals AR", async () => {
    const files: Record<string, Uint8Array> = {
      "manifest.json": new TextEncoder().encode(JSON.stringify(manifest)),
      "model.q8.safetensors": new Uint8Array(weights),
    };
    const ck = await readCheckpoint("models/blt-v2", async (name) => files[name], "q8");
    const engine = new Engine(await loadModel(ck, (bytes) => WasmKernels.create(kernelsModule, bytes), 512));
    expect(engine.model.K.name).toBe(`wasm-${build}`);
    for (const prompt of ["The quick brown fox ", "In the beginning "]) {
      const ar = await collect(engine.decode(request(prompt, { mode: "ar", maxNewBytes: 96 })));
      const s = await collect(engine.decode(request(prompt, { mode: "blt-s", maxNewBytes: 96 })));
      const dv = await collect(engine.decode(request(prompt, { mode: "blt-dv", maxNewBytes: 96 })));
      expect(ar.bytes.length).toBe(96);
      expect(s.bytes, prompt).toEqual(ar.bytes);
      expect(dv.bytes, prompt).toEqual(ar.bytes);
      const st = s.end.type === "done" ? s.end.stats : null;
      expect(st!.draftedBytes).toBeGreaterThan(0);
      expect(st!.acceptedBytes, `${prompt}: BLT-S accepted ${st!.acceptedBytes} of ${st!.draftedBytes}`).toBeLessThan(st!.draftedBytes);
      const dst = dv.end.type === "done" ? dv.end.stats : null;
      expect(dst!.acceptedBytes).toBeLessThan(dst!.draftedBytes);
    }
  });
});
