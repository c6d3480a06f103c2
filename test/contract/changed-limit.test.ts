// One limit changed in the request contract's table (block_size at most 16 instead of 64) changes the API's 400,
// the engine's check and the TS pool worker's check, with nothing else edited. (The PyTorch worker's side:
// test/python/test_contract.py.) contract.test.ts runs the same requests against the table as it is.
import { beforeAll, describe, expect, it, vi } from "vitest";

vi.mock("../../src/contract.ts", async (importOriginal) => {
  const m = await importOriginal<typeof import("../../src/contract.ts")>();
  return { ...m, REQUEST_FIELDS: { ...m.REQUEST_FIELDS, block_size: { ...m.REQUEST_FIELDS.block_size, max: 16 } } };
});

import { LocalBackend } from "../../src/backends/local.ts";
import { Router } from "../../src/backends/router.ts";
import { encodeRequest } from "../../src/backends/wire.ts";
import type { Engine } from "../../src/engine/engine.ts";
import { parseWireRequest } from "../../src/pool/request.ts";
import { createApp } from "../../src/server/app.ts";
import { CONTRACT_DEFAULTS } from "../../src/server/schemas.ts";
import { collect, nodeEngine, request } from "../support/engine.ts";

let engine: Engine;
beforeAll(async () => { engine = await nodeEngine("models/blt-d-tiny", 512); });

describe("a limit changed in the contract table", () => {
  const sentence = "block_size must be an integer in [1, 16]";

  it("changes the API's 400 message", async () => {
    const a = createApp({
      router: new Router({ backend: new LocalBackend(new Map([["blt-d-tiny", engine]])), models: () => [{ id: "blt-d-tiny", contextBytes: 512, weightBytes: 0 }] },
        null, { edgeMaxRequestBytes: Infinity }),
      ready: async () => {}, isReady: () => true, kernels: "wasm-simd128", defaults: { ...CONTRACT_DEFAULTS, maxNewBytes: 4 },
      maxBodyBytes: 65536, maxPromptBytes: 4096, maxConcurrentDecodes: 4,
    });
    const post = (o: object) => ({ method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "blt-d-tiny", prompt: "Hello", mode: "blt-d", ...o }) });
    const over = await a.request("/v1/completions", post({ block_size: 32 }));
    expect(over.status).toBe(400);
    expect((await over.json()).error).toMatchObject({ param: "block_size", code: "invalid_value", message: sentence });
    expect((await a.request("/v1/completions", post({ block_size: 16 }))).status).toBe(200);
  });

  it("changes the engine's check", async () => {
    const over = await collect(engine.decode(request("Hello", { mode: "blt-d", knobs: { blockSize: 32 } })));
    expect(over.end).toMatchObject({ type: "error", code: "invalid_request", param: "block_size", message: `${sentence}, got 32` });
    expect((await collect(engine.decode(request("Hello", { mode: "blt-d", maxNewBytes: 4, knobs: { blockSize: 16 } })))).end.type).toBe("done");
  });

  it("changes the TS pool worker's check", () => {
    const body = encodeRequest({ ...request("Hello", { mode: "blt-d", knobs: { blockSize: 32 } }), model: "m" });
    expect(() => parseWireRequest(body, new Map([["m", { ctx: 512 }]]))).toThrow(`${sentence}, got 32`);
  });
});
