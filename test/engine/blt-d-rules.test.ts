// BLT-D's two unmasking rules, pinned by exact pass counts (greedy, so deterministic): the confidence rule
// (top probability ≥ α, at least one byte a pass) and the entropy-bounded rule (the lowest-entropy masked bytes
// while their summed entropy stays ≤ γ, at least one), and the cap on passes per block. Each count is exact, so a
// rule that fills more or fewer bytes per pass than it should fails here, in either direction.
import { beforeAll, describe, expect, it } from "vitest";
import type { Engine } from "../../src/engine/engine.ts";
import type { DecodeStats, ModeKnobs } from "../../src/protocol.ts";
import { collect, nodeEngine, request } from "../support/engine.ts";
import { TINY, V2 } from "../support/node-files.ts";

const B = 8, BYTES = 64, BLOCKS = BYTES / B;

async function passes(engine: Engine, knobs: Partial<ModeKnobs>, prompt = "The quick brown fox "): Promise<{ decoder: number; bytes: Uint8Array }> {
  const r = await collect(engine.decode(request(prompt, { mode: "blt-d", maxNewBytes: BYTES, knobs: { blockSize: B, maxStepsPerBlock: B, ...knobs } })));
  const s = (r.end as { stats: DecodeStats }).stats;
  expect(s.generatedBytes).toBe(BYTES);
  expect(s.passes.global).toBeLessThanOrEqual(BLOCKS);
  return { decoder: s.passes.decoder, bytes: r.bytes };
}

describe("BLT-D unmasking rules (exact decoder passes, B = 8, 64 bytes)", () => {
  let tiny: Engine, v2: Engine;
  beforeAll(async () => { tiny = await nodeEngine(TINY, 512); v2 = await nodeEngine(V2, 512); });

  it("confidence rule: α tiny fills a whole block in one pass; α = 1 fills one byte a pass", async () => {
    for (const e of [tiny, v2]) {
      expect((await passes(e, { threshold: 1e-3 })).decoder).toBe(BLOCKS);
      expect((await passes(e, { threshold: 1 })).decoder).toBe(BYTES);
    }
  });

  it("the cap on passes per block: α = 1 with 1, 2 or 4 steps makes exactly that many passes per block", async () => {
    for (const steps of [1, 2, 4]) expect((await passes(tiny, { threshold: 1, maxStepsPerBlock: steps })).decoder).toBe(BLOCKS * steps);
  });

  it("entropy bound: γ = 0 fills one byte a pass whatever α; a bound no block reaches fills a block a pass whatever α", async () => {
    for (const e of [tiny, v2]) {
      expect((await passes(e, { entropyBound: 0, threshold: 1e-3 })).decoder).toBe(BYTES);
      expect((await passes(e, { entropyBound: 1e9, threshold: 1 })).decoder).toBe(BLOCKS);
    }
  });

  it("entropy bound: bytes per pass grow with γ, and between the extremes the rule fills some blocks in several bytes a pass", async () => {
    const counts: number[] = [];
    for (const g of [0, 0.5, 2, 8, 1e9]) counts.push((await passes(v2, { entropyBound: g, threshold: 1 })).decoder);
    for (let i = 1; i < counts.length; i++) expect(counts[i], `γ counts ${counts}`).toBeLessThanOrEqual(counts[i - 1]);
    expect(counts.slice(1, -1).some((c) => c > BLOCKS && c < BYTES), `γ counts ${counts}`).toBe(true);
    console.log(`blt-v2 decoder passes for 64 bytes at γ = 0, 0.5, 2, 8, ∞: ${counts.join(", ")}`);
  });
});
