// Structured output, log-probabilities and scoring through the API, in process on the default model: the
// unchanged openai SDK's chat.completions.create and .parse with response_format from zod schemas
// (openai/helpers/zod), 20 prompts × every mode × greedy and T = 0.8, on the edge (LocalBackend) and through the
// TypeScript pool worker (src/pool, a child process); logprobs in chat and completions, streamed and whole; echo
// scoring equal to `npm run eval`'s per-byte figures; bad formats as 400/413 naming the field.
import OpenAI from "openai";
import { zodResponseFormat } from "openai/helpers/zod";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { LocalBackend } from "../../src/backends/local.ts";
import { PoolBackend } from "../../src/backends/pool.ts";
import { Router } from "../../src/backends/router.ts";
import { BOS } from "../../src/config.ts";
import { compileFormat, Matcher } from "../../src/constrain/index.ts";
import { Rng } from "../../src/engine/decode/sampler.ts";
import type { Engine } from "../../src/engine/engine.ts";
import { bitsOf } from "../../src/engine/score.ts";
import { createApp } from "../../src/server/app.ts";
import { nodeEngine } from "../support/engine.ts";
import { V2 } from "../support/node-files.ts";
import { killPoolWorker, startTsPoolWorker, type PoolWorker } from "../support/pool-workers.ts";

const MODEL = "blt-v2";
const CTX = 1024;

function appOf(local: Map<string, Engine> | null, pool: PoolBackend | null) {
  const router = new Router({ backend: new LocalBackend(local ?? new Map()), models: () => (local ? [{ id: MODEL, contextBytes: CTX, weightBytes: 0 }] : []) },
    pool, { edgeMaxRequestBytes: Infinity });
  return createApp({ router, ready: async () => {}, isReady: () => true, kernels: "wasm-simd128",
    defaults: { mode: "ar", maxNewBytes: 64, blockSize: 8, threshold: 0.9, draftLength: 8 },
    maxBodyBytes: 131072, maxPromptBytes: 900, maxConcurrentDecodes: 4 });
}
type App = ReturnType<typeof appOf>;
const clientOf = (app: App) => new OpenAI({ apiKey: "unused", baseURL: "http://in-process/v1", maxRetries: 0,
  fetch: ((url: string, init?: RequestInit) => app.request(url, init)) as typeof fetch });
const post = (app: App, path: string, body: unknown) =>
  app.request(`/v1/${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

// schemas whose every output is at most a few hundred bytes (bounded strings, arrays and numbers), so max_tokens 600
// always lets the output finish
const Answer = z.object({ answer: z.enum(["yes", "no", "unsure"]), confidence: z.number().int() });
const Person = z.object({ name: z.string().max(16), age: z.number().int(), languages: z.array(z.string().max(10)).max(2) });
const Place = z.object({ city: z.string().max(16), location: z.object({ lat: z.number(), lon: z.number() }), visited: z.boolean() });
const Order = z.object({ items: z.array(z.object({ kind: z.enum(["book", "film"]), count: z.number().int() })).max(2), note: z.string().max(10).nullable() });
const SCHEMAS: [string, z.ZodObject][] = [["answer", Answer], ["person", Person], ["place", Place], ["order", Order]];
const PROMPTS = [
  "Is the sky blue?", "Describe a famous scientist.", "Name a city you like.", "Order two books.", "Will it rain tomorrow?",
  "Tell me about Ada Lovelace.", "Where is the Eiffel Tower?", "I want a film.", "Is water wet?", "Who wrote Hamlet?",
  "Pick a place by the sea.", "One book and one film, please.", "Is seven a prime number?", "Describe your neighbour.",
  "Which city has the most bridges?", "Nothing, thanks.", "Can birds fly?", "Describe a painter.", "A mountain town?", "Three films.",
];
const MODES = ["ar", "blt-d", "blt-s", "blt-dv"] as const;

async function acceptance(client: OpenAI) {
  let n = 0;
  for (const [i, prompt] of PROMPTS.entries()) {
    const [name, schema] = SCHEMAS[i % SCHEMAS.length];
    for (const mode of MODES) {
      for (const temperature of [0, 0.8]) {
        const args = {
          model: MODEL, messages: [{ role: "system" as const, content: `Answer as JSON (${name}).` }, { role: "user" as const, content: prompt }],
          response_format: zodResponseFormat(schema, name), max_tokens: 600, temperature, seed: 100 + i,
          ...({ mode } as object),
        };
        // .parse() throws unless the output finished (stop) and parses under the schema
        const parsed = await client.chat.completions.parse(args);
        expect(parsed.choices[0].finish_reason, `${mode} T=${temperature} ${prompt}`).toBe("stop");
        expect(schema.safeParse(parsed.choices[0].message.parsed).success).toBe(true);
        n++;
      }
    }
    // create() with the same format: the same bytes as parse() (greedy), and valid under the schema
    const created = await clientOf_cache.get(client)!.chat.completions.create({
      model: MODEL, messages: [{ role: "system", content: `Answer as JSON (${name}).` }, { role: "user", content: prompt }],
      response_format: zodResponseFormat(schema, name), max_tokens: 600, temperature: 0, ...({ mode: "blt-s" } as object),
    });
    expect(created.choices[0].finish_reason).toBe("stop");
    expect(schema.safeParse(JSON.parse(created.choices[0].message.content!)).success).toBe(true);
  }
  return n;
}
const clientOf_cache = new Map<OpenAI, OpenAI>();

describe("structured output through the API (edge and TypeScript pool worker)", () => {
  let engine: Engine, edge: App, pooled: App, worker: PoolWorker;
  beforeAll(async () => {
    engine = await nodeEngine(V2, CTX);
    edge = appOf(new Map([[MODEL, engine]]), null);
    worker = await startTsPoolWorker({ models: V2, threads: 1, capacity: 2 });
    pooled = appOf(null, new PoolBackend({ endpoints: [worker.url], log: () => {} }));
  }, 120_000);
  afterAll(async () => { if (worker) await killPoolWorker(worker); });

  it("the openai SDK's parse() succeeds on 20 prompts × every mode × greedy and T = 0.8 (edge)", async () => {
    const c = clientOf(edge);
    clientOf_cache.set(c, c);
    expect(await acceptance(c)).toBe(160);
  }, 600_000);

  it("the openai SDK's parse() succeeds on 20 prompts × every mode × greedy and T = 0.8 (TypeScript pool worker), with the edge's bytes", async () => {
    const c = clientOf(pooled);
    clientOf_cache.set(c, c);
    expect(await acceptance(c)).toBe(160);
    // the pool worker runs the same engine: the same bytes and log-probabilities as the edge, greedy and sampled
    for (const temperature of [0, 0.8]) {
      const body = { model: MODEL, messages: [{ role: "user", content: "Describe a person." }], response_format: zodResponseFormat(Person, "p"),
        max_tokens: 200, temperature, seed: 5, logprobs: true, top_logprobs: 3, mode: "blt-s" };
      const [a, b] = await Promise.all([post(edge, "chat/completions", body), post(pooled, "chat/completions", body)].map(async (r) => (await r).json()));
      expect(b.choices[0].message.content).toBe(a.choices[0].message.content);
      const la = a.choices[0].logprobs.content, lb = b.choices[0].logprobs.content;
      expect(lb.length).toBe(la.length);
      lb.forEach((x: { logprob: number }, i: number) => expect(Math.abs(x.logprob - la[i].logprob)).toBeLessThan(1e-4));
    }
  }, 600_000);

  it("chat logprobs, whole and streamed: one entry per byte, OpenAI's shape, the same numbers both ways", async () => {
    const body = { model: MODEL, messages: [{ role: "user", content: "Say something in French." }], max_tokens: 24, temperature: 0, logprobs: true, top_logprobs: 4, mode: "blt-dv" };
    const whole = await (await post(edge, "chat/completions", body)).json();
    const content = whole.choices[0].logprobs.content as { token: string; logprob: number; bytes: number[]; top_logprobs: { token: string; logprob: number; bytes: number[] }[] }[];
    const text = new TextEncoder().encode(whole.choices[0].message.content);
    expect(content.map((c) => c.bytes[0])).toEqual([...text]);
    for (const c of content) {
      expect(c.top_logprobs.length).toBe(4);
      expect(c.top_logprobs[0].logprob).toBeCloseTo(c.logprob, 6); // greedy: the top byte is the one written
      if (c.bytes[0] < 0x80) expect(c.token).toBe(String.fromCharCode(c.bytes[0]));
      else expect(c.token).toMatch(/^bytes:\\x[0-9a-f]{2}$/);
    }
    const c = clientOf(edge);
    const stream = await c.chat.completions.create({ ...body, stream: true } as OpenAI.ChatCompletionCreateParamsStreaming);
    const streamed: number[] = [];
    for await (const ch of stream) for (const x of ch.choices[0]?.logprobs?.content ?? []) streamed.push(x.logprob);
    expect(streamed).toEqual(content.map((x) => x.logprob));
    // top_logprobs without logprobs: 400 naming it; out of range: 400
    expect((await (await post(edge, "chat/completions", { ...body, logprobs: false })).json()).error.param).toBe("top_logprobs");
    expect((await post(edge, "chat/completions", { ...body, top_logprobs: 21 })).status).toBe(400);
  });

  it("completions: legacy logprobs; echo returns the prompt first; max_tokens 0 scores the prompt as npm run eval does", async () => {
    const prompt = "It was the best of times, it was the worst of times, it was the age of wisdom.";
    const r = await (await post(edge, "completions", { model: MODEL, prompt, max_tokens: 0, logprobs: 3, echo: true })).json();
    const lp = r.choices[0].logprobs;
    expect(r.choices[0].text).toBe(prompt);
    expect(lp.tokens.length).toBe(prompt.length);
    expect(lp.token_logprobs[0]).toBeNull();
    expect(lp.top_logprobs[0]).toBeNull();
    const per = new Float64Array(prompt.length);
    await bitsOf(engine.model, [BOS], new TextEncoder().encode(prompt), per);
    for (let i = 1; i < prompt.length; i++) expect(Math.abs(lp.token_logprobs[i] + per[i] * Math.LN2)).toBeLessThan(1e-3);
    // the same through the TypeScript pool worker, with 20 top entries per byte on a long prompt (the records travel
    // in several events) and a completion after it
    const long = { model: MODEL, prompt: prompt.repeat(10), max_tokens: 100, temperature: 0, logprobs: 20, echo: true, mode: "blt-d" };
    const [a, b] = await Promise.all([post(edge, "completions", long), post(pooled, "completions", long)].map(async (r) => (await r).json()));
    expect(b.choices[0].text).toBe(a.choices[0].text);
    expect(b.choices[0].logprobs.tokens.length).toBe(long.prompt.length + 100);
    b.choices[0].logprobs.token_logprobs.forEach((x: number | null, i: number) => (i === 0 ? expect(x).toBeNull() : expect(Math.abs(x! - a.choices[0].logprobs.token_logprobs[i])).toBeLessThan(1e-4)));
    // echo with a completion, streamed: the prompt's chunk first, then the completion's, offsets running on
    const s = await post(edge, "completions", { model: MODEL, prompt: "Hello", max_tokens: 8, temperature: 0, logprobs: 1, echo: true, stream: true });
    const chunks = (await s.text()).split("\n\n").filter((l) => l.startsWith("data: {")).map((l) => JSON.parse(l.slice(6)));
    expect(chunks[0].choices[0].text).toBe("Hello");
    expect(chunks[0].choices[0].logprobs.token_logprobs[0]).toBeNull();
    const offsets = chunks.flatMap((ch) => ch.choices[0].logprobs?.text_offset ?? []);
    expect(offsets).toEqual(offsets.map((_: number, i: number) => i));
    expect(offsets.length).toBe(13);
    // echo without logprobs: the text only
    const plain = await (await post(edge, "completions", { model: MODEL, prompt: "Hello", max_tokens: 4, temperature: 0, echo: true })).json();
    expect(plain.choices[0].text.startsWith("Hello")).toBe(true);
    expect(plain.choices[0].logprobs).toBeNull();
  });

  it("fuzz (seed 7): random schemas through the API give 200, 400 or 413, never a 5xx; what is written is accepted", async () => {
    const rng = new Rng(7);
    const int = (n: number) => Math.floor(rng.next() * n);
    const pick = <T>(xs: T[]) => xs[int(xs.length)];
    const gen = (d: number): unknown => {
      switch (int(d > 3 ? 4 : 8)) {
        case 0: return { type: "string", maxLength: int(20) };
        case 1: return { type: pick(["integer", "number", "boolean", "null", "strng"]) };
        case 2: return { enum: Array.from({ length: 1 + int(rng.next() < 0.2 ? 20000 : 6) }, (_, i) => `v${i}`) };
        case 3: return { type: "string", pattern: pick(["(a+)+$", "^(x|x)*y$", "[a-z]{0,9}", "(?=a)", "a{99999}", "\\d+"]) };
        case 4: return { [pick(["format", "oneOf", "not", "if", "minimum"])]: pick([1, "x", {}]), type: "string" };
        case 5: case 6: {
          const props: Record<string, unknown> = {};
          for (let i = int(4); i > 0; i--) props[`p${i}`] = gen(d + 1);
          return { type: "object", properties: props, required: Object.keys(props), additionalProperties: false };
        }
        default: return { type: "array", items: gen(d + 1), maxItems: int(4) };
      }
    };
    const seen = new Set<number>();
    for (let t = 0; t < 40; t++) {
      const rf = { type: "json_schema", json_schema: { name: "f", schema: gen(0) } };
      const r = await post(edge, "completions", { model: MODEL, prompt: "JSON: ", max_tokens: 24, temperature: 0.8, seed: t, response_format: rf, mode: MODES[t % 4] });
      seen.add(r.status);
      expect([200, 400, 413]).toContain(r.status);
      const body = await r.json();
      if (r.status !== 200) { expect(body.error.param).toMatch(/^response_format/); continue; }
      let st = new Matcher(compileFormat(rf)!).start as ReturnType<Matcher["start"]["advance"]>;
      for (const b of new TextEncoder().encode(body.choices[0].text)) st = st && st.advance(b);
      expect(st).not.toBeNull();
      if (body.choices[0].finish_reason === "stop") expect(st!.accepting).toBe(true);
    }
    expect(seen.has(200) && seen.has(400)).toBe(true);
  });

  it("bad formats: 400 naming what is unsupported, 413 when too large; regex and grammar extensions work", async () => {
    const chat = { model: MODEL, messages: [{ role: "user", content: "x" }], max_tokens: 8 };
    const bad = async (rf: unknown) => { const r = await post(edge, "chat/completions", { ...chat, response_format: rf }); return { status: r.status, error: (await r.json()).error }; };
    let e = await bad({ type: "json_schema", json_schema: { name: "x", schema: { type: "string", format: "email" } } });
    expect(e.status).toBe(400);
    expect(e.error.param).toBe("response_format");
    expect(e.error.message).toContain("format");
    e = await bad({ type: "xml" });
    expect(e.status).toBe(400);
    expect(e.error.param).toBe("response_format.type");
    e = await bad({ type: "regex", regex: "a{20000}" });
    expect(e.status).toBe(413);
    e = await bad({ type: "grammar", grammar: 'root ::= root "x"' });
    expect(e.error.message).toMatch(/left-recursive/);
    const re = await (await post(edge, "completions", { model: MODEL, prompt: "The year was ", max_tokens: 16, temperature: 0, response_format: { type: "regex", regex: "1[89][0-9]{2}" } })).json();
    expect(re.choices[0].text).toMatch(/^1[89][0-9]{2}$/);
    expect(re.choices[0].finish_reason).toBe("stop");
    const g = await (await post(edge, "completions", { model: MODEL, prompt: "Q: Is fire hot?\nA:", max_tokens: 16, temperature: 0, response_format: { type: "grammar", grammar: 'root ::= " " ("Yes" | "No") "."' } })).json();
    expect(g.choices[0].text).toMatch(/^ (Yes|No)\.$/);
    // a schema that cannot finish within max_tokens: length, with what was made
    const len = await (await post(edge, "chat/completions", { ...chat, max_tokens: 6, response_format: zodResponseFormat(Place, "p") })).json();
    expect(len.choices[0].finish_reason).toBe("length");
    expect(len.choices[0].message.content.length).toBe(6);
  });
});
