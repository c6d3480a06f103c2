// Structured output inside workerd: the response format compiles and every mode follows it there (no Wasm compiled
// from bytes, nothing Node-only); greedy BLT-S and BLT-DV equal AR under it; log-probabilities come along.
import { describe, expect, it } from "vitest";
import kernelsModule from "../../wasm/kernels.wasm";
import weights from "../../models/blt-d-tiny/model.safetensors";
import manifest from "../../models/blt-d-tiny/manifest.json";
import { readCheckpoint } from "../../src/checkpoint/reader.ts";
import { compileFormat, Matcher } from "../../src/constrain/index.ts";
import { Engine } from "../../src/engine/engine.ts";
import { loadModel } from "../../src/engine/load.ts";
import { WasmKernels } from "../../src/kernels/wasm/wasm-kernels.ts";
import { request, collect } from "../support/engine-requests.ts";

describe("structured output inside workerd", () => {
  it("every mode writes what the schema accepts; blt-s and blt-dv equal ar; logprobs per byte", async () => {
    const files: Record<string, Uint8Array> = {
      "manifest.json": new TextEncoder().encode(JSON.stringify(manifest)),
      "model.safetensors": new Uint8Array(weights),
    };
    const ck = await readCheckpoint("models/blt-d-tiny", async (name) => files[name]);
    const engine = new Engine(await loadModel(ck, (bytes) => WasmKernels.create(kernelsModule, bytes), 512));
    const rf = { type: "json_schema", json_schema: { name: "t", schema: {
      type: "object", properties: { name: { type: "string", maxLength: 12 }, n: { type: "integer" }, tags: { type: "array", items: { enum: ["a", "b"] }, maxItems: 3 } },
      required: ["name", "n", "tags"], additionalProperties: false } } };
    const m = new Matcher(compileFormat(rf)!);
    const outs: Record<string, Uint8Array> = {};
    for (const mode of ["ar", "blt-d", "blt-s", "blt-dv"] as const) {
      const r = await collect(engine.decode({ ...request("Data: ", { mode, maxNewBytes: 200 }), responseFormat: rf, logprobs: 2 }));
      expect(r.end).toMatchObject({ type: "done", finishReason: "stop" });
      expect(m.matches(r.bytes)).toBe(true);
      expect(() => JSON.parse(r.text)).not.toThrow();
      outs[mode] = r.bytes;
    }
    expect(outs["blt-s"]).toEqual(outs.ar);
    expect(outs["blt-dv"]).toEqual(outs.ar);
    let bytes = 0, records = 0;
    for await (const e of engine.decode({ ...request("Data: ", { mode: "blt-s", maxNewBytes: 200 }), responseFormat: rf, logprobs: 2 })) {
      if (e.type === "bytes") { bytes += e.bytes.length; records += e.logprobs!.length; expect(e.logprobs!.every((x) => x.top.length === 2)).toBe(true); }
    }
    expect(records).toBe(bytes);
    expect(bytes).toBe(outs.ar.length);
  });
});
