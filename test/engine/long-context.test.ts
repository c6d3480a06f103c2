// Generation past the training window (docs/engine.md, "Context and long answers"): the caches slide, RoPE
// positions keep counting, the global model attends to the patches within its trained window. Sliding is exact (a
// model that never slides gives the same bits), greedy BLT-S and BLT-DV still equal AR far past the window, rule
// "one"'s shortcut equals its cross-attention, and the limits are stated in the errors.
import { beforeAll, describe, expect, it } from "vitest";
import { BOS, type ModelConfig } from "../../src/config.ts";
import { readCheckpoint, type Checkpoint } from "../../src/checkpoint/reader.ts";
import { Engine } from "../../src/engine/engine.ts";
import { loadModel } from "../../src/engine/load.ts";
import { slideDomains, type BltModel } from "../../src/engine/model/blt-model.ts";
import { bitsOf } from "../../src/engine/score.ts";
import { WasmKernels } from "../../src/kernels/wasm/wasm-kernels.ts";
import { compileKernelsModuleNode } from "../../wasm/node.ts";
import { collect, request } from "../support/engine.ts";
import { dirReader, TINY, V2 } from "../support/node-files.ts";

const module = compileKernelsModuleNode();
type Domains = ReturnType<typeof slideDomains>;

async function model(ck: Checkpoint, domains?: (d: Domains) => Domains): Promise<BltModel> {
  return loadModel(ck, (bytes) => WasmKernels.create(module, bytes), undefined, domains?.(slideDomains(ck.config)));
}
/** Slides as often as allowed (a chunk's worth of slack) or never within these tests. */
const often = (d: Domains): Domains => ({ bytes: { ...d.bytes, capacity: d.bytes.keep + 64 }, patches: { ...d.patches, capacity: d.patches.keep + 64 } });
const never = (d: Domains): Domains => ({ bytes: { ...d.bytes, capacity: d.bytes.keep + 8192 }, patches: { ...d.patches, capacity: d.patches.keep + 8192 } });

const text = (n: number) => {
  const words = "the of and a to in is was he for it with as his on be at by had are but from or have an they which one you were her all".split(" ");
  let s = "", x = 7;
  while (s.length < n) { x = (x * 1103515245 + 12345) >>> 0; s += words[(x >>> 16) % words.length] + ((x & 15) === 0 ? ".\n" : " "); }
  return new TextEncoder().encode(s.slice(0, n));
};

describe("past the training window", () => {
  let ck: Checkpoint;
  beforeAll(async () => { ck = await readCheckpoint(TINY, dirReader(TINY)); });

  it("sliding the caches is exact: a model that slides every chunk scores 4,000 bytes exactly as one that never slides", async () => {
    const t = text(4000);
    const perByte = new Float64Array(t.length);
    const a = await bitsOf(await model(ck, often), [BOS], t, perByte);
    const b = await bitsOf(await model(ck, never), [BOS], t);
    expect(a).toBe(b);
    // still the same language model far past the 512-byte window (this text is stationary: random common words)
    const mean = (x: Float64Array) => x.reduce((s, v) => s + v, 0) / x.length;
    const within = mean(perByte.subarray(100, 500)), past = mean(perByte.subarray(3000, 4000));
    expect(Math.abs(past - within)).toBeLessThan(0.25 * within);
  });

  it("greedy AR is the same bytes whether the caches slide or not, in every mode; blt-s and blt-dv equal ar past the window", async () => {
    const often1 = new Engine(await model(ck, often)), never1 = new Engine(await model(ck, never));
    const ar = await collect(often1.decode(request("It was a dark and stormy night; ", { mode: "ar", maxNewBytes: 1500 })));
    expect(ar.bytes.length).toBe(1500);
    for (const mode of ["ar", "blt-d"] as const) {
      const x = await collect(often1.decode(request("Once upon a time, ", { mode, maxNewBytes: 1200 })));
      const y = await collect(never1.decode(request("Once upon a time, ", { mode, maxNewBytes: 1200 })));
      expect(Buffer.from(x.bytes).equals(Buffer.from(y.bytes)), mode).toBe(true);
    }
    for (const mode of ["blt-s", "blt-dv"] as const) {
      const spec = await collect(often1.decode(request("It was a dark and stormy night; ", { mode, maxNewBytes: 1500, knobs: { threshold: 0.3 } })));
      expect(Buffer.from(spec.bytes).toString("hex"), mode).toBe(Buffer.from(ar.bytes).toString("hex"));
    }
  });

  it("rule \"one\": adding the precomputed wo·wv·latent equals the cross-attention bit for bit", async () => {
    const one: Checkpoint = { ...ck, config: { ...ck.config, decoderLatents: "one" } as ModelConfig };
    const m = await model(one), t = text(900);
    const fast = await bitsOf(m, [BOS], t);
    m.crossShortcut = false;
    const slow = await bitsOf(m, [BOS], t);
    expect(fast).toBe(slow);
    m.crossShortcut = true;
    const e = new Engine(m);
    const ar = await collect(e.decode(request("In the beginning ", { mode: "ar", maxNewBytes: 700 })));
    for (const mode of ["blt-s", "blt-dv"] as const) {
      const spec = await collect(e.decode(request("In the beginning ", { mode, maxNewBytes: 700, knobs: { threshold: 0.3 } })));
      expect(Buffer.from(spec.bytes).toString("hex"), mode).toBe(Buffer.from(ar.bytes).toString("hex"));
    }
  });

  it("on blt-v2 (rule one, a 2,048-byte window): greedy blt-s and blt-dv equal ar over 2,600 bytes", async () => {
    const e = new Engine(await loadModel(await readCheckpoint(V2, dirReader(V2), "q8"), (bytes) => WasmKernels.create(module, bytes)));
    const ar = await collect(e.decode(request("The history of the city ", { mode: "ar", maxNewBytes: 2600 })));
    expect(ar.bytes.length).toBe(2600);
    for (const mode of ["blt-s", "blt-dv"] as const) {
      const spec = await collect(e.decode(request("The history of the city ", { mode, maxNewBytes: 2600, knobs: { threshold: 0.3, draftLength: 32 } })));
      expect(Buffer.from(spec.bytes).toString("hex"), mode).toBe(Buffer.from(ar.bytes).toString("hex"));
    }
  });

  it("memory does not grow with the length: the arena and the Wasm memory are the same after 5,000 bytes as after 100", async () => {
    const m = await model(ck), e = new Engine(m);
    const memory = () => m.K.arena.buffer.byteLength;
    await collect(e.decode(request("The ", { mode: "blt-s", maxNewBytes: 100 })));
    const used = m.K.arena.usedBytes, bytes = memory();
    for (const mode of ["ar", "blt-s", "blt-d", "blt-dv"] as const) {
      const r = await collect(e.decode(request("The ", { mode, maxNewBytes: 5000, sampling: { temperature: 0.8 } })));
      expect(r.bytes.length, mode).toBe(5000);
    }
    expect([m.K.arena.usedBytes, memory()]).toEqual([used, bytes]);
  });

  it("refuses a prompt longer than the window and max_tokens over the limit, naming the limits", async () => {
    const e = new Engine(await model(ck), { maxNewBytes: 5000 });
    const long = await collect(e.decode(request("x".repeat(512), { maxNewBytes: 10 })));
    expect(long.end).toMatchObject({ type: "error", param: "prompt" });
    expect(long.end.type === "error" && long.end.message).toContain("at most 511 bytes");
    const fits = await collect(e.decode(request("x".repeat(511), { maxNewBytes: 10 })));
    expect(fits.bytes.length).toBe(10);
    const over = await collect(e.decode(request("x", { maxNewBytes: 5001 })));
    expect(over.end).toMatchObject({ type: "error", param: "max_tokens" });
    expect(over.end.type === "error" && over.end.message).toContain("5000");
  });
});
