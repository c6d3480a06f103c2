// Seeded mutations of valid requests through the app on the real tiny engine: whatever a client sends, the answer
// is a 2xx or a 4xx with an OpenAI error body, never a 5xx (400 mutations).
import { describe, expect, it } from "vitest";
import { LocalBackend } from "../../src/backends/local.ts";
import { Router } from "../../src/backends/router.ts";
import { createApp } from "../../src/server/app.ts";
import { nodeEngine } from "../support/engine.ts";

function prng(seed: number): () => number {
  return () => { seed = (seed + 0x6d2b79f5) | 0; let t = Math.imul(seed ^ (seed >>> 15), 1 | seed); t ^= t + Math.imul(t ^ (t >>> 7), 61 | t); return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32; };
}

const ODD: unknown[] = [null, true, false, 0, -1, 1.5, 2 ** 53, -(2 ** 31), 1e308, -1e-308, "", "x", "\ud800", "é€😀", [], [1, "a"], {}, { a: { b: [] } },
  "x".repeat(5000), 64, 65, 33, 48, 511, 512, 1 << 20, 0.5, 1, 2, 256, 257, "ar", "blt-dv", "blt-d", "blt-s"];
/** Values each knob's schema accepts, its edges included: half the mutations draw from these. */
const IN_RANGE: Record<string, unknown[]> = {
  mode: ["ar", "blt-d", "blt-s", "blt-dv"], block_size: [1, 2, 33, 48, 64], max_steps_per_block: [1, 2, 64], threshold: [1, 0.01],
  entropy_bound: [0, 100, null], draft_length: [1, 2, 64], max_tokens: [0, 1, 64, 300], temperature: [0, 2], top_p: [1, 1e-9], top_k: [0, 1, 256],
  seed: [0, -1, 2 ** 40], stop: [["e"], ["the", "a", "\n", "é"]],
};
const FIELDS = ["model", "prompt", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "seed", "stop", "stream",
  "stream_options", "n", "mode", "block_size", "threshold", "entropy_bound", "max_steps_per_block", "draft_length", "logprobs", "tools", "response_format"];

function mutate(base: Record<string, unknown>, rnd: () => number): Record<string, unknown> {
  const o: Record<string, unknown> = structuredClone(base);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)];
  for (let k = 1 + Math.floor(rnd() * 3); k > 0; k--) {
    const f = pick(FIELDS), what = rnd();
    if (what < 0.5 && IN_RANGE[f]) o[f] = pick(IN_RANGE[f]);
    else if (what < 0.6) delete o[f];
    else if (what < 0.3 && f === "messages") o.messages = [{ role: pick(["user", "system", "tool", "x"]), content: pick(ODD) }];
    else o[f] = pick(ODD);
  }
  return o;
}

describe("fuzzed requests", () => {
  it("400 seeded mutations of valid requests give no 5xx", async () => {
    const engines = new Map([["blt-d-tiny", await nodeEngine("models/blt-d-tiny", 512)]]);
    const router = new Router({ backend: new LocalBackend(engines, 2), models: () => [{ id: "blt-d-tiny", contextBytes: 512, weightBytes: 0 }] }, null, { edgeMaxRequestBytes: Infinity });
    const app = createApp({ router, ready: async () => {}, isReady: () => true, kernels: "wasm-simd128",
      defaults: { mode: "blt-s", maxNewBytes: 16, blockSize: 8, threshold: 0.9, draftLength: 8 }, maxBodyBytes: 65536, maxPromptBytes: 480, maxConcurrentDecodes: 4 });
    const bases = [
      ["/v1/completions", { model: "blt-d-tiny", prompt: "Hello", max_tokens: 24, temperature: 0, mode: "blt-dv", block_size: 16 }],
      ["/v1/chat/completions", { model: "blt-d-tiny", messages: [{ role: "user", content: "Hi" }], max_tokens: 100, stream: true, mode: "blt-d" }],
    ] as const;
    const rnd = prng(15);
    const statuses = new Map<number, number>();
    for (let i = 0; i < 400; i++) {
      const [path, base] = bases[i % 2];
      const body = mutate(base, rnd);
      const r = await app.request(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      const text = await r.text();
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      expect(r.status, `${JSON.stringify(body).slice(0, 300)} → ${text.slice(0, 300)}`).toBeLessThan(500);
      if (r.status >= 400) expect(JSON.parse(text).error.code).toEqual(expect.any(String));
      else if (body.stream !== true) expect(JSON.parse(text).choices).toHaveLength(1);
      else expect(text).not.toContain("\"error\"");
    }
    console.log(`fuzzed statuses: ${JSON.stringify(Object.fromEntries(statuses))}`);
    expect(statuses.get(200)).toBeGreaterThan(50);
  });
});
