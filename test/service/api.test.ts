// The real Worker in workerd (wrangler dev) behind real HTTP: the unchanged openai SDK streams chat and text
// completions in every mode, the SDK's stream helper completes, bad input gets the right status and JSON
// error, the API key, CORS and the concurrency cap hold, and a client that goes away frees its decode.
import { readFileSync } from "node:fs";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_MODEL, DEFAULT_MODEL_DIR } from "../../src/config.ts";
import { startWorker, type RunningWorker } from "../support/wrangler.ts";

const KEY = "test-key-1234";
const MODES = ["ar", "blt-d", "blt-s", "blt-dv"] as const;
let w: RunningWorker;
let client: OpenAI;

beforeAll(async () => {
  w = await startWorker({ API_KEY: KEY, MAX_CONCURRENT_DECODES: "2" });
  client = new OpenAI({ baseURL: `${w.url}/v1`, apiKey: KEY, maxRetries: 0 });
}, 120_000);
afterAll(async () => { await w?.stop(); });

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${w.url}${path}`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${KEY}`, ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body) });

// Extension fields ride along in the body; the SDK passes unknown fields through unchanged.
const ext = (o: Record<string, unknown>) => o as unknown as Record<string, never>;

describe("the openai SDK against the Worker", () => {
  it.each(MODES)("streams a chat completion in mode %s, with usage and decode stats", async (mode) => {
    const stream = await client.chat.completions.create({
      model: DEFAULT_MODEL, messages: [{ role: "user", content: "Tell me about the weather." }],
      stream: true, stream_options: { include_usage: true }, max_tokens: 48, temperature: 0, ...ext({ mode }),
    });
    let text = "", roles = 0, finish: string | null = null, usage: any = null, chunks = 0;
    for await (const c of stream) {
      chunks++;
      expect(c.object).toBe("chat.completion.chunk");
      if (c.usage) usage = c.usage;
      const ch = c.choices[0];
      if (!ch) continue;
      if (ch.delta.role) roles++;
      text += ch.delta.content ?? "";
      if (ch.finish_reason) finish = ch.finish_reason;
    }
    expect(roles).toBe(1);
    expect(chunks).toBeGreaterThan(3);
    expect(finish).toBe("length");
    expect(new TextEncoder().encode(text).length).toBe(48);
    expect(usage.completion_tokens).toBe(48);
    expect(usage.bltedge.mode).toBe(mode);
    expect(usage.bltedge.backend).toBe("local");
    expect(usage.bltedge.kernels).toBe("wasm-relaxed"); // the build /health names (workerd has relaxed SIMD)
    expect(usage.bltedge.passes.decoder).toBeGreaterThan(0);
    expect(usage.bltedge.prefill_ms).toBeGreaterThanOrEqual(0);
    expect(usage.bltedge.prefill_ms).toBeLessThanOrEqual(usage.bltedge.wall_ms);
  });

  it.each(MODES)("streams a text completion in mode %s", async (mode) => {
    const stream = await client.completions.create({ model: DEFAULT_MODEL, prompt: "The quick brown fox ", stream: true,
      max_tokens: 40, temperature: 0, ...ext({ mode, block_size: 8, threshold: 0.9, draft_length: 8 }) });
    let text = "", finish: string | null = null;
    for await (const c of stream) {
      expect(c.object).toBe("text_completion");
      text += c.choices[0]?.text ?? "";
      finish = c.choices[0]?.finish_reason ?? finish;
    }
    expect(new TextEncoder().encode(text).length).toBe(40);
    expect(finish).toBe("length");
  });

  it("greedy blt-s and blt-dv stream exactly the text of greedy ar", async () => {
    const run = async (mode: string) => (await client.completions.create({ model: DEFAULT_MODEL, prompt: "In the beginning ",
      max_tokens: 96, temperature: 0, ...ext({ mode }) })).choices[0].text;
    const ar = await run("ar");
    expect(await run("blt-s")).toBe(ar);
    expect(await run("blt-dv")).toBe(ar);
  });

  it("the stream helper completes with the final message", async () => {
    const stream = client.chat.completions.stream({ model: DEFAULT_MODEL, messages: [{ role: "user", content: "Hi" }], max_tokens: 32, seed: 7 });
    let deltas = "";
    stream.on("content", (d) => { deltas += d; });
    const final = await stream.finalChatCompletion();
    expect(final.choices[0].message.content).toBe(deltas);
    expect(final.choices[0].finish_reason).toBe("length");
  });

  it("answers whole (non-streaming) chat and text completions, and honours stop", async () => {
    const chat = await client.chat.completions.create({ model: "blt-d-tiny", messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Hello" }], max_tokens: 20, seed: 3 });
    expect(chat.object).toBe("chat.completion");
    expect(chat.choices[0].message.role).toBe("assistant");
    expect(chat.usage!.completion_tokens).toBe(new TextEncoder().encode(chat.choices[0].message.content!).length);
    const full = (await client.completions.create({ model: DEFAULT_MODEL, prompt: "The committee said that ", max_tokens: 64, temperature: 0 })).choices[0].text;
    const stop = full.slice(10, 13);
    const cut = await client.completions.create({ model: DEFAULT_MODEL, prompt: "The committee said that ", max_tokens: 64, temperature: 0, stop: [stop] });
    expect(cut.choices[0].finish_reason).toBe("stop");
    expect(cut.choices[0].text).toBe(full.slice(0, full.indexOf(stop)));
  });

  it("the same seed gives the same text; streamed text equals whole text, multi-byte characters intact", async () => {
    const body = { model: "blt-d-tiny", prompt: "Caf\u00e9 \u00fcber na\u00efve \u2014 ", max_tokens: 200, temperature: 2, seed: 11, mode: "ar" };
    const a = (await (await post("/v1/completions", body)).json()).choices[0].text as string;
    const b = (await (await post("/v1/completions", body)).json()).choices[0].text as string;
    expect(b).toBe(a);
    expect(/[^\x00-\x7f]/.test(a)).toBe(true); // the sample does contain non-ASCII output
    const stream = await client.completions.create({ ...(body as object), stream: true } as never) as unknown as AsyncIterable<OpenAI.Completion>;
    let streamed = "";
    for await (const c of stream) streamed += c.choices[0]?.text ?? "";
    expect(streamed).toBe(a);
  });

  it("lists the default model first, bundled from its directory, and answers /health", async () => {
    const ids = (await client.models.list()).data.map((m) => m.id);
    expect(ids[0]).toBe(DEFAULT_MODEL);
    expect(ids).toContain("blt-d-tiny");
    expect((await client.models.retrieve(DEFAULT_MODEL)).id).toBe(DEFAULT_MODEL);
    // the Worker's literal import paths name the default model's directory
    const served = await (await fetch(`${w.url}/models/${DEFAULT_MODEL}/manifest.json`)).json();
    expect(served).toEqual(JSON.parse(readFileSync(`${DEFAULT_MODEL_DIR}/manifest.json`, "utf8")));
    const h = await (await fetch(`${w.url}/health`)).json();
    expect(h.status).toBe("ok");
    expect(h.kernels).toBe("wasm-relaxed"); // workerd has relaxed SIMD: the loader's auto choice
  });
});

describe("bad requests", () => {
  const chat = { model: DEFAULT_MODEL, messages: [{ role: "user", content: "Hi" }] };
  const cases: [string, unknown, number, string | null, string?][] = [
    ["unknown mode", { ...chat, mode: "fast" }, 400, "mode"],
    ["n > 1", { ...chat, n: 2 }, 400, "n"],
    ["tools", { ...chat, tools: [{ type: "function", function: { name: "f" } }] }, 400, "tools"],
    ["logprobs not a boolean", { ...chat, logprobs: "yes" }, 400, "logprobs"],
    ["unsupported schema keyword", { ...chat, response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "string", format: "uri" } } } }, 400, "response_format"],
    ["missing messages", { model: DEFAULT_MODEL }, 400, "messages"],
    ["bad message role", { ...chat, messages: [{ role: "robot", content: "x" }] }, 400, "messages[0].role"],
    ["block size 0", { ...chat, block_size: 0 }, 400, "block_size"],
    ["negative max_tokens", { ...chat, max_tokens: -1 }, 400, "max_tokens"],
    ["temperature 3", { ...chat, temperature: 3 }, 400, "temperature"],
    ["unknown model", { ...chat, model: "gpt-4o" }, 404, "model", "model_not_found"],
    ["context exceeded", { ...chat, max_tokens: 100000 }, 400, "max_tokens", "context_length_exceeded"],
    ["prompt too large", { ...chat, messages: [{ role: "user", content: "x".repeat(5000) }] }, 413, "messages"],
    ["body not JSON", "{not json", 400, null, "invalid_json"],
  ];
  it.each(cases)("%s → %d with param", async (_name, body, status, param, code) => {
    const r = await post("/v1/chat/completions", body);
    expect(r.status).toBe(status);
    expect(r.headers.get("content-type")).toContain("application/json");
    const e = (await r.json()).error;
    expect(e.param).toBe(param);
    expect(typeof e.message).toBe("string");
    expect(typeof e.type).toBe("string");
    if (code) expect(e.code).toBe(code);
    if (status === 400) expect(r.headers.get("x-should-retry")).toBe("false");
  });

  it("a body over the limit is 413", async () => {
    const r = await post("/v1/completions", { model: DEFAULT_MODEL, prompt: "x", pad: "y".repeat(70_000) });
    expect(r.status).toBe(413);
    expect((await r.json()).error.code).toBe("request_too_large");
  });

  it("without the API key, or with a wrong one, is 401; the SDK surfaces it", async () => {
    expect((await post("/v1/completions", { model: DEFAULT_MODEL, prompt: "x" }, { authorization: "" })).status).toBe(401);
    const bad = new OpenAI({ baseURL: `${w.url}/v1`, apiKey: "wrong", maxRetries: 0 });
    await expect(bad.models.list()).rejects.toMatchObject({ status: 401, code: "invalid_api_key" });
  });

  it("unknown routes are 404 JSON", async () => {
    const r = await fetch(`${w.url}/v1/embeddings`, { method: "POST", headers: { authorization: `Bearer ${KEY}` } });
    expect(r.status).toBe(404);
    expect((await r.json()).error.type).toBe("not_found_error");
  });

  it("CORS preflight allows browsers and the SDK's headers", async () => {
    const r = await fetch(`${w.url}/v1/chat/completions`, { method: "OPTIONS", headers: {
      origin: "https://app.example", "access-control-request-method": "POST",
      "access-control-request-headers": "authorization,content-type,x-stainless-os,x-stainless-retry-count" } });
    expect(r.status).toBeLessThan(300);
    expect(r.headers.get("access-control-allow-origin")).toBe("*");
    expect(r.headers.get("access-control-allow-headers")).toContain("x-stainless-os");
  });
});

describe("past the model's window", () => {
  it("streams a 4,000-byte chat answer (the window is 2,048 bytes) in the default mode, auto, ending with length", async () => {
    const stream = await client.chat.completions.create({
      model: DEFAULT_MODEL, messages: [{ role: "user", content: "Write a long story about the sea." }],
      stream: true, stream_options: { include_usage: true }, max_tokens: 4000, temperature: 0.8, seed: 7,
    });
    let text = "", finish: string | null = null, usage: any = null;
    for await (const c of stream) {
      if (c.usage) usage = c.usage;
      text += c.choices[0]?.delta.content ?? "";
      finish = c.choices[0]?.finish_reason ?? finish;
    }
    expect(new TextEncoder().encode(text).length).toBeGreaterThanOrEqual(4000 - 3); // a split character is held back
    expect(usage.completion_tokens).toBe(4000);
    expect(finish).toBe("length");
    expect(["ar", "blt-s", "blt-dv"]).toContain(usage.bltedge.mode);
  }, 120_000);

  it("takes a prompt that fills the window, refuses one over it and max_tokens over the limit, saying the limits", async () => {
    const window = (await client.models.retrieve(DEFAULT_MODEL) as unknown as { bltedge: { context_bytes: number } }).bltedge.context_bytes;
    const fits = await post("/v1/completions", { model: DEFAULT_MODEL, prompt: "x".repeat(window - 1), max_tokens: 8, mode: "ar" });
    expect(fits.status).toBe(200);
    const p = await post("/v1/completions", { model: DEFAULT_MODEL, prompt: "x".repeat(window), max_tokens: 8 });
    expect(p.status).toBe(400);
    expect((await p.json()).error).toMatchObject({ code: "context_length_exceeded", param: "prompt", message: expect.stringContaining(`at most ${window - 1} bytes`) });
    const m = await post("/v1/completions", { model: DEFAULT_MODEL, prompt: "x", max_tokens: 9000 });
    expect(m.status).toBe(400);
    expect((await m.json()).error).toMatchObject({ param: "max_tokens", message: expect.stringContaining("at most 8192") });
  });
});

describe("limits and cancellation", () => {
  const long = { model: DEFAULT_MODEL, prompt: "Once upon a time ", max_tokens: 480, temperature: 0, mode: "ar", stream: true };
  const health = async () => (await (await fetch(`${w.url}/health`)).json()) as { activeDecodes: number; decodes: Record<string, number> };

  async function openStream(): Promise<{ reader: ReadableStreamDefaultReader<Uint8Array>; abort: AbortController }> {
    const abort = new AbortController();
    const r = await fetch(`${w.url}/v1/completions`, { method: "POST", signal: abort.signal,
      headers: { "content-type": "application/json", authorization: `Bearer ${KEY}` }, body: JSON.stringify({ ...long, max_tokens: 4000 }) });
    expect(r.status).toBe(200);
    const reader = r.body!.getReader();
    await reader.read();
    return { reader, abort };
  }

  async function until(cond: () => Promise<boolean>, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await cond())) {
      if (Date.now() > deadline) throw new Error("condition not reached");
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it("a client that goes away stops its decode and frees its slot", async () => {
    // through wrangler's local proxy the disconnect reaches the Worker as the request signal (or a failed write)
    const before = (await health()).decodes;
    const s = await openStream();
    s.abort.abort();
    await until(async () => (await health()).activeDecodes === 0);
    const after = (await health()).decodes;
    expect(after.started).toBe(before.started + 1);
    expect(after.cancelled).toBe(before.cancelled + 1);
    expect(after.completed).toBe(before.completed);
  });

  it("beyond the concurrent-decode cap the answer is 429 with retry-after", async () => {
    const rs = await Promise.all([0, 1, 2, 3].map(() => post("/v1/completions", { ...long, stream: false })));
    const limited = rs.filter((r) => r.status === 429);
    expect(rs.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(2);
    expect(limited.length).toBeGreaterThanOrEqual(1);
    expect(limited[0].headers.get("retry-after")).toBe("1");
    expect((await limited[0].json()).error.code).toBe("too_many_concurrent_requests");
    await until(async () => (await health()).activeDecodes === 0);
  });
});
