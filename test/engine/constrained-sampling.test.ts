// Sampling under a constraint stays AR's distribution in the speculative modes: over a small finite language (a
// regex whose outputs share prefixes and may end mid-way), the exact distribution of constrained AR sampling is
// computed from the model's rows (guide.ts's distribution, ending as an outcome), and AR, BLT-S and BLT-DV samples
// are checked against it with a chi-square test.
import { beforeAll, describe, expect, it } from "vitest";
import { compileFormat, type MatchState } from "../../src/constrain/index.ts";
import type { Engine } from "../../src/engine/engine.ts";
import { Guide } from "../../src/engine/decode/guide.ts";
import { Sampler } from "../../src/engine/decode/sampler.ts";
import { Sequence } from "../../src/engine/decode/sequence.ts";
import { collect, nodeEngine, request } from "../support/engine.ts";
import { TINY } from "../support/node-files.ts";
import { chiSquareTail } from "../support/stats.ts";

const PROMPT = "Once upon a time ";
const RF = { type: "regex", regex: "(the|then|they|a|an|and|any|once)( cat| dog)?" };
const N = 1200;

describe("constrained sampling keeps AR's distribution", () => {
  let engine: Engine;
  const exact = new Map<string, number>();
  beforeAll(async () => {
    engine = await nodeEngine(TINY);
    const guide = new Guide(compileFormat(RF)!);
    const sampler = new Sampler({ temperature: 1, topP: 1, topK: 0, seed: 0 });
    const p = new Float32Array(256), enc = new TextEncoder();
    // every outcome's probability: the product of constrained AR's probabilities along its bytes, then of ending
    const walk = async (prefix: number[], st: MatchState, prob: number): Promise<void> => {
      const seq = new Sequence(engine.model);
      await seq.prefill(new Uint8Array([...enc.encode(PROMPT), ...prefix]));
      guide.distribution(sampler, seq.nextLogits, st, p);
      const end = guide.endMass, dist = Float64Array.from(p);
      if (end > 0) exact.set(new TextDecoder().decode(new Uint8Array(prefix)), prob * end);
      for (let b = 0; b < 256; b++) if (dist[b] > 0) await walk([...prefix, b], st.advance(b)!, prob * dist[b]);
    };
    await walk([], guide.matcher.start, 1);
  });

  it.each(["ar", "blt-s", "blt-dv"] as const)("%s at T = 1 matches the exact distribution", async (mode) => {
    expect([...exact.values()].reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    const counts = new Map<string, number>();
    let drafted = 0;
    for (let seed = 1; seed <= N; seed++) {
      const r = await collect(engine.decode({ ...request(PROMPT, { mode, maxNewBytes: 16, sampling: { temperature: 1, seed }, knobs: { draftLength: 8, blockSize: 8, threshold: 0.3 } }), responseFormat: RF }));
      expect(r.end).toMatchObject({ type: "done", finishReason: "stop" });
      expect(exact.has(r.text)).toBe(true);
      counts.set(r.text, (counts.get(r.text) ?? 0) + 1);
      if (r.end.type === "done") drafted += r.end.stats.draftedBytes;
    }
    if (mode !== "ar") expect(drafted).toBeGreaterThan(N);
    // chi-square over the outcomes expected at least 5 times (the rest pooled)
    let chi = 0, df = -1, restE = 0, restO = 0;
    for (const [text, q] of exact) {
      const e = q * N, o = counts.get(text) ?? 0;
      if (e >= 5) { chi += (o - e) ** 2 / e; df++; } else { restE += e; restO += o; }
    }
    if (restE > 0) { chi += (restO - restE) ** 2 / restE; df++; }
    expect(chiSquareTail(chi, df), `chi² ${chi.toFixed(1)} on ${df} df`).toBeGreaterThan(1e-3);
  });
});
