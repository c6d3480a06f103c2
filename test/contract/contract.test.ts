// The request contract (src/contract.ts) is the one table of the request's fields: the API's 400s, the engine's
// checks and both pool workers' use its sentences, and scripts/pool/contract.json (read by the PyTorch worker)
// is generated from it. test/contract/changed-limit.test.ts changes a limit and watches every side follow.
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { LocalBackend } from "../../src/backends/local.ts";
import { Router } from "../../src/backends/router.ts";
import { contractJson, describeField, ENGINE_PARAMS, REQUEST_FIELDS } from "../../src/contract.ts";
import type { Engine } from "../../src/engine/engine.ts";
import { parseWireRequest } from "../../src/pool/request.ts";
import { createApp } from "../../src/server/app.ts";
import { CONTRACT_DEFAULTS } from "../../src/server/schemas.ts";
import { encodeRequest } from "../../src/backends/wire.ts";
import { collect, nodeEngine, request } from "../support/engine.ts";

let engine: Engine;
beforeAll(async () => { engine = await nodeEngine("models/blt-d-tiny", 512); });

const app = () => createApp({
  router: new Router({ backend: new LocalBackend(new Map([["blt-d-tiny", engine]])), models: () => [{ id: "blt-d-tiny", contextBytes: 512, weightBytes: 0 }] },
    null, { edgeMaxRequestBytes: Infinity }),
  ready: async () => {}, isReady: () => true, kernels: "wasm-simd128", defaults: { ...CONTRACT_DEFAULTS, maxNewBytes: 8 },
  maxBodyBytes: 65536, maxPromptBytes: 4096, maxConcurrentDecodes: 4,
});
const post = (o: object) => ({ method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "blt-d-tiny", prompt: "Hello", ...o }) });

describe("the request contract", () => {
  it("scripts/pool/contract.json is the table as `npm run contract` writes it", () => {
    expect(readFileSync("scripts/pool/contract.json", "utf8"), "run `npm run contract` and commit scripts/pool/contract.json").toBe(contractJson());
  });

  it("words each kind of limit once", () => {
    expect(describeField("top_k", REQUEST_FIELDS.top_k)).toBe("top_k must be an integer in [0, 256]");
    expect(describeField("top_p", REQUEST_FIELDS.top_p)).toBe("top_p must be a number in (0, 1]");
    expect(describeField("entropy_bound", REQUEST_FIELDS.entropy_bound)).toBe("entropy_bound must be a number ≥ 0");
    expect(describeField("block_prefix", REQUEST_FIELDS.block_prefix)).toBe("block_prefix must be one of tokens, states");
    expect(describeField("stop", REQUEST_FIELDS.stop)).toBe("stop: up to 4 stop sequences of 1 to 64 bytes");
  });

  it("the API's 400, the engine's error and the TS pool worker's 400 say the same sentence and name the same field", async () => {
    const cases: [string, object, Parameters<typeof request>[1], string][] = [
      ["top_k", { top_k: 300 }, { sampling: { topK: 300 } }, "top_k must be an integer in [0, 256]"],
      ["temperature", { temperature: 2.5 }, { sampling: { temperature: 2.5 } }, "temperature must be a number in [0, 2]"],
      ["block_size", { block_size: 65 }, { knobs: { blockSize: 65 } }, "block_size must be an integer in [1, 64]"],
      ["threshold", { threshold: 0 }, { knobs: { threshold: 0 } }, "threshold must be a number in (0, 1]"],
      ["draft_length", { draft_length: 0 }, { knobs: { draftLength: 0 } }, "draft_length must be an integer in [1, 64]"],
    ];
    const a = app();
    for (const [param, body, over, sentence] of cases) {
      const res = await a.request("/v1/completions", post(body));
      expect(res.status, param).toBe(400);
      expect((await res.json()).error).toMatchObject({ param, message: sentence });
      const r = await collect(engine.decode(request("Hello", over)));
      expect(r.end).toMatchObject({ type: "error", code: "invalid_request", param, message: expect.stringMatching(`^${sentence.replace(/[[\]()]/g, "\\$&")}, got `) });
      try {
        parseWireRequest(encodeRequest({ ...request("Hello", over), model: "m" }), new Map([["m", { ctx: 512 }]]));
        expect.unreachable(`the pool worker took ${param}`);
      } catch (e) {
        expect(e).toMatchObject({ status: 400, param, message: expect.stringContaining(sentence) });
      }
      expect(ENGINE_PARAMS.has(param)).toBe(true); // the edge passes a worker's 400 on with its field
    }
  });

  it("max_tokens over the deployment's limit is a 400 naming max_tokens, from the router or the engine", async () => {
    const res = await app().request("/v1/completions", post({ max_tokens: REQUEST_FIELDS.max_tokens.max + 1 }));
    expect(res.status).toBe(400);
    expect((await res.json()).error).toMatchObject({ code: "context_length_exceeded", param: "max_tokens", message: expect.stringContaining(`at most ${REQUEST_FIELDS.max_tokens.max}`) });
    const r = await collect(engine.decode(request("x", { maxNewBytes: REQUEST_FIELDS.max_tokens.max + 1 })));
    expect(r.end).toMatchObject({ type: "error", param: "max_tokens", message: `max_tokens must be an integer in [0, ${REQUEST_FIELDS.max_tokens.max}], got ${REQUEST_FIELDS.max_tokens.max + 1}` });
  });

  it("block_size 32 is within the table's limit everywhere (changed-limit.test.ts lowers it)", async () => {
    const res = await app().request("/v1/completions", post({ block_size: 32, mode: "blt-d", max_tokens: 4 }));
    expect(res.status).toBe(200);
    expect((await collect(engine.decode(request("Hello", { mode: "blt-d", maxNewBytes: 4, knobs: { blockSize: 32 } })))).end.type).toBe("done");
  });
});
