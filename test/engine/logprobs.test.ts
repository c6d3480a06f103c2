// Log-probabilities (src/engine/decode/logprobs.ts): every emitted byte's log-probability and the top ones, in
// every mode; the same figures in AR, BLT-S and BLT-DV (the causal row); prompt scoring equal to `npm run eval`'s
// per-byte figures (score.ts's bitsOf).
import { beforeAll, describe, expect, it } from "vitest";
import { BOS } from "../../src/config.ts";
import type { Engine } from "../../src/engine/engine.ts";
import type { ByteLogprob } from "../../src/engine/decode/logprobs.ts";
import { bitsOf } from "../../src/engine/score.ts";
import type { DecodeEvent, DecodeMode, DecodeRequest } from "../../src/protocol.ts";
import { nodeEngine, request } from "../support/engine.ts";
import { V2 } from "../support/node-files.ts";


async function run(e: Engine, prompt: string, mode: DecodeMode, over: Partial<DecodeRequest>) {
  const bytes: number[] = [], lps: ByteLogprob[] = [];
  let prompts: (ByteLogprob | null)[] | undefined, end: DecodeEvent | undefined;
  for await (const ev of e.decode({ ...request(prompt, { mode, maxNewBytes: 48, knobs: { threshold: 0.3 } }), ...over } as DecodeRequest) ) {
    if (ev.type === "bytes") { bytes.push(...ev.bytes); if (ev.logprobs) lps.push(...(ev.logprobs as ByteLogprob[])); else lps.push(...new Array(ev.bytes.length)); }
    else end = ev;
    if (ev.type === "bytes" && ev.promptLogprobs) prompts = ev.promptLogprobs;
  }
  return { bytes, lps, prompts, end: end! };
}

describe("log-probabilities", () => {
  let engine: Engine;
  beforeAll(async () => { engine = await nodeEngine(V2); });

  it("each emitted byte has one record; top ones sorted, ≤ 0, summing to ≤ 1; the byte among them when it ranks", async () => {
    for (const mode of ["ar", "blt-d", "blt-s", "blt-dv"] as const) {
      for (const temperature of [0, 0.8]) {
        const r = await run(engine, "The history of the ", mode, { logprobs: 5, sampling: { temperature, topP: 1, topK: 0, seed: 11 } });
        expect(r.lps.length).toBe(r.bytes.length);
        expect(r.bytes.length).toBe(48);
        r.lps.forEach((lp, i) => {
          expect(lp.byte).toBe(r.bytes[i]);
          expect(lp.logprob).toBeLessThanOrEqual(0);
          expect(lp.top.length).toBe(5);
          for (let j = 1; j < lp.top.length; j++) expect(lp.top[j].logprob).toBeLessThanOrEqual(lp.top[j - 1].logprob);
          expect(lp.top.reduce((a, t) => a + Math.exp(t.logprob), 0)).toBeLessThanOrEqual(1 + 1e-6);
          const rank = lp.top.findIndex((t) => t.byte === lp.byte);
          if (lp.logprob >= lp.top[4].logprob + 1e-9) expect(rank).toBeGreaterThanOrEqual(0);
          if (rank >= 0) expect(lp.top[rank].logprob).toBeCloseTo(lp.logprob, 9);
          // greedy AR takes the most likely byte
          if (temperature === 0 && mode === "ar") expect(rank).toBe(0);
        });
      }
    }
  });

  it("greedy ar, blt-s and blt-dv report the same figures (the causal rows), also under a constraint", async () => {
    for (const rf of [undefined, { type: "json_object" }]) {
      const ar = await run(engine, "Once upon a time ", "ar", { logprobs: 3, responseFormat: rf });
      for (const mode of ["blt-s", "blt-dv"] as const) {
        const s = await run(engine, "Once upon a time ", mode, { logprobs: 3, responseFormat: rf });
        expect(s.bytes).toEqual(ar.bytes);
        s.lps.forEach((lp, i) => {
          expect(lp.logprob).toBeCloseTo(ar.lps[i].logprob, 4);
          expect(lp.top.map((t) => t.byte)).toEqual(ar.lps[i].top.map((t) => t.byte));
        });
      }
    }
  });

  it("logprobs 0: the byte's own figure, no top list; absent: no records", async () => {
    const r = await run(engine, "Hello", "ar", { logprobs: 0, maxNewBytes: 8 });
    expect(r.lps.every((x) => x.top.length === 0 && x.logprob <= 0)).toBe(true);
    const none = await run(engine, "Hello", "ar", { maxNewBytes: 8 });
    expect(none.lps.every((x) => x === undefined)).toBe(true);
  });

  it("prompt scoring equals npm run eval's per-byte figures within 1e-3 nats (first byte null)", async () => {
    const text = "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness. Café.";
    const bytes = new TextEncoder().encode(text);
    const r = await run(engine, text, "ar", { logprobs: 2, promptLogprobs: true, maxNewBytes: 0 });
    expect(r.bytes.length).toBe(0);
    expect(r.prompts!.length).toBe(bytes.length);
    expect(r.prompts![0]).toBeNull();
    const per = new Float64Array(bytes.length);
    await bitsOf(engine.model, [BOS], bytes, per);
    for (let i = 1; i < bytes.length; i++) {
      expect(r.prompts![i]!.byte).toBe(bytes[i]);
      expect(Math.abs(r.prompts![i]!.logprob + per[i] * Math.LN2)).toBeLessThan(1e-3);
    }
    // and generation after a scored prompt is the same as after a plain one
    const scored = await run(engine, "The river ", "blt-s", { promptLogprobs: true, maxNewBytes: 32 });
    const plain = await run(engine, "The river ", "blt-s", { maxNewBytes: 32 });
    expect(scored.bytes).toEqual(plain.bytes);
  });
});
