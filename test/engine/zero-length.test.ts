// max_tokens 0: every mode ends at once, with no byte and no pass of any model component.
import { beforeAll, describe, expect, it } from "vitest";
import type { Engine } from "../../src/engine/engine.ts";
import { collect, nodeEngine, request } from "../support/engine.ts";
import { TINY } from "../support/node-files.ts";

describe("a request for no bytes", () => {
  let engine: Engine;
  beforeAll(async () => { engine = await nodeEngine(TINY, 512); });

  it("generates nothing and runs nothing in every mode", async () => {
    for (const mode of ["ar", "blt-d", "blt-s", "blt-dv"] as const) {
      const r = await collect(engine.decode(request("Hello", { mode, maxNewBytes: 0 })));
      expect(r.bytes.length, mode).toBe(0);
      expect(r.end, mode).toMatchObject({ type: "done", finishReason: "length",
        stats: { generatedBytes: 0, draftedBytes: 0, passes: { entropy: 0, encoder: 0, global: 0, decoder: 0 } } });
    }
  });
});
