// Greedy BLT-S and greedy BLT-DV produce exactly the bytes of greedy AR (docs/design.md §3): 20 varied prompts,
// 256 bytes each, on the Wasm kernels: the tiny model (v1 latent rule) and blt-v2 (the paper's rule, where a
// patch's latent is made at its last byte and drafts read the newest latent).
import { beforeAll, describe, expect, it } from "vitest";
import type { Engine } from "../../src/engine/engine.ts";
import { collect, nodeEngine, request } from "../support/engine.ts";
import { TINY, V2 } from "../support/node-files.ts";

const PROMPTS = [
  "The quick brown fox ", "In the beginning ", "It was a dark and stormy night; ", "Hello, world! ",
  "The committee said that ", "\"Where are you going?\" she asked. ", "1, 2, 3, 4, ", "Once upon a time, ",
  "The president of the ", "She looked at him and ", "According to the report, ", "function add(a, b) { ",
  "Café au lait, naïve résumé: ", "The results of the study ", "He said, ", "THE END. ",
  "A man, a plan, a canal: ", "In 1961 the city ", "Why? Because ", "To be or not to be, ",
];

describe.each([TINY, V2])("speculative modes reproduce AR exactly under greedy decoding (%s)", (dir) => {
  let engine: Engine;
  beforeAll(async () => { engine = await nodeEngine(dir); });

  it("blt-s (k = 8) and blt-dv (B = 8) equal ar, byte for byte, on 20 prompts × 256 bytes", async () => {
    let drafted = 0, accepted = 0;
    for (const prompt of PROMPTS) {
      const ar = await collect(engine.decode(request(prompt, { mode: "ar", maxNewBytes: 256 })));
      expect(ar.bytes.length).toBe(256);
      for (const mode of ["blt-s", "blt-dv"] as const) {
        const spec = await collect(engine.decode(request(prompt, { mode, maxNewBytes: 256, knobs: { threshold: 0.3 } })));
        expect(Buffer.from(spec.bytes).toString("hex"), `${mode} on ${JSON.stringify(prompt)}`).toBe(Buffer.from(ar.bytes).toString("hex"));
        if (spec.end.type === "done") { drafted += spec.end.stats.draftedBytes; accepted += spec.end.stats.acceptedBytes; }
      }
    }
    // the speculative paths really ran: drafts were made, and some were rejected and corrected
    expect(drafted).toBeGreaterThan(1000);
    expect(accepted).toBeGreaterThan(0);
    expect(accepted).toBeLessThan(drafted);
  });
});
