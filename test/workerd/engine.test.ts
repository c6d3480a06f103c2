// The engine runs unchanged inside workerd: the tiny checkpoint bundled as Data modules, the kernels as a
// precompiled Wasm import; greedy BLT-S reproduces AR there too.
import { describe, expect, it } from "vitest";
import kernelsModule from "../../wasm/kernels.wasm";
import weights from "../../models/blt-d-tiny/model.safetensors";
import manifest from "../../models/blt-d-tiny/manifest.json";
import { readCheckpoint } from "../../src/checkpoint/reader.ts";
import { Engine } from "../../src/engine/engine.ts";
import { loadModel } from "../../src/engine/load.ts";
import { WasmKernels } from "../../src/kernels/wasm/wasm-kernels.ts";
import { request, collect } from "../support/engine-requests.ts";

describe("engine inside workerd", () => {
  it("verifies the checkpoint, generates, and BLT-S equals AR", async () => {
    const files: Record<string, Uint8Array> = {
      "manifest.json": new TextEncoder().encode(JSON.stringify(manifest)),
      "model.safetensors": new Uint8Array(weights),
    };
    const ck = await readCheckpoint("models/blt-d-tiny", async (name) => files[name]);
    const engine = new Engine(await loadModel(ck, (bytes) => WasmKernels.create(kernelsModule, bytes), 512));
    const ar = await collect(engine.decode(request("The quick brown fox ", { mode: "ar", maxNewBytes: 96 })));
    const s = await collect(engine.decode(request("The quick brown fox ", { mode: "blt-s", maxNewBytes: 96 })));
    expect(ar.bytes.length).toBe(96);
    expect(s.bytes).toEqual(ar.bytes);
    expect(s.end.type === "done" && s.end.stats.draftedBytes).toBeGreaterThan(0);
  });
});
