// The router's choices, on stub backends: local while a request fits the edge budget (or no pool), the pool over
// it when a worker serves the model, the edge again when none does; the context and length limits; a model only
// the pool serves; 503 when no worker is up; 404 naming the models that exist.
import { describe, expect, it } from "vitest";
import type { PoolBackend } from "../../src/backends/pool.ts";
import { RouteError, Router } from "../../src/backends/router.ts";
import type { DecodeBackend, DecodeRequest } from "../../src/protocol.ts";
import { request } from "../support/engine-requests.ts";

const local: DecodeBackend = { name: "local", models: () => ["edge-model"], decode: async function* () {} };

function pool(models: string[], up: boolean | boolean[] = true, configured = true) {
  const refreshes: (boolean | undefined)[] = [];
  const p = {
    name: "pool", configured, refreshes,
    refresh: async (force?: boolean) => { refreshes.push(force); },
    models: () => models,
    status: () => (Array.isArray(up) ? up : [up]).map((u, i) => ({ url: `http://w${i + 1}`, up: u, busy: 0, capacity: 4, models })),
    decode: async function* () {},
  };
  return p as unknown as PoolBackend & { refreshes: (boolean | undefined)[] };
}

const routerOf = (p: PoolBackend | null, edgeMaxRequestBytes = 100, maxNewBytes?: number) =>
  new Router({ backend: local, models: () => [{ id: "edge-model", contextBytes: 64, weightBytes: 0, maxNewBytes }] }, p, { edgeMaxRequestBytes });

const req = (model: string, promptBytes: number, maxNewBytes: number): DecodeRequest =>
  request("x".repeat(promptBytes), { model, maxNewBytes });

async function routeError(p: Promise<unknown>): Promise<RouteError> {
  try { await p; } catch (e) { expect(e).toBeInstanceOf(RouteError); return e as RouteError; }
  throw new Error("no RouteError");
}

describe("router", () => {
  it("keeps a request on the edge while prompt + 1 + max_tokens ≤ the edge budget, exactly at the boundary too", async () => {
    const p = pool(["edge-model"]);
    const r = routerOf(p, 100);
    expect((await r.pick(req("edge-model", 10, 89))).name).toBe("local"); // 10 + 1 + 89 = 100
    expect(p.refreshes).toEqual([]);
    expect((await r.pick(req("edge-model", 10, 90))).name).toBe("pool"); // 101
    expect(p.refreshes).toEqual([true]);
  });

  it("over the edge budget: the edge still serves it when no pool worker serves the model, or there is no pool", async () => {
    expect((await routerOf(pool(["other"]), 100).pick(req("edge-model", 10, 200))).name).toBe("local");
    expect((await routerOf(null, 100).pick(req("edge-model", 10, 200))).name).toBe("local");
  });

  it("the prompt must fit the model's window with BOS: 63 bytes fit a 64-byte window, 64 do not", async () => {
    const r = routerOf(null, 1e9);
    expect((await r.pick(req("edge-model", 63, 8))).name).toBe("local");
    const e = await routeError(r.pick(req("edge-model", 64, 8)));
    expect(e).toMatchObject({ code: "context_length_exceeded", param: "prompt" });
    expect(e.message).toContain("at most 63 bytes (this one is 64)");
  });

  it("max_tokens: at most the model's maxNewBytes (default 8192); a default length is cut to it instead", async () => {
    const r = routerOf(null, 1e9, 100);
    expect((await r.pick(req("edge-model", 5, 100))).name).toBe("local");
    const e = await routeError(r.pick(req("edge-model", 5, 101)));
    expect(e).toMatchObject({ code: "context_length_exceeded", param: "max_tokens" });
    expect(e.message).toContain("100");
    const cut = req("edge-model", 5, 5000);
    expect((await r.pick(cut, true)).name).toBe("local");
    expect(cut.maxNewBytes).toBe(100);
    const kept = req("edge-model", 5, 50);
    await r.pick(kept, true);
    expect(kept.maxNewBytes).toBe(50);
    const dflt = routerOf(null, 1e9);
    expect((await dflt.pick(req("edge-model", 5, 8192))).name).toBe("local");
    expect((await routeError(dflt.pick(req("edge-model", 5, 8193)))).param).toBe("max_tokens");
  });

  it("a model only the pool serves goes to the pool; with no worker up it is 503-unavailable; unknown is 404 naming the models", async () => {
    const p = pool(["big"]);
    expect((await routerOf(p).pick(req("big", 5, 8))).name).toBe("pool");
    expect(p.refreshes).toEqual([undefined]);
    const down = routerOf(pool([], false));
    expect(await routeError(down.pick(req("big", 5, 8)))).toMatchObject({ code: "unavailable", param: "model" });
    const nf = await routeError(routerOf(pool(["big"])).pick(req("nope", 5, 8)));
    expect(nf).toMatchObject({ code: "model_not_found", param: "model" });
    expect(nf.message).toContain("edge-model, big");
    const nfNoPool = await routeError(routerOf(null).pick(req("nope", 5, 8)));
    expect(nfNoPool).toMatchObject({ code: "model_not_found" });
    expect(nfNoPool.message).toContain("models: edge-model");
    // one worker up of two: the model is unknown rather than unavailable
    expect((await routeError(routerOf(pool([], [false, true])).pick(req("big", 5, 8)))).code).toBe("model_not_found");
    expect((await routeError(routerOf(pool([], [false, false])).pick(req("big", 5, 8)))).code).toBe("unavailable");
    // a pool that is not configured is not asked
    const unconfigured = pool(["big"], true, false);
    expect((await routeError(routerOf(unconfigured).pick(req("big", 5, 8)))).code).toBe("model_not_found");
  });

  it("lists the edge's models with their windows, then the pool's others; status is the pool's, or empty", async () => {
    const p = pool(["edge-model", "big"]);
    expect(await routerOf(p).models()).toEqual([{ id: "edge-model", backend: "local", contextBytes: 64 }, { id: "big", backend: "pool" }]);
    expect(await routerOf(null).models()).toEqual([{ id: "edge-model", backend: "local", contextBytes: 64 }]);
    expect(routerOf(p).poolStatus()).toEqual([{ url: "http://w1", up: true, busy: 0, capacity: 4, models: ["edge-model", "big"] }]);
    expect(routerOf(null).poolStatus()).toEqual([]);
    // with two edge models, the pool's copy of either is not listed again
    const two = new Router({ backend: local, models: () => [{ id: "edge-model", contextBytes: 64, weightBytes: 0 }, { id: "edge-2", contextBytes: 32, weightBytes: 0 }] },
      pool(["edge-model", "edge-2", "big"]), { edgeMaxRequestBytes: 100 });
    expect((await two.models()).map((m) => `${m.id}:${m.backend}`)).toEqual(["edge-model:local", "edge-2:local", "big:pool"]);
  });
});
