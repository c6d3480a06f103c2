// Decoder rows whose logits nobody reads stop at their keys and values in the last layer (BLT-D's revealed block
// positions, the committed rows riding in a block's first pass, the prompt's rows but the last): the rows that are
// read get the same logits bit for bit as when every row runs to the head.
import { describe, expect, it } from "vitest";
import { MASK } from "../../src/config.ts";
import { Sequence } from "../../src/engine/decode/sequence.ts";
import { nodeEngine } from "../support/engine.ts";
import { TINY, V2 } from "../support/node-files.ts";

describe.each([TINY, V2])("rows nobody reads, on %s", (dir) => {
  it("a block pass gives the masked rows the logits of a full pass, whatever rows are revealed", async () => {
    const { model } = await nodeEngine(dir);
    const seq = new Sequence(model);
    await seq.prefill(new TextEncoder().encode("The history of the city of London begins with "));
    const q = seq.closePatch(), s = seq.n, B = 8;
    const ids = Int32Array.from({ length: B }, () => MASK);
    ids[0] = 0x74; ids[3] = 0x65; ids[4] = 0x20;
    const full = (await model.readLogits(B, model.decoderBlock(s, q, ids, seq.pendingCleanRows, seq.pendingReads()))).slice();
    const need = Uint8Array.from(ids, (v) => (v === MASK ? 1 : 0));
    const rows = [...need.keys()].filter((k) => need[k]);
    const some = await model.readLogits(rows.length, model.decoderBlock(s, q, ids, seq.pendingCleanRows, seq.pendingReads(), need));
    rows.forEach((k, j) => expect(Buffer.from(some.slice(j * 256, (j + 1) * 256).buffer).equals(Buffer.from(full.slice(k * 256, (k + 1) * 256).buffer)), `row ${k}`).toBe(true));
  });

  it("prefill (the last row's logits only) leaves the same next-byte logits as scoring every row", async () => {
    const { model } = await nodeEngine(dir);
    const text = new TextEncoder().encode("It was the best of times, it was the worst of times, it was the age of wisdom, ".repeat(3));
    const a = new Sequence(model);
    await a.prefill(text);
    const last = a.nextLogits.slice();
    const b = new Sequence(model);
    await b.appendClean(Int32Array.from([256, ...text]));
    expect(Buffer.from(b.nextLogits.slice().buffer).equals(Buffer.from(last.buffer))).toBe(true);
  });
});
