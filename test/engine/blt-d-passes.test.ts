// BLT-D with B = 8 against AR on the default model (greedy, so every count is deterministic): the global
// transformer runs once per block instead of once per patch, and denoising fills several bytes per decoder pass.
import { beforeAll, describe, expect, it } from "vitest";
import type { Engine } from "../../src/engine/engine.ts";
import type { DecodeStats } from "../../src/protocol.ts";
import { collect, nodeEngine, request } from "../support/engine.ts";

const SMALL = "models/blt-d-small";
const PROMPTS = ["The quick brown fox ", "In the beginning ", "The committee said that ", "She looked at him and "];

describe("BLT-D pass counts (blt-d-small, B = 8, α = 0.9)", () => {
  let engine: Engine;
  beforeAll(async () => { engine = await nodeEngine(SMALL); });

  it("needs at most half of AR's global passes per byte and clearly fewer than one decoder pass per byte", async () => {
    const total = async (mode: "ar" | "blt-d") => {
      const sum = { bytes: 0, global: 0, decoder: 0, traffic: 0 };
      for (const p of PROMPTS) {
        const r = await collect(engine.decode(request(p, { mode, maxNewBytes: 128, knobs: { blockSize: 8, threshold: 0.9 } })));
        const s = (r.end as { stats: DecodeStats }).stats;
        sum.bytes += s.generatedBytes; sum.global += s.passes.global; sum.decoder += s.passes.decoder; sum.traffic += s.estBytesMoved;
      }
      return sum;
    };
    const ar = await total("ar"), d = await total("blt-d");
    expect(ar.bytes).toBe(512);
    expect(d.bytes).toBe(512);
    // one global pass per block of 8 bytes
    expect(d.global).toBe(512 / 8);
    expect(d.global / d.bytes).toBeLessThanOrEqual(0.5 * (ar.global / ar.bytes));
    expect(ar.decoder).toBe(512);
    expect(d.decoder / d.bytes).toBeLessThan(0.75);
    // the paper's headline measure: estimated memory traffic per byte at most half of AR's
    expect(d.traffic / d.bytes).toBeLessThanOrEqual(0.5 * (ar.traffic / ar.bytes));
  });
});
