// Decode slots and models inside workerd, through the Worker's own fetch handler: a client abort in every mode
// gives back its slot and its model at once (one request per model, so a model still held would answer 429),
// a stream whose client stops reading without a word is let go, aborted requests in a row leave no slot taken,
// and a decode whose generator is never resumed loses its model to the next request once its lease runs out.
import { beforeAll, describe, expect, it } from "vitest";
import worker from "../../src/worker.ts";
import { LocalBackend } from "../../src/backends/local.ts";
import kernelsModule from "../../wasm/kernels.wasm";
import weights from "../../models/blt-d-tiny/model.safetensors";
import manifest from "../../models/blt-d-tiny/manifest.json";
import { readCheckpoint } from "../../src/checkpoint/reader.ts";
import { Engine } from "../../src/engine/engine.ts";
import { loadModel } from "../../src/engine/load.ts";
import { WasmKernels } from "../../src/kernels/wasm/wasm-kernels.ts";
import { collect, request } from "../support/engine-requests.ts";

const ENV = { MAX_CONCURRENT_DECODES: "2", MAX_DECODES_PER_MODEL: "1", STREAM_STALL_MS: "300" };
const MODES = ["ar", "blt-d", "blt-s", "blt-dv"] as const;

// the test's isolate stays up, so work handed to waitUntil runs to its end as it would in the runtime
const createExecutionContext = () => ({ waitUntil(p: Promise<unknown>) { void p.catch(() => {}); }, passThroughOnException() {}, props: {} });
const call = (path: string, body?: unknown, signal?: AbortSignal) =>
  worker.fetch(new Request(`http://edge${path}`, body === undefined ? { signal } : { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" }, signal }),
    ENV, createExecutionContext());
const health = async () => (await (await call("/health")).json()) as { activeDecodes: number; decodes: Record<string, number> };
const long = (model: string, mode: string) => ({ model, prompt: "Once upon a time ", max_tokens: 4000, temperature: 0, mode, stream: true });

async function drain(body: ReadableStream<Uint8Array>): Promise<string> {
  const reader = body.getReader();
  let text = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
  } catch { /* the stream was aborted */ }
  return text;
}

async function until(cond: () => Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error("condition not reached");
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("decode slots in workerd", () => {
  beforeAll(async () => { expect((await call("/v1/models")).status).toBe(200); }, 60_000); // the bundled models load
  it.each(MODES)("a client abort in mode %s gives back its slot and its model at once", async (mode) => {
    const before = (await health()).decodes;
    const ac = new AbortController();
    const res = await call("/v1/completions", long("blt-v2", mode), ac.signal);
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    await reader.read();
    ac.abort();
    reader.releaseLock();
    const rest = await drain(res.body!);
    expect(rest).not.toContain("[DONE]");
    await until(async () => (await health()).activeDecodes === 0);
    const after = (await health()).decodes;
    expect(after.cancelled).toBe(before.cancelled + 1);
    expect(after.completed).toBe(before.completed);
    // one request per model: the next one is served, not refused as model_busy
    const next = await call("/v1/completions", { model: "blt-v2", prompt: "The ", max_tokens: 8, mode, temperature: 0 });
    expect(next.status).toBe(200);
  });

  it("a body cancelled by its reader (no signal) stops the decode and frees the slot", async () => {
    const before = (await health()).decodes;
    const res = await call("/v1/chat/completions", { model: "blt-d-tiny", messages: [{ role: "user", content: "Hi" }], max_tokens: 4000, stream: true, mode: "ar" });
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    await until(async () => (await health()).activeDecodes === 0);
    expect((await health()).decodes.cancelled).toBe(before.cancelled + 1);
  });

  it("a stream whose client stops reading, with no abort and no cancel, is let go and frees its slot", async () => {
    const before = (await health()).decodes;
    const res = await call("/v1/completions", { ...long("blt-v2", "ar"), max_tokens: 8000 });
    const reader = res.body!.getReader();
    await reader.read();
    // nothing more is read: the decode runs ahead, its writes wait, and after STREAM_STALL_MS it is let go
    await until(async () => (await health()).activeDecodes === 0);
    const after = (await health()).decodes;
    expect(after.cancelled).toBe(before.cancelled + 1);
    expect((await call("/v1/completions", { model: "blt-d-tiny", prompt: "The ", max_tokens: 8 })).status).toBe(200);
  });

  it("ten aborted requests in a row leave no decode slot taken", async () => {
    for (let i = 0; i < 10; i++) {
      const ac = new AbortController();
      const res = await call(i % 2 ? "/v1/chat/completions" : "/v1/completions",
        i % 2 ? { model: "blt-d-tiny", messages: [{ role: "user", content: "Hi" }], max_tokens: 2000, stream: true, mode: MODES[i % 4] } : long(i % 3 ? "blt-v2" : "blt-d-tiny", MODES[i % 4]), ac.signal);
      expect(res.status).toBe(200);
      const reader = res.body!.getReader();
      await reader.read();
      ac.abort();
      reader.releaseLock();
      await drain(res.body!);
    }
    await until(async () => (await health()).activeDecodes === 0);
    expect((await health()).activeDecodes).toBe(0);
  });
});

describe("a model's line in workerd", () => {
  it("a decode whose generator is never resumed loses the model once its lease runs out; the next one is served", async () => {
    const files: Record<string, Uint8Array> = { "manifest.json": new TextEncoder().encode(JSON.stringify(manifest)), "model.safetensors": new Uint8Array(weights) };
    const engine = new Engine(await loadModel(await readCheckpoint("models/blt-d-tiny", async (n) => files[n]), (b) => WasmKernels.create(kernelsModule, b), 512));
    const backend = new LocalBackend(new Map([["tiny", engine]]), { maxPerModel: 2, leaseMs: 200 });
    const stuck = backend.decode(request("The quick ", { model: "tiny", maxNewBytes: 400 }))[Symbol.asyncIterator]();
    expect((await stuck.next()).value).toMatchObject({ type: "bytes" });
    // never resumed again; the next request waits in line, then takes the model when the lease runs out
    const next = await collect(backend.decode(request("The quick ", { model: "tiny", maxNewBytes: 64 })));
    expect(next.end).toMatchObject({ type: "done" });
    expect(next.bytes.length).toBe(64);
    expect(backend.abandoned).toBe(1);
    expect(backend.inLine("tiny")).toBe(0);
    // resumed late, the dropped decode stops without touching the model
    const late = await stuck.next();
    expect(late.done).toBe(true);
  });
});
