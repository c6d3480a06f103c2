// BLT-D with B = 8 against AR on blt-d-small (greedy, so every count is deterministic): the global
// transformer runs once per block instead of once per patch, and denoising fills several bytes per decoder pass.
import { beforeAll, describe, expect, it } from "vitest";
import type { Engine } from "../../src/engine/engine.ts";
import type { DecodeStats } from "../../src/protocol.ts";
import { collect, nodeEngine, request } from "../support/engine.ts";

const SMALL = "models/blt-d-small";
const PROMPTS = ["The quick brown fox ", "In the beginning ", "The committee said that ", "She looked at him and "];

describe("BLT-D pass counts (blt-d-small, B = 8, greedy)", () => {
  let engine: Engine;
  beforeAll(async () => { engine = await nodeEngine(SMALL); });

  const total = async (mode: "ar" | "blt-d", knobs: { threshold?: number; maxStepsPerBlock?: number } = {}) => {
    const sum = { bytes: 0, global: 0, decoder: 0, traffic: 0 };
    for (const p of PROMPTS) {
      const r = await collect(engine.decode(request(p, { mode, maxNewBytes: 128, knobs: { blockSize: 8, ...knobs } })));
      const s = (r.end as { stats: DecodeStats }).stats;
      sum.bytes += s.generatedBytes; sum.global += s.passes.global; sum.decoder += s.passes.decoder; sum.traffic += s.estBytesMoved;
    }
    return sum;
  };

  it("runs the global model once per block: at most half of AR's global passes per byte", async () => {
    const ar = await total("ar"), d = await total("blt-d", { threshold: 0.5 });
    expect(ar.bytes).toBe(512);
    expect(d.bytes).toBe(512);
    expect(d.global).toBe(512 / 8);
    // measured: AR 151 global passes (0.295 per byte: greedy text patches run ~3.4 bytes), BLT-D 64 (0.125)
    expect(d.global / d.bytes).toBeLessThanOrEqual(0.5 * (ar.global / ar.bytes));
    expect(ar.decoder).toBe(512);
    expect(d.traffic / d.bytes).toBeLessThan(0.6 * (ar.traffic / ar.bytes));
  });

  it("fills several bytes per decoder pass: below one pass per byte at α = 0.5, half with a cap of 4 passes per block", async () => {
    // the small model's diffusion head is young (masked-byte accuracy ≈ 0.3), so α = 0.5 unmasks ~1.1 bytes a pass
    const free = await total("blt-d", { threshold: 0.5 });
    expect(free.decoder / free.bytes).toBeLessThan(0.95);
    const capped = await total("blt-d", { threshold: 0.5, maxStepsPerBlock: 4 });
    expect(capped.decoder / capped.bytes).toBeLessThanOrEqual(0.5);
  });
});
