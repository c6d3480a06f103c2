// The app's middleware in process on the real tiny engine: open without a key, the key when set, and the
// rate-limiting binding's verdict (the binding is Cloudflare's; here an object of its shape decides).
import { describe, expect, it } from "vitest";
import { LocalBackend } from "../../src/backends/local.ts";
import { Router } from "../../src/backends/router.ts";
import { createApp, type RateLimiter } from "../../src/server/app.ts";
import { nodeEngine } from "../support/engine.ts";

async function app(opts: { apiKey?: string; rateLimiter?: RateLimiter }) {
  const engines = new Map([["blt-d-tiny", await nodeEngine("models/blt-d-tiny", 512)]]);
  const router = new Router({ backend: new LocalBackend(engines), models: () => [{ id: "blt-d-tiny", contextBytes: 512, weightBytes: 0 }] }, null, { edgeMaxRequestBytes: Infinity });
  return createApp({ router, ready: async () => {}, isReady: () => true, kernels: "wasm-simd128",
    defaults: { mode: "ar", maxNewBytes: 16, blockSize: 8, threshold: 0.9, draftLength: 8 },
    maxBodyBytes: 65536, maxPromptBytes: 480, maxConcurrentDecodes: 4, ...opts });
}

const body = JSON.stringify({ model: "blt-d-tiny", prompt: "Hello", max_tokens: 8, temperature: 0 });
const post = (headers: Record<string, string> = {}) => ({ method: "POST", headers: { "content-type": "application/json", ...headers }, body });

describe("protection middleware", () => {
  it("is open without a key and closed with one", async () => {
    expect((await (await app({})).request("/v1/completions", post())).status).toBe(200);
    const locked = await app({ apiKey: "k1" });
    expect((await locked.request("/v1/completions", post())).status).toBe(401);
    expect((await locked.request("/v1/completions", post({ authorization: "Bearer k2" }))).status).toBe(401);
    expect((await locked.request("/v1/completions", post({ authorization: "Bearer k1" }))).status).toBe(200);
  });

  it("the rate limiter's refusal is 429 with retry-after, keyed by the API key", async () => {
    const keys: string[] = [];
    let allow = 1;
    const limited = await app({ apiKey: "k1", rateLimiter: { limit: async ({ key }) => { keys.push(key); return { success: allow-- > 0 }; } } });
    expect((await limited.request("/v1/completions", post({ authorization: "Bearer k1" }))).status).toBe(200);
    const r = await limited.request("/v1/completions", post({ authorization: "Bearer k1" }));
    expect(r.status).toBe(429);
    expect(r.headers.get("retry-after")).toBeTruthy();
    expect((await r.json()).error).toMatchObject({ code: "rate_limit_exceeded", type: "rate_limit_error" });
    expect(keys).toEqual(["k1", "k1"]);
  });
});
