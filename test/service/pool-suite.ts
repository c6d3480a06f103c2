// The GPU-pool path end to end, for any pool worker that speaks the wire protocol: two workers behind the real
// Worker under wrangler dev. Requests over the edge budget go to the pool in every mode; a worker that is down
// is skipped (failover before any byte); a worker killed mid-stream ends the stream with one SSE error event;
// with no worker up the answer is 503 with retry-after. Run against the TypeScript engine worker by
// pool.test.ts (`npm test`) and against the PyTorch worker by test/service-torch/ (`npm run test:python`).
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { killPoolWorker as kill, type PoolWorker } from "../support/pool-workers.ts";
import { startWorker, type RunningWorker } from "../support/wrangler.ts";

/**
 * The suite, with `start` starting one pool worker on models/blt-d-tiny. Its streams must last long enough
 * for a kill after the first bytes to land mid-stream (400 bytes of AR: the PyTorch worker's own pace, the
 * TypeScript worker's --event-delay-ms). `expectWorkerHealth` checks what a worker's own /health adds.
 */
export function describePool(name: string, start: () => Promise<PoolWorker>, expectWorkerHealth: (h: Record<string, unknown>) => void = () => {}): void {
  let a: PoolWorker, b: PoolWorker, w: RunningWorker, client: OpenAI;

  beforeAll(async () => {
    [a, b] = await Promise.all([start(), start()]);
    // requests of more than 64 bytes (prompt + 1 + max_tokens) leave the edge for the pool
    w = await startWorker({ POOL_ENDPOINTS: `${a.url},${b.url}`, EDGE_MAX_REQUEST_BYTES: "64" });
    client = new OpenAI({ baseURL: `${w.url}/v1`, apiKey: "unused", maxRetries: 0 });
  }, 180_000);
  afterAll(async () => {
    await w?.stop();
    for (const p of [a, b]) if (p) await kill(p);
  });

  const ext = (o: Record<string, unknown>) => o as unknown as Record<string, never>;

  describe(`the GPU pool behind the router (${name})`, () => {
    it("/health reports both pool workers up; the API is open without a key", async () => {
      const h = await (await fetch(`${w.url}/health`)).json();
      expect(h.pool.map((p: { up: boolean }) => p.up)).toEqual([true, true]);
      for (const p of [a, b]) {
        const own = await (await fetch(`${p.url}/health`)).json();
        expect(own).toMatchObject({ version: 1, status: "ok", models: ["blt-d-tiny"], modes: ["ar", "blt-d", "blt-s", "blt-dv"], busy: 0, capacity: 4 });
        expectWorkerHealth(own);
      }
    });

    it.each(["ar", "blt-d", "blt-s", "blt-dv"])("a request over the edge budget streams from the pool in mode %s", async (mode) => {
      const stream = await client.chat.completions.create({ model: "blt-d-tiny", messages: [{ role: "user", content: "Hello there" }],
        max_tokens: 40, temperature: 0, stream: true, stream_options: { include_usage: true }, ...ext({ mode }) });
      let text = "", usage: any = null;
      for await (const c of stream) {
        text += c.choices[0]?.delta.content ?? "";
        if (c.usage) usage = c.usage;
      }
      expect(new TextEncoder().encode(text).length).toBe(40);
      expect(usage.bltedge.backend).toBe("pool");
      expect(usage.bltedge.mode).toBe(mode);
      expect(usage.bltedge.prefill_ms).toBeGreaterThanOrEqual(0);
      expect(usage.bltedge.prefill_ms).toBeLessThanOrEqual(usage.bltedge.wall_ms);
    });

    it("greedy blt-s from the pool equals greedy ar from the pool", async () => {
      const run = async (mode: string) => (await client.completions.create({ model: "blt-d-tiny", prompt: "The quick brown fox ", max_tokens: 60, temperature: 0, ...ext({ mode }) })).choices[0].text;
      expect(await run("blt-s")).toBe(await run("ar"));
    });

    it("structured output and log-probabilities from the pool: every mode follows the schema, blt-s and blt-dv equal ar; echo scoring", async () => {
      const response_format = { type: "json_schema" as const, json_schema: { name: "t", strict: true, schema: {
        type: "object", additionalProperties: false, required: ["name", "n"], properties: { name: { type: "string", maxLength: 12 }, n: { type: "integer" } } } } };
      const texts: Record<string, string> = {};
      for (const mode of ["ar", "blt-d", "blt-s", "blt-dv"]) {
        const r = await client.chat.completions.create({ model: "blt-d-tiny", messages: [{ role: "user", content: "Give me a record." }],
          max_tokens: 120, temperature: 0, response_format, logprobs: true, top_logprobs: 2, ...ext({ mode, threshold: 0.3 }) });
        const c = r.choices[0];
        expect(c.finish_reason).toBe("stop");
        expect(Object.keys(JSON.parse(c.message.content!))).toEqual(["name", "n"]);
        expect(c.logprobs!.content!.length).toBe(new TextEncoder().encode(c.message.content!).length);
        expect((r.usage as unknown as { bltedge: { backend: string } }).bltedge.backend).toBe("pool");
        texts[mode] = c.message.content!;
      }
      expect(texts["blt-s"]).toBe(texts.ar);
      expect(texts["blt-dv"]).toBe(texts.ar);
      const prompt = "It was the best of times, it was the worst of times, it was the age of wisdom.";
      const scored = await client.completions.create({ model: "blt-d-tiny", prompt, max_tokens: 0, echo: true, logprobs: 1 });
      const lp = scored.choices[0].logprobs!;
      expect(scored.choices[0].text).toBe(prompt);
      expect(lp.token_logprobs!.length).toBe(prompt.length);
      expect(lp.token_logprobs![0]).toBeNull();
      expect(lp.token_logprobs!.slice(1).every((x) => x! < 0)).toBe(true);
    });

    it("a small request stays on the edge", async () => {
      const r = await client.completions.create({ model: "blt-d-tiny", prompt: "Hi", max_tokens: 8, temperature: 0 });
      expect((r.usage as any).bltedge.backend).toBe("local");
    });

    it("a worker killed mid-stream ends the stream with one error event; the next request fails over", async () => {
      const res = await fetch(`${w.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "blt-d-tiny", prompt: "Once upon a time ", max_tokens: 400, temperature: 0, mode: "ar", stream: true }) });
      expect(res.status).toBe(200);
      const reader = res.body!.getReader();
      let text = new TextDecoder().decode((await reader.read()).value);
      // /health lists the workers in POOL_ENDPOINTS order (their URLs only for a caller with the API key)
      const victim = (await (await fetch(`${w.url}/health`)).json()).pool.findIndex((p: { busy: number }) => p.busy > 0);
      expect(victim).toBeGreaterThanOrEqual(0);
      const dead = victim === 0 ? a : b;
      await kill(dead);
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      const events = text.split("\n\n").filter(Boolean);
      const last = JSON.parse(events.at(-1)!.slice(6));
      expect(last.error.code).toBe("backend_failed");
      expect(text).not.toContain("[DONE]");

      // the dead worker may still look healthy to the router: the connection fails, the other worker answers
      const r = await client.completions.create({ model: "blt-d-tiny", prompt: "Again ", max_tokens: 80, temperature: 0 });
      expect((r.usage as any).bltedge.backend).toBe("pool");
      expect(r.usage!.completion_tokens).toBe(80);
    });

    it("with no pool worker up, a model only the pool serves is 503 with retry-after", async () => {
      await kill(a); await kill(b);
      const r = await fetch(`${w.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "blt-d-tiny", prompt: "Once upon a time ", max_tokens: 100 }) });
      // a model the edge holds is still served: over budget with no pool up, the edge decodes it
      expect(r.status).toBe(200);
      expect((await r.json()).usage.bltedge.backend).toBe("local");
      const r2 = await fetch(`${w.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "blt-ar-gpu-only", prompt: "x", max_tokens: 10 }) });
      expect(r2.status).toBe(503);
      expect(r2.headers.get("retry-after")).toBeTruthy();
      expect((await r2.json()).error.code).toBe("unavailable");
    });
  });
}
