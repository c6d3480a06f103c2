// The OpenAI response objects, field by field: ids and object names per kind, created in seconds, chunk deltas,
// usage (bytes as tokens) and its bltedge extension (rounding of per-byte figures and times).
import { describe, expect, it } from "vitest";
import type { DecodeStats } from "../../src/protocol.ts";
import { chunk, newHead, usageChunk, usageOf, whole } from "../../src/server/openai-shapes.ts";

const stats: DecodeStats = { mode: "blt-s", promptBytes: 11, generatedBytes: 8, passes: { entropy: 3, encoder: 8, global: 2, decoder: 9 },
  draftedBytes: 7, acceptedBytes: 5, estBytesMoved: 1234.6, wallMs: 12.345, prefillMs: 3.21 };

describe("openai shapes", () => {
  it("usage: bytes as tokens, and what the decode cost, rounded", () => {
    expect(usageOf(stats, "local")).toEqual({
      prompt_tokens: 11, completion_tokens: 8, total_tokens: 19,
      bltedge: { backend: "local", mode: "blt-s", passes: stats.passes,
        passes_per_byte: { entropy: 0.375, encoder: 1, global: 0.25, decoder: 1.125 },
        drafted_bytes: 7, accepted_bytes: 5, est_bytes_moved: 1235, est_bytes_moved_per_byte: 154, wall_ms: 12.3, prefill_ms: 3.2 },
    });
    const none = usageOf({ ...stats, generatedBytes: 0, prefillMs: undefined as unknown as number, wallMs: 0.04 }, "pool");
    expect(none.bltedge.passes_per_byte).toEqual({ entropy: 0, encoder: 0, global: 0, decoder: 0 });
    expect(none.bltedge).toMatchObject({ prefill_ms: 0, wall_ms: 0, est_bytes_moved_per_byte: 0, backend: "pool" });
    expect(none.total_tokens).toBe(11);
  });

  it("heads: chatcmpl- or cmpl- and 32 hex digits, created in whole seconds now, the model", () => {
    const before = Math.floor(Date.now() / 1000);
    const c = newHead("chat", "m1"), t = newHead("completion", "m2");
    expect(c.id).toMatch(/^chatcmpl-[0-9a-f]{32}$/);
    expect(t.id).toMatch(/^cmpl-[0-9a-f]{32}$/);
    expect(c.model).toBe("m1");
    expect(Number.isInteger(c.created)).toBe(true);
    expect(c.created).toBeGreaterThanOrEqual(before);
    expect(c.created).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    expect(newHead("chat", "m").id).not.toBe(c.id);
  });

  it("chunks: object names, the role chunk, content deltas, the finish chunk, usage null when asked", () => {
    const h = { id: "x", created: 5, model: "m" };
    expect(chunk("chat", h, { role: true }, false)).toEqual({ id: "x", object: "chat.completion.chunk", created: 5, model: "m",
      choices: [{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }] });
    expect(chunk("chat", h, { text: "hé" }, true)).toEqual({ id: "x", object: "chat.completion.chunk", created: 5, model: "m",
      choices: [{ index: 0, delta: { content: "hé" }, logprobs: null, finish_reason: null }], usage: null });
    expect(chunk("chat", h, { finish: "stop" }, false)).toEqual({ id: "x", object: "chat.completion.chunk", created: 5, model: "m",
      choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: "stop" }] });
    expect(chunk("completion", h, { text: "ab" }, false)).toEqual({ id: "x", object: "text_completion", created: 5, model: "m",
      choices: [{ text: "ab", index: 0, logprobs: null, finish_reason: null }] });
    expect(chunk("completion", h, { finish: "length" }, true)).toEqual({ id: "x", object: "text_completion", created: 5, model: "m",
      choices: [{ text: "", index: 0, logprobs: null, finish_reason: "length" }], usage: null });
    const u = usageOf(stats, "local");
    expect(usageChunk("chat", h, u)).toEqual({ id: "x", object: "chat.completion.chunk", created: 5, model: "m", choices: [], usage: u });
    expect(usageChunk("completion", h, u)).toEqual({ id: "x", object: "text_completion", created: 5, model: "m", choices: [], usage: u });
  });

  it("whole responses: chat.completion with the message, text_completion with the text, and usage", () => {
    const h = { id: "x", created: 5, model: "m" }, u = usageOf(stats, "local");
    expect(whole("chat", h, "hi", "stop", u)).toEqual({ id: "x", object: "chat.completion", created: 5, model: "m",
      choices: [{ index: 0, message: { role: "assistant", content: "hi", refusal: null }, logprobs: null, finish_reason: "stop" }], usage: u });
    expect(whole("completion", h, "hi", "length", u)).toEqual({ id: "x", object: "text_completion", created: 5, model: "m",
      choices: [{ text: "hi", index: 0, logprobs: null, finish_reason: "length" }], usage: u });
  });
});
