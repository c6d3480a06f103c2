// The local backend: concurrent requests for one model take turns and nothing is mixed between streams.
import { beforeAll, describe, expect, it } from "vitest";
import { LocalBackend } from "../../src/backends/local.ts";
import type { Engine } from "../../src/engine/engine.ts";
import { collect, nodeEngine, request } from "../support/engine.ts";
import { TINY } from "../support/node-files.ts";

describe("local backend", () => {
  let engine: Engine;
  let backend: LocalBackend;
  beforeAll(async () => {
    engine = await nodeEngine(TINY);
    backend = new LocalBackend(new Map([["blt-d-tiny", engine]]));
  });

  it("serves concurrent requests one after another, each stream intact", async () => {
    const prompts = ["The quick brown fox ", "Hello, world! ", "In the beginning "];
    const modes = ["ar", "blt-d", "blt-s"] as const;
    const alone = [];
    for (let i = 0; i < 3; i++) alone.push(await collect(engine.decode(request(prompts[i], { model: "blt-d-tiny", mode: modes[i], maxNewBytes: 80 }))));
    const together = await Promise.all(prompts.map((p, i) => collect(backend.decode(request(p, { model: "blt-d-tiny", mode: modes[i], maxNewBytes: 80 })))));
    for (let i = 0; i < 3; i++) expect(together[i].bytes).toEqual(alone[i].bytes);
    expect(backend.inLine("blt-d-tiny")).toBe(0);
  });

  it("answers an unknown model with an error, and never starts a request aborted while waiting", async () => {
    const r = await collect(backend.decode(request("x", { model: "nope" })));
    expect(r.end).toMatchObject({ type: "error", code: "model_not_found" });
    const ac = new AbortController();
    const first = collect(backend.decode(request("The ", { model: "blt-d-tiny", maxNewBytes: 200 })));
    const second = collect(backend.decode(request("The ", { model: "blt-d-tiny", maxNewBytes: 200 }), ac.signal));
    ac.abort();
    expect((await second).end).toMatchObject({ type: "error", code: "cancelled" });
    expect((await second).bytes.length).toBe(0);
    expect((await first).bytes.length).toBe(200);
  });

  it("refuses a request beyond a model's line at once, with model_busy; another model is unaffected", async () => {
    const bounded = new LocalBackend(new Map([["blt-d-tiny", engine], ["other", await nodeEngine(TINY)]]), 2);
    const long = (model: string) => collect(bounded.decode(request("The ", { model, maxNewBytes: 200 })));
    const [a, b, c, d] = [long("blt-d-tiny"), long("blt-d-tiny"), long("blt-d-tiny"), long("other")];
    expect((await c).end).toMatchObject({ type: "error", code: "model_busy" });
    expect((await c).bytes.length).toBe(0);
    for (const r of [await a, await b, await d]) expect(r.bytes.length).toBe(200);
    expect((await long("blt-d-tiny")).bytes.length).toBe(200);
  });
});
