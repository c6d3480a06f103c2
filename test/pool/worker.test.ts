// The TypeScript pool worker (src/pool) speaks wire protocol v1 as the PyTorch worker does (test/python/
// test_pool_worker.py checks that one): /health with capacity and queueing, SSE streams that reassemble to the
// engine's own bytes in every mode and end with done + stats, stops, the error answers before streaming, one
// decode per engine thread with the rest waiting in line, 503 beyond capacity, and places freed on disconnect.
import { request as httpRequest, type ClientRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toBase64 } from "../../src/backends/wire.ts";
import { DECODE_MODES, type DecodeMode } from "../../src/protocol.ts";
import { collect, nodeEngine, request } from "../support/engine.ts";
import { TINY } from "../support/node-files.ts";
import { killPoolWorker, startTsPoolWorker, type PoolWorker } from "../support/pool-workers.ts";

let worker: PoolWorker;
beforeAll(async () => {
  // 2 engine threads, 3 places; each bytes event held back 5 ms so that a long stream is still open when we act on it
  worker = await startTsPoolWorker({ threads: 2, capacity: 3, eventDelayMs: 5 });
}, 120_000);
afterAll(async () => { if (worker) await killPoolWorker(worker); });

type Body = { version: unknown; request: Record<string, any> };
function body(prompt = "The quick brown fox", o: { maxNew?: number; mode?: DecodeMode; temperature?: number; seed?: number; stop?: Uint8Array[]; knobs?: object } = {}): Body {
  return { version: 1, request: {
    model: "blt-d-tiny", promptBase64: toBase64(new TextEncoder().encode(prompt)), maxNewBytes: o.maxNew ?? 24, mode: o.mode ?? "ar",
    sampling: { temperature: o.temperature ?? 0, topP: 1, topK: 0, seed: o.seed ?? 0 },
    knobs: { blockSize: 8, threshold: 0.9, entropyBound: null, maxStepsPerBlock: 8, draftLength: 8, ...o.knobs },
    stopBase64: (o.stop ?? []).map(toBase64) } };
}

const post = (payload: unknown) => fetch(`${worker.url}/v1/decode`, { method: "POST", headers: { "content-type": "application/json" },
  body: typeof payload === "string" ? payload : JSON.stringify(payload) });
const health = async () => (await fetch(`${worker.url}/health`)).json();

/** A whole stream → its output text and events, checking the SSE framing on the way. */
async function decode(payload: Body) {
  const res = await post(payload);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("text/event-stream");
  expect(res.headers.get("cache-control")).toBe("no-cache");
  const events = (await res.text()).split("\n\n").slice(0, -1).map((block) => {
    const [name, data] = block.split("\n");
    const e = JSON.parse(data.slice("data: ".length));
    expect(name).toBe(`event: ${e.type}`);
    expect(e.version).toBe(1);
    return e;
  });
  expect(events.slice(0, -1).every((e) => e.type === "bytes")).toBe(true);
  const out = Buffer.concat(events.slice(0, -1).map((e) => Buffer.from(e.bytesBase64, "base64")));
  return { out, end: events.at(-1) };
}

/** A raw client that keeps its stream open: resolves once the first bytes event arrived. */
function openStream(payload: Body): { req: ClientRequest; firstBytes: Promise<void> } {
  const data = JSON.stringify(payload);
  const req = httpRequest(`${worker.url}/v1/decode`, { method: "POST", headers: { "content-type": "application/json", "content-length": Buffer.byteLength(data) } });
  const firstBytes = new Promise<void>((resolve, reject) => {
    req.on("response", (res) => {
      let seen = "";
      res.on("data", (d) => { seen += d; if (seen.includes("event: bytes")) resolve(); });
      res.on("error", () => {});
    });
    req.on("error", reject);
  });
  firstBytes.catch(() => {}); // a stream closed before its response is no failure of the test that closed it
  req.end(data);
  return { req, firstBytes };
}

async function until(what: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500 && !(await what()); i++) await new Promise((r) => setTimeout(r, 20));
  expect(await what()).toBe(true);
}

describe("the TypeScript pool worker", () => {
  it("/health names its models and modes and states capacity, engine threads and the line", async () => {
    const h = await health();
    expect(h).toEqual({ version: 1, status: "ok", models: ["blt-d-tiny"], modes: ["ar", "blt-d", "blt-s", "blt-dv"],
      busy: 0, capacity: 3, device: "cpu", impl: "ts", threads: 2, running: 0, queued: 0, memoryMB: expect.any(Object) });
    // the process's own memory account, in MB
    for (const k of ["rss", "heapUsed", "external", "arrayBuffers"]) expect(h.memoryMB[k]).toBeGreaterThanOrEqual(0);
    expect(h.memoryMB.rss).toBeGreaterThan(h.memoryMB.heapUsed);
  });

  it("an AR greedy stream reassembles and ends with done and the decode's stats", async () => {
    const { out, end } = await decode(body());
    expect(out.length).toBe(24);
    expect(end).toMatchObject({ type: "done", finishReason: "length" });
    const s = end.stats;
    expect(s).toMatchObject({ mode: "ar", promptBytes: 19, generatedBytes: 24, draftedBytes: 0, acceptedBytes: 0 });
    expect(s.passes.decoder).toBe(24);
    expect(s.estBytesMoved).toBeGreaterThan(0);
    expect(s.prefillMs).toBeLessThanOrEqual(s.wallMs);
    expect((await decode(body())).out).toEqual(out);
    // after a request, each engine thread has reported its JS heap (posted just after the request's last event)
    let m = (await health()).memoryMB;
    for (let i = 0; i < 50 && !(m.threadsHeapUsed > 0); i++) { await new Promise((r) => setTimeout(r, 20)); m = (await health()).memoryMB; }
    expect(m.threadsHeapUsed).toBeGreaterThan(0);
    expect(m.threadsHeapTotal).toBeGreaterThanOrEqual(m.threadsHeapUsed);
  });

  it.each(DECODE_MODES)("greedy bytes in mode %s equal the engine's in this process", async (mode) => {
    const engine = await nodeEngine(TINY);
    const local = await collect(engine.decode(request("It recommended that Fulton", { maxNewBytes: 40, mode, sampling: { seed: 0 } })));
    const { out, end } = await decode(body("It recommended that Fulton", { maxNew: 40, mode }));
    expect(end.type).toBe("done");
    expect(new Uint8Array(out)).toEqual(local.bytes);
  });

  it("the same seed gives the same sampled bytes", async () => {
    const a = await decode(body("Hello", { temperature: 1, seed: 7 }));
    const b = await decode(body("Hello", { temperature: 1, seed: 7 }));
    const c = await decode(body("Hello", { temperature: 1, seed: 8 }));
    expect(a.out).toEqual(b.out);
    expect(c.out).not.toEqual(a.out);
  });

  it("a stop sequence ends the stream before it", async () => {
    const full = (await decode(body("The quick brown fox", { maxNew: 32 }))).out;
    const stop = full.subarray(10, 13);
    const { out, end } = await decode(body("The quick brown fox", { maxNew: 32, stop: [stop] }));
    expect(out).toEqual(full.subarray(0, full.indexOf(stop)));
    expect(end.finishReason).toBe("stop");
    expect(end.stats.generatedBytes).toBe(out.length);
  });

  it.each([
    ["version 2", (b: Body) => { b.version = 2; }, 400, "unsupported_version", undefined],
    ["an unknown model", (b: Body) => { b.request.model = "nope"; }, 404, "model_not_found", undefined],
    ["block size 0", (b: Body) => { b.request.knobs.blockSize = 0; }, 400, "invalid_request", "block_size"],
    ["max new bytes -1", (b: Body) => { b.request.maxNewBytes = -1; }, 400, "invalid_request", "max_tokens"],
    ["max new bytes over the limit (8,192)", (b: Body) => { b.request.maxNewBytes = 9000; }, 400, "invalid_request", "max_tokens"],
    ["no seed", (b: Body) => { delete b.request.sampling.seed; }, 400, "invalid_request", "seed"],
    ["top p as a string", (b: Body) => { b.request.sampling.topP = "1"; }, 400, "invalid_request", "top_p"],
    ["a prompt that is not base64", (b: Body) => { b.request.promptBase64 = "***"; }, 400, "invalid_request", "prompt"],
    ["an unknown mode", (b: Body) => { b.request.mode = "beam"; }, 400, "unsupported_mode", "mode"],
  ] as const)("%s is answered before streaming", async (_, change, status, code, param) => {
    const b = body();
    change(b);
    const res = await post(b);
    const { error } = await res.json();
    expect([res.status, error.code, error.param]).toEqual([status, code, param]);
  });

  it("bad JSON, unknown paths and wrong methods get JSON errors", async () => {
    const bad = await post("{not json");
    expect([bad.status, (await bad.json()).error.code]).toEqual([400, "invalid_request"]);
    const lost = await fetch(`${worker.url}/v2/nothing`);
    expect([lost.status, (await lost.json()).error.code]).toEqual([404, "not_found"]);
    const get = await fetch(`${worker.url}/v1/decode`);
    expect([get.status, (await get.json()).error.code]).toEqual([405, "method_not_allowed"]);
  });

  it("runs one decode per engine thread, lines up the next, refuses beyond capacity, and frees places on disconnect", async () => {
    const long = body("Once upon a time ", { maxNew: 400 });
    const a = openStream(long), b = openStream(long);
    await Promise.all([a.firstBytes, b.firstBytes]); // both engine threads decoding
    const c = openStream(long);
    await until(async () => (await health()).queued === 1);
    expect(await health()).toMatchObject({ busy: 3, running: 2, queued: 1 });

    const refused = await post(body());
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect((await refused.json()).error.code).toBe("busy");

    a.req.destroy(); // its thread stops within one block and takes the waiting request
    await c.firstBytes;
    b.req.destroy();
    c.req.destroy();
    await until(async () => (await health()).busy === 0);
    expect(await health()).toMatchObject({ running: 0, queued: 0 });
  });

  it("a request that leaves the line never starts", async () => {
    const long = body("Once upon a time ", { maxNew: 400 });
    const a = openStream(long), b = openStream(long);
    await Promise.all([a.firstBytes, b.firstBytes]);
    const c = openStream(long);
    await until(async () => (await health()).queued === 1);
    c.req.destroy();
    await until(async () => (await health()).queued === 0);
    expect(await health()).toMatchObject({ busy: 2, running: 2 });
    a.req.destroy();
    b.req.destroy();
    await until(async () => (await health()).busy === 0);
  });
});
