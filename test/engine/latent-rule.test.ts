// The decoder's latent rule in the engine (docs/design.md §1, docs/model.md §8): row i reads the latent of the patch
// just before the patch holding x(i+1), so the last byte of a patch reads its own patch's latent, made (pooling +
// global step) before that row runs; no later byte may change a row's logits. On the paper-rule model (blt-v2)
// and the v1 model (blt-d-tiny), teacher-forced through Sequence.appendClean as AR decoding runs it.
import { describe, expect, it } from "vitest";
import { BOS } from "../../src/config.ts";
import { Sequence } from "../../src/engine/decode/sequence.ts";
import { nodeEngine } from "../support/engine.ts";
import { TINY, V2 } from "../support/node-files.ts";

const TEXT = "The committee said on Tuesday that the 1961 budget, which the mayor had called \"a plan for the next decade\", " +
  "would be revised before the vote. Critics (among them three aldermen) asked why.";

function ids(text: string): Int32Array {
  const b = new TextEncoder().encode(text);
  const out = new Int32Array(b.length + 1);
  out[0] = BOS;
  out.set(b, 1);
  return out;
}

describe.each([[V2, "one"], [TINY, "v1"]])("the latent rule on %s", (dir, rule) => {
  it(`uses rule ${rule}: a row reads the patch before its target's patch (v1: before its own)`, async () => {
    const engine = await nodeEngine(dir, 512);
    expect(engine.model.config.decoderLatents).toBe(rule);
    const seq = new Sequence(engine.model);
    const tokens = ids(TEXT);
    await seq.appendClean(tokens);
    let ends = 0;
    for (let i = 0; i + 1 < tokens.length; i++) {
      const endsPatch = seq.patchOf[i + 1] !== seq.patchOf[i];
      ends += endsPatch ? 1 : 0;
      const want = rule === "v1" ? seq.patchOf[i] - 1 : seq.patchOf[i] + (endsPatch ? 1 : 0) - 1;
      expect(seq.readOf[i], `row ${i}`).toBe(want);
      if (rule !== "v1") expect(seq.readOf[i] === seq.patchOf[i], `row ${i} reads its own patch's latent`).toBe(endsPatch);
    }
    expect(ends).toBeGreaterThan(10);
  });

  it("no later byte changes a row's logits", async () => {
    const engine = await nodeEngine(dir, 512);
    const a = ids(TEXT);
    const base = new Sequence(engine.model);
    await base.appendClean(a);
    const rowsA = base.rowLogits.slice(0, a.length * 256);
    let changedLater = 0;
    for (const i of [20, 57, 58, 90, 120]) {
      const b = a.slice();
      for (let j = i + 1; j < b.length; j++) b[j] = 0x61 + ((j * 7) % 26);       // other bytes after x(i)
      const seq = new Sequence(engine.model);
      await seq.appendClean(b);
      for (let v = 0; v < 256; v++) expect(seq.rowLogits[i * 256 + v], `row ${i}`).toBe(rowsA[i * 256 + v]);
      for (let v = 0; v < 256; v++) if (seq.rowLogits[(i + 1) * 256 + v] !== rowsA[(i + 1) * 256 + v]) { changedLater++; break; }
    }
    expect(changedLater).toBe(5); // the next row does see the change: the check can fail
  });
});
