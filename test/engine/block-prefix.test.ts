// A BLT-D / BLT-DV block's revealed prefix from its byte states (ModeKnobs.blockPrefix "states", docs/design.md §3):
// the filled bytes at the block's start, final and never re-masked, run through the encoder before the block is
// committed, and those rows start from their byte states as clean rows do. The states made ahead are exactly
// those a full encoding of the committed text gives (so the commit may skip them); BLT-DV stays AR byte for byte
// either way; states are the default and do change BLT-D's bytes against the paper's token inputs.
import { describe, expect, it } from "vitest";
import { BOS } from "../../src/config.ts";
import { Sequence } from "../../src/engine/decode/sequence.ts";
import type { BlockPrefix, DecodeMode } from "../../src/protocol.ts";
import { collect, nodeEngine, request } from "../support/engine.ts";
import { V2 } from "../support/node-files.ts";

const PROMPTS = ["The committee said on Tuesday that the budget ", "It was the best of times, it was the worst of times, ",
  "In the beginning ", "The history of the city of London begins with "];

describe("block prefix states on blt-v2", () => {
  const run = async (engine: Awaited<ReturnType<typeof nodeEngine>>, prompt: string, mode: DecodeMode, blockPrefix: BlockPrefix, maxNewBytes = 96) =>
    collect(engine.decode(request(prompt, { mode, maxNewBytes, knobs: { blockPrefix, threshold: mode === "blt-dv" ? 0.3 : 0.9 } })));

  it("the byte states made ahead equal a full encoding of the committed text, bit for bit", async () => {
    const engine = await nodeEngine(V2);
    const { model } = engine;
    const d = model.config.encoder.dim;
    for (const prompt of PROMPTS.slice(0, 2)) {
      const r = await run(engine, prompt, "blt-d", "states", 64);
      const prompted = new TextEncoder().encode(prompt), n = 1 + prompted.length + r.bytes.length;
      const ahead = Float32Array.from(model.K.arena.f32(model.hAt(0), n * d)); // after decoding: every state in place
      const seq = new Sequence(model);
      await seq.appendClean(Int32Array.from([BOS, ...prompted, ...r.bytes]));
      const full = model.K.arena.f32(model.hAt(0), n * d);
      for (let pos = 0; pos < n; pos++) {
        expect(Buffer.from(ahead.buffer, pos * d * 4, d * 4).equals(Buffer.from(full.buffer, full.byteOffset + pos * d * 4, d * 4)), `position ${pos}`).toBe(true);
      }
    }
  });

  it("BLT-DV equals AR with token inputs and with prefix states; states accept more of the drafts", async () => {
    const engine = await nodeEngine(V2);
    let accepted = { tokens: 0, states: 0 }, drafted = { tokens: 0, states: 0 };
    for (const prompt of PROMPTS) {
      const ar = await run(engine, prompt, "ar", "tokens");
      for (const prefix of ["tokens", "states"] as const) {
        const dv = await run(engine, prompt, "blt-dv", prefix);
        expect(dv.text, `${prefix}: ${prompt}`).toBe(ar.text);
        if (dv.end.type === "done") { accepted[prefix] += dv.end.stats.acceptedBytes; drafted[prefix] += dv.end.stats.draftedBytes; }
      }
    }
    expect(accepted.states / drafted.states).toBeGreaterThan(accepted.tokens / drafted.tokens);
  });

  it("is the default, and changes BLT-D's bytes against the paper's token inputs (the decoder reads the states)", async () => {
    const engine = await nodeEngine(V2);
    let differ = 0;
    for (const prompt of PROMPTS) {
      const states = await run(engine, prompt, "blt-d", "states");
      const byDefault = await collect(engine.decode(request(prompt, { mode: "blt-d", maxNewBytes: 96 })));
      expect(byDefault.text).toBe(states.text);
      if ((await run(engine, prompt, "blt-d", "tokens")).text !== states.text) differ++;
    }
    expect(differ).toBeGreaterThan(0);
  });
});
