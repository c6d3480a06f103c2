// Bounded work per request: every block size the API accepts decodes, and a request's drafts stay
// within its work budget whatever the knobs, without changing what greedy decoding emits.
import { beforeAll, describe, expect, it } from "vitest";
import type { Engine } from "../../src/engine/engine.ts";
import { MAX_BLOCK } from "../../src/engine/decode/context.ts";
import { ROW_COST_WHOLE, WorkBudget } from "../../src/engine/decode/work-budget.ts";
import { collect, nodeEngine, request } from "../support/engine.ts";
import { TINY } from "../support/node-files.ts";

describe("bounded work per request", () => {
  let engine: Engine;
  beforeAll(async () => { engine = await nodeEngine(TINY, 512); });

  it("BLT-D and BLT-DV decode blocks of 33 to 64 bytes (more decoder rows than one chunk)", async () => {
    for (const mode of ["blt-d", "blt-dv"] as const) {
      for (const blockSize of [33, 48, 64]) {
        const r = await collect(engine.decode(request("The quick brown fox ", { mode, maxNewBytes: 100, knobs: { blockSize, maxStepsPerBlock: 4 } })));
        expect(r.end, `${mode} B=${blockSize}`).toMatchObject({ type: "done", finishReason: "length" });
        expect(r.bytes.length).toBe(100);
      }
    }
  });

  it("BLT-DV with the largest block, steps and threshold drafts only what its budget allows, and emits AR's greedy bytes", async () => {
    const maxNewBytes = 256;
    const heavy = { blockSize: MAX_BLOCK, maxStepsPerBlock: MAX_BLOCK, threshold: 1 };
    const dv = await collect(engine.decode(request("The quick brown fox ", { mode: "blt-dv", maxNewBytes, knobs: heavy })));
    const ar = await collect(engine.decode(request("The quick brown fox ", { mode: "ar", maxNewBytes })));
    expect(dv.bytes).toEqual(ar.bytes);
    // a draft of B ≥ 2 bytes is charged B·steps + ROW_COST_WHOLE·B ≥ (2 + ROW_COST_WHOLE)·B rows (steps = B here)
    const limit = new WorkBudget(maxNewBytes).limitRows;
    expect(dv.end.type === "done" && dv.end.stats.draftedBytes).toBeLessThanOrEqual(limit / (2 + ROW_COST_WHOLE));
  });
});
