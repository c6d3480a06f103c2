// mode "auto": the server picks a lossless mode per request from the calibrated table, then from what it measured
// (greedy and sampled apart), trying the least measured mode now and then; usage.bltedge.mode reports the choice.
// Also the context rules: a prompt over the window and max_tokens over the limit are 400s that state the limit.
import { describe, expect, it } from "vitest";
import { LocalBackend } from "../../src/backends/local.ts";
import { Router } from "../../src/backends/router.ts";
import type { DecodeMode, DecodeStats } from "../../src/protocol.ts";
import { createApp } from "../../src/server/app.ts";
import { LOSSLESS_MODES, ModePicker } from "../../src/server/mode-picker.ts";
import { nodeEngine } from "../support/engine.ts";

const stats = (mode: DecodeMode, bytesPerS: number): DecodeStats => ({
  mode, promptBytes: 5, generatedBytes: 1000, passes: { entropy: 0, encoder: 0, global: 0, decoder: 0 },
  draftedBytes: 0, acceptedBytes: 0, estBytesMoved: 0, wallMs: 10 + 1e6 / bytesPerS, prefillMs: 10,
});

describe("ModePicker", () => {
  it("follows the table until every lossless mode is measured, then the fastest measured, greedy and sampled apart", () => {
    const p = new ModePicker({ greedy: { ar: 1, "blt-s": 2, "blt-dv": 0.5 }, sampled: { ar: 1, "blt-s": 0.5, "blt-dv": 0.5 } });
    expect(p.choose("local", "m", true)).toBe("blt-s");
    expect(p.choose("local", "m", false)).toBe("ar");
    const speed: Record<string, number> = { ar: 900, "blt-s": 600, "blt-dv": 1200 };
    const picks: DecodeMode[] = [];
    for (let i = 0; i < 40; i++) {
      const m = p.choose("local", "m", true);
      picks.push(m);
      p.record("local", "m", true, stats(m, speed[m]));
    }
    expect(new Set(picks)).toEqual(new Set(LOSSLESS_MODES)); // each was tried
    expect(picks.slice(-8).filter((m) => m === "blt-dv").length).toBeGreaterThanOrEqual(7); // then the fastest
    expect(p.choose("local", "m", false)).toBe("ar"); // sampled requests keep their own record
    expect(p.choose("pool", "m", true)).toBe("blt-s"); // and so does another backend
  });
});

describe("the API with mode auto", () => {
  async function app() {
    const engines = new Map([["blt-d-tiny", await nodeEngine("models/blt-d-tiny")]]);
    const router = new Router({ backend: new LocalBackend(engines), models: () => [{ id: "blt-d-tiny", contextBytes: 512, maxNewBytes: 3000, weightBytes: 0 }] },
      null, { edgeMaxRequestBytes: Infinity });
    return createApp({ router, ready: async () => {}, isReady: () => true, kernels: "wasm-simd128",
      defaults: { mode: "auto", maxNewBytes: 16, blockSize: 8, threshold: 0.9, draftLength: 8 },
      maxBodyBytes: 65536, maxPromptBytes: 4096, maxConcurrentDecodes: 4 });
  }
  const post = (o: object) => ({ method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "blt-d-tiny", ...o }) });

  it("reports the lossless mode it chose; an explicit mode is kept", async () => {
    const a = await app();
    const auto = await (await a.request("/v1/completions", post({ prompt: "Hello", max_tokens: 40, temperature: 0 }))).json();
    expect(LOSSLESS_MODES).toContain(auto.usage.bltedge.mode);
    const named = await (await a.request("/v1/completions", post({ prompt: "Hello", max_tokens: 40, temperature: 0, mode: "auto" }))).json();
    expect(LOSSLESS_MODES).toContain(named.usage.bltedge.mode);
    expect(named.choices[0].text).toBe(auto.choices[0].text); // greedy: every lossless mode gives AR's bytes
    const d = await (await a.request("/v1/completions", post({ prompt: "Hello", max_tokens: 40, mode: "blt-d" }))).json();
    expect(d.usage.bltedge.mode).toBe("blt-d");
  });

  it("answers past the 512-byte window up to max_tokens; refuses a longer prompt or max_tokens over the limit, stating the limits", async () => {
    const a = await app();
    const long = await (await a.request("/v1/completions", post({ prompt: "Once upon a time", max_tokens: 2000, temperature: 0.8 }))).json();
    expect(long.usage.completion_tokens).toBe(2000);
    expect(long.choices[0].finish_reason).toBe("length");
    const p = await a.request("/v1/completions", post({ prompt: "x".repeat(600), max_tokens: 10 }));
    expect(p.status).toBe(400);
    expect((await p.json()).error).toMatchObject({ code: "context_length_exceeded", param: "prompt", message: expect.stringContaining("at most 511 bytes") });
    const m = await a.request("/v1/completions", post({ prompt: "x", max_tokens: 3001 }));
    expect(m.status).toBe(400);
    expect((await m.json()).error).toMatchObject({ code: "context_length_exceeded", param: "max_tokens", message: expect.stringContaining("at most 3000") });
  });
});
