// usage in every response shape: chat and text completions, streamed (stream_options.include_usage) and whole,
// on the real tiny engine in process. Tokens are bytes: prompt_tokens is the prompt the backend decoded (for chat,
// the rendered conversation), completion_tokens the bytes generated, total_tokens their sum.
import { describe, expect, it } from "vitest";
import { LocalBackend } from "../../src/backends/local.ts";
import { Router } from "../../src/backends/router.ts";
import type { DecodeBackend, DecodeRequest } from "../../src/protocol.ts";
import { createApp } from "../../src/server/app.ts";
import { nodeEngine } from "../support/engine.ts";
import { TINY } from "../support/node-files.ts";

async function appAndLog() {
  const local = new LocalBackend(new Map([["blt-d-tiny", await nodeEngine(TINY, 512)]]));
  const prompts: number[] = [];
  // the real backend, noting the prompt length of each request it decodes
  const backend: DecodeBackend = { name: local.name, models: () => local.models(),
    decode: (r: DecodeRequest, signal?: AbortSignal) => { prompts.push(r.prompt.length); return local.decode(r, signal); } };
  const router = new Router({ backend, models: () => [{ id: "blt-d-tiny", contextBytes: 512, weightBytes: 0 }] }, null, { edgeMaxRequestBytes: Infinity });
  const app = createApp({ router, ready: async () => {}, isReady: () => true, kernels: "wasm-simd128",
    defaults: { mode: "ar", maxNewBytes: 16, blockSize: 8, threshold: 0.9, draftLength: 8 },
    maxBodyBytes: 65536, maxPromptBytes: 480, maxConcurrentDecodes: 4 });
  return { app, prompts };
}

const post = (body: object) => ({ method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

describe("usage counts bytes: prompt, completion, total", () => {
  const cases = [
    { kind: "chat", path: "/v1/chat/completions", body: { messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Tell me about the weather, s'il vous plaît." }] } },
    { kind: "completion", path: "/v1/completions", body: { prompt: "The quick brown fox — naïvely — " } },
  ] as const;

  for (const { kind, path, body } of cases) {
    for (const stream of [false, true]) {
      it(`${kind}, ${stream ? "streamed" : "whole"}`, async () => {
        const { app, prompts } = await appAndLog();
        const r = await app.request(path, post({ model: "blt-d-tiny", ...body, max_tokens: 23, temperature: 0, mode: "blt-s", stream,
          ...(stream ? { stream_options: { include_usage: true } } : {}) }));
        expect(r.status).toBe(200);
        let text = "", usage: any;
        if (stream) {
          const evs = (await r.text()).split("\n\n").filter((e) => e.startsWith("data: {")).map((e) => JSON.parse(e.slice(6)));
          for (const e of evs) {
            if (e.choices.length) text += kind === "chat" ? e.choices[0].delta.content ?? "" : e.choices[0].text;
            else usage = e.usage;
          }
          // only the last chunk carries usage; the others say null
          expect(evs.slice(0, -1).every((e) => e.usage === null)).toBe(true);
        } else {
          const j: any = await r.json();
          text = kind === "chat" ? j.choices[0].message.content : j.choices[0].text;
          usage = j.usage;
        }
        expect(prompts.length).toBe(1);
        const promptBytes = prompts[0];
        if (kind === "completion") expect(promptBytes).toBe(new TextEncoder().encode(body.prompt as string).length);
        else expect(promptBytes).toBeGreaterThan(new TextEncoder().encode("Tell me about the weather, s'il vous plaît.Be brief.").length);
        expect(usage).toMatchObject({ prompt_tokens: promptBytes, completion_tokens: 23, total_tokens: promptBytes + 23 });
        expect(new TextEncoder().encode(text).length).toBe(23);
        expect(usage.bltedge).toMatchObject({ backend: "local", mode: "blt-s" });
        expect(usage.bltedge.kernels).toMatch(/^(wasm-simd128|wasm-relaxed|ref)$/);
        expect(usage.bltedge.drafted_bytes).toBeGreaterThanOrEqual(usage.bltedge.accepted_bytes);
        expect(usage.bltedge.passes.decoder).toBeGreaterThan(0);
        expect(usage.bltedge.passes_per_byte.decoder).toBeCloseTo(usage.bltedge.passes.decoder / 23, 3);
      });
    }
  }
});
