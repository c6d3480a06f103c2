// The app in process (Node) on the real tiny engine: a client that aborts its request mid-stream stops the
// decode within one block (the request signal reaches the engine), nothing more is written to it, and the slot
// is released as cancelled.
import { describe, expect, it } from "vitest";
import { LocalBackend } from "../../src/backends/local.ts";
import { Router } from "../../src/backends/router.ts";
import { createApp } from "../../src/server/app.ts";
import { nodeEngine } from "../support/engine.ts";

describe("cancellation through the request signal", () => {
  it("an abort after the first chunk ends the decode early, as cancelled", async () => {
    const engine = await nodeEngine("models/blt-d-tiny", 512);
    const engines = new Map([["blt-d-tiny", engine]]);
    const router = new Router({ backend: new LocalBackend(engines), models: () => [{ id: "blt-d-tiny", contextBytes: 512, weightBytes: 0 }] }, null, { edgeMaxRequestBytes: Infinity });
    const app = createApp({ router, ready: async () => {}, isReady: () => true, kernels: "wasm-simd128",
      defaults: { mode: "ar", maxNewBytes: 64, blockSize: 8, threshold: 0.9, draftLength: 8 },
      maxBodyBytes: 65536, maxPromptBytes: 480, maxConcurrentDecodes: 4 });
    const health = async () => (await (await app.request("/health")).json()) as { activeDecodes: number; decodes: Record<string, number> };

    const abort = new AbortController();
    const res = await app.request("/v1/completions", { method: "POST", signal: abort.signal, headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "blt-d-tiny", prompt: "Once upon a time ", max_tokens: 480, temperature: 0, mode: "blt-d", block_size: 4, stream: true }) });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    await reader.read();
    abort.abort();
    let text = "", failed = false;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
    } catch { failed = true; /* the body is aborted: the client left */ }
    await new Promise((r) => setTimeout(r, 50));
    const h = await health();
    expect(h.activeDecodes).toBe(0);
    expect(h.decodes).toMatchObject({ started: 1, cancelled: 1, completed: 0 });
    // the stream ended (aborted) long before 480 bytes were generated, with no [DONE]
    expect(failed || !text.includes("[DONE]")).toBe(true);
    expect(text).not.toContain("[DONE]");
    const generated = text.split("\n\n").filter((l) => l.includes('"text"')).length;
    expect(generated).toBeLessThan(40);
  });
});
