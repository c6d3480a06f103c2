// The SSE layer and whole responses when a backend splits multi-byte UTF-8 characters across its events (a pool
// worker may cut its events anywhere): a stub DecodeBackend through the real app (createApp, router). Every
// streamed chunk holds whole characters, and the text put together is the backend's bytes decoded once.
import { describe, expect, it } from "vitest";
import { Router } from "../../src/backends/router.ts";
import type { DecodeBackend, DecodeEvent, DecodeRequest } from "../../src/protocol.ts";
import { createApp } from "../../src/server/app.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const TEXT = "café ok 😀! €5 — naïve";
const BYTES = enc(TEXT);
/** Cut points that split é (2 bytes), 😀 (4 bytes, twice), € and — (3 bytes) and ï. */
const CUTS = [4, 12, 13, 16, 18, 19, 22, 26, 30];

function stub(parts: Uint8Array[]): DecodeBackend & { requests: DecodeRequest[] } {
  const requests: DecodeRequest[] = [];
  return {
    name: "stub", requests, models: () => ["stub"],
    async *decode(r: DecodeRequest): AsyncIterable<DecodeEvent> {
      requests.push(r);
      let n = 0;
      for (const p of parts) { n += p.length; yield { type: "bytes", bytes: p }; }
      yield { type: "done", finishReason: "length", stats: { mode: r.mode, promptBytes: r.prompt.length, generatedBytes: n,
        passes: { entropy: 0, encoder: 0, global: 0, decoder: n }, draftedBytes: 0, acceptedBytes: 0, estBytesMoved: 0, wallMs: 1, prefillMs: 0 } };
    },
  };
}

function split(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let from = 0;
  for (const c of [...cuts, bytes.length]) { out.push(bytes.slice(from, c)); from = c; }
  return out;
}

function appOf(backend: DecodeBackend) {
  const router = new Router({ backend, models: () => [{ id: "stub", contextBytes: 512, weightBytes: 0 }] }, null, { edgeMaxRequestBytes: Infinity });
  return createApp({ router, ready: async () => {}, isReady: () => true, kernels: "stub",
    defaults: { mode: "ar", maxNewBytes: 64, blockSize: 8, threshold: 0.9, draftLength: 8 },
    maxBodyBytes: 65536, maxPromptBytes: 480, maxConcurrentDecodes: 4 });
}

const post = (body: object) => ({ method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

/** The `data:` payloads of an SSE body, [DONE] included as the string. */
async function events(r: Response): Promise<unknown[]> {
  const text = await r.text();
  return text.split("\n\n").filter((e) => e.startsWith("data: ")).map((e) => e.slice(6)).map((d) => (d === "[DONE]" ? d : JSON.parse(d)));
}

describe("multi-byte characters split across a backend's events", () => {
  it("the parts really do split characters (each decoded alone gives U+FFFD)", () => {
    const parts = split(BYTES, CUTS);
    expect(parts.filter((p) => new TextDecoder().decode(p).includes("\uFFFD")).length).toBeGreaterThanOrEqual(6);
  });

  for (const kind of ["chat", "completion"] as const) {
    const path = kind === "chat" ? "/v1/chat/completions" : "/v1/completions";
    const body = (stream: boolean) => kind === "chat"
      ? { model: "stub", messages: [{ role: "user", content: "Hi" }], stream, max_tokens: 64 }
      : { model: "stub", prompt: "Hi", stream, max_tokens: 64 };
    const textOf = (e: any): string => (kind === "chat" ? e.choices[0].delta.content ?? "" : e.choices[0].text);

    it(`${kind}, streamed: no chunk splits a character; the chunks put together are the text`, async () => {
      for (const cuts of [CUTS, Array.from({ length: BYTES.length - 1 }, (_, i) => i + 1)]) {
        const r = await appOf(stub(split(BYTES, cuts))).request(path, post(body(true)));
        expect(r.status).toBe(200);
        const evs = await events(r);
        expect(evs.at(-1)).toBe("[DONE]");
        const texts = evs.filter((e): e is any => typeof e === "object" && (e as any).choices?.length).map(textOf);
        for (const t of texts) expect(t, `chunk ${JSON.stringify(t)}`).not.toContain("\uFFFD");
        expect(texts.join("")).toBe(TEXT);
      }
    });

    it(`${kind}, whole: the text is the bytes decoded once`, async () => {
      const r = await appOf(stub(split(BYTES, CUTS))).request(path, post(body(false)));
      expect(r.status).toBe(200);
      const j: any = await r.json();
      expect(kind === "chat" ? j.choices[0].message.content : j.choices[0].text).toBe(TEXT);
    });
  }

  it("a character left unfinished at the end of the output is one U+FFFD at the end, not dropped", async () => {
    const r = await appOf(stub([enc("ab"), new Uint8Array([0xe2, 0x82])])).request("/v1/completions", post({ model: "stub", prompt: "Hi", stream: true }));
    const texts = (await events(r)).filter((e): e is any => typeof e === "object" && (e as any).choices?.length).map((e) => e.choices[0].text);
    expect(texts.join("")).toBe("ab\uFFFD");
  });
});
