// The app's middleware in process on the real tiny engine: open without a key, the key when set, the
// rate-limiting binding's verdict and key (the binding is Cloudflare's; here an object of its shape decides), and
// what errors and /health let out.
import { afterAll, describe, expect, it } from "vitest";
import { LocalBackend } from "../../src/backends/local.ts";
import { PoolBackend } from "../../src/backends/pool.ts";
import { Router } from "../../src/backends/router.ts";
import type { DecodeBackend } from "../../src/protocol.ts";
import { createApp, type RateLimiter } from "../../src/server/app.ts";
import { nodeEngine } from "../support/engine.ts";
import { startRogueWorker, type RogueWorker } from "../support/rogue-worker.ts";

async function app(opts: { apiKey?: string; rateLimiter?: RateLimiter; pool?: PoolBackend; local?: DecodeBackend }) {
  const engines = new Map([["blt-d-tiny", await nodeEngine("models/blt-d-tiny", 512)]]);
  const router = new Router({ backend: opts.local ?? new LocalBackend(engines), models: () => [{ id: "blt-d-tiny", contextBytes: 512, weightBytes: 0 }] },
    opts.pool ?? null, { edgeMaxRequestBytes: Infinity });
  return createApp({ router, ready: async () => {}, isReady: () => true, kernels: "wasm-simd128",
    defaults: { mode: "ar", maxNewBytes: 16, blockSize: 8, threshold: 0.9, draftLength: 8 },
    maxBodyBytes: 65536, maxPromptBytes: 480, maxConcurrentDecodes: 4, apiKey: opts.apiKey, rateLimiter: opts.rateLimiter });
}

/** A limiter that lets `allow` requests through and records the key of each it is asked about. */
function limiter(allow: number): RateLimiter & { keys: string[] } {
  const keys: string[] = [];
  return { keys, limit: async ({ key }) => { keys.push(key); return { success: allow-- > 0 }; } };
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

  it("without a key configured, the limiter is keyed on the client IP whatever bearer token is sent", async () => {
    const rl = limiter(1);
    const open = await app({ rateLimiter: rl });
    const from = (token: string) => post({ authorization: `Bearer ${token}`, "cf-connecting-ip": "203.0.113.7" });
    expect((await open.request("/v1/completions", from("fresh-1"))).status).toBe(200);
    expect((await open.request("/v1/completions", from("fresh-2"))).status).toBe(429);
    expect(rl.keys).toEqual(["ip:203.0.113.7", "ip:203.0.113.7"]);
  });

  it("failed API-key attempts count against the client IP, so guessing is limited too", async () => {
    const rl = limiter(2);
    const locked = await app({ apiKey: "k1", rateLimiter: rl });
    const guess = (token: string) => post({ authorization: `Bearer ${token}`, "cf-connecting-ip": "203.0.113.9" });
    expect((await locked.request("/v1/completions", guess("a"))).status).toBe(401);
    expect((await locked.request("/v1/completions", guess("b"))).status).toBe(401);
    expect((await locked.request("/v1/completions", guess("c"))).status).toBe(429);
    expect(rl.keys).toEqual(["ip:203.0.113.9", "ip:203.0.113.9", "ip:203.0.113.9"]);
  });
});

describe("what responses let out", () => {
  const workers: RogueWorker[] = [];
  afterAll(async () => { await Promise.all(workers.map((w) => w.close())); });
  const rogue = async (b: Parameters<typeof startRogueWorker>[0]) => { const w = await startRogueWorker(b); workers.push(w); return w; };
  const poolOf = (w: RogueWorker) => new PoolBackend({ endpoints: [w.url], timeouts: { connectMs: 300, firstEventMs: 300, idleMs: 300 }, log: () => {} });

  it("/health names the pool workers' URLs only to a caller holding the API key", async () => {
    const w = await rogue("honest");
    const open = await app({ pool: poolOf(w) });
    const h = await (await open.request("/health")).json();
    expect(h.pool).toEqual([expect.objectContaining({ up: expect.any(Boolean) })]);
    expect(JSON.stringify(h)).not.toContain(w.url);
    const locked = await app({ apiKey: "k1", pool: poolOf(w) });
    expect(JSON.stringify(await (await locked.request("/health")).json())).not.toContain(w.url);
    expect(JSON.stringify(await (await locked.request("/health", { headers: { authorization: "Bearer k2" } })).json())).not.toContain(w.url);
    expect((await (await locked.request("/health", { headers: { authorization: "Bearer k1" } })).json()).pool[0].url).toBe(w.url);
  });

  it("a pool worker's 500 with the code busy is a 503 naming no worker, not a 429 with its text", async () => {
    const w = await rogue("busy-500");
    const a = await app({ pool: poolOf(w) });
    const r = await a.request("/v1/completions", { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "pool-only", prompt: "x", max_tokens: 4 }) });
    expect(r.status).toBe(503);
    expect(r.headers.get("retry-after")).toBeTruthy();
    const text = await r.text();
    expect(text).not.toMatch(/127\.0\.0\.1|Traceback|secret|busy/);
  });

  it("a pool-only model is decoded by a live pool worker", async () => {
    const w = await rogue("honest");
    const a = await app({ pool: poolOf(w) });
    const r = await a.request("/v1/completions", { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "pool-only", prompt: "x", max_tokens: 6 }) });
    expect(r.status).toBe(200);
    const body = await r.json();
    expect(body.choices[0].text).toBe("aaaaaa");
    expect(body.usage.bltedge.backend).toBe("pool");
  });

  it("an exception in a backend is a 500 that says only 'internal error'", async () => {
    const broken: DecodeBackend = { name: "local", models: () => ["blt-d-tiny"], decode: () => { throw new Error("secret path /srv/models"); } };
    const a = await app({ local: broken });
    const r = await a.request("/v1/completions", post());
    expect(r.status).toBe(500);
    expect((await r.json()).error).toMatchObject({ message: "internal error", code: "internal_error" });
  });
});
