// Greedy BLT-S and BLT-DV equal greedy AR byte for byte under each kernel build (SIMD128 and relaxed SIMD), on the
// default model's int8 weights, where the two builds quantise activations differently (14-bit vs 7-bit): the
// speculative modes' batched verification passes must reproduce byte-by-byte decoding under either.
import { describe, expect, it } from "vitest";
import { collect, nodeEngine, request } from "../support/engine.ts";
import { V2 } from "../support/node-files.ts";

const PROMPTS = ["The quick brown fox ", "In the beginning ", "The committee said that ", "1, 2, 3, 4, "];

describe.each(["simd128", "relaxed"] as const)("greedy speculation equals AR on the %s build (blt-v2, int8)", (build) => {
  it("blt-s and blt-dv equal ar, byte for byte, 4 prompts × 160 bytes, with drafts rejected", async () => {
    const engine = await nodeEngine(V2, 512, "q8", build);
    expect(engine.model.K.name).toBe(`wasm-${build}`);
    let drafted = 0, accepted = 0;
    for (const prompt of PROMPTS) {
      const ar = await collect(engine.decode(request(prompt, { mode: "ar", maxNewBytes: 160 })));
      expect(ar.bytes.length).toBe(160);
      for (const mode of ["blt-s", "blt-dv"] as const) {
        const spec = await collect(engine.decode(request(prompt, { mode, maxNewBytes: 160 })));
        expect(Buffer.from(spec.bytes).toString("hex"), `${mode} on ${JSON.stringify(prompt)}`).toBe(Buffer.from(ar.bytes).toString("hex"));
        if (spec.end.type === "done") { drafted += spec.end.stats.draftedBytes; accepted += spec.end.stats.acceptedBytes; }
      }
    }
    expect(accepted).toBeGreaterThan(0);
    expect(accepted).toBeLessThan(drafted);
  });
});
