// The OpenAI response objects, chat and text completion, streamed and whole, built from decode results.
// Usage counts bytes as tokens; `usage.bltedge` adds what the decode cost (mode, passes, traffic).
import type { ByteLogprob, DecodeStats, FinishReason } from "../protocol.ts";

export type Kind = "chat" | "completion";

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  bltedge: {
    backend: string;
    mode: string;
    passes: DecodeStats["passes"];
    passes_per_byte: DecodeStats["passes"];
    drafted_bytes: number;
    accepted_bytes: number;
    est_bytes_moved: number;
    est_bytes_moved_per_byte: number;
    wall_ms: number;
    prefill_ms: number;
    /** which kernels ran the decode (e.g. "wasm-relaxed"), where the backend says */
    kernels?: string;
  };
}

export function usageOf(stats: DecodeStats, backend: string): Usage {
  const per = (v: number) => (stats.generatedBytes ? Math.round((v / stats.generatedBytes) * 1000) / 1000 : 0);
  const p = stats.passes;
  return {
    prompt_tokens: stats.promptBytes,
    completion_tokens: stats.generatedBytes,
    total_tokens: stats.promptBytes + stats.generatedBytes,
    bltedge: {
      backend,
      mode: stats.mode,
      passes: p,
      passes_per_byte: { entropy: per(p.entropy), encoder: per(p.encoder), global: per(p.global), decoder: per(p.decoder) },
      drafted_bytes: stats.draftedBytes,
      accepted_bytes: stats.acceptedBytes,
      est_bytes_moved: Math.round(stats.estBytesMoved),
      est_bytes_moved_per_byte: Math.round(per(stats.estBytesMoved)),
      wall_ms: Math.round(stats.wallMs * 10) / 10,
      prefill_ms: Math.round((stats.prefillMs ?? 0) * 10) / 10,
      ...(stats.kernels ? { kernels: stats.kernels } : {}),
    },
  };
}

/** The per-response identity every chunk of one stream repeats. */
export interface Head {
  id: string;
  created: number;
  model: string;
}

export function newHead(kind: Kind, model: string): Head {
  const id = `${kind === "chat" ? "chatcmpl" : "cmpl"}-${crypto.randomUUID().replaceAll("-", "")}`;
  return { id, created: Math.floor(Date.now() / 1000), model };
}

const objectOf = (kind: Kind, streamed: boolean) =>
  kind === "chat" ? (streamed ? "chat.completion.chunk" : "chat.completion") : "text_completion";

/**
 * A byte as a token: itself when it is ASCII; else "bytes:\\xNN" (a byte that is not a character alone, as OpenAI
 * writes a partial token). `bytes` always says which byte it is.
 */
export const tokenOf = (b: number): string => (b < 0x80 ? String.fromCharCode(b) : `bytes:\\x${b.toString(16).padStart(2, "0")}`);

/** Chat's choices[].logprobs: one entry per byte. */
export function chatLogprobs(records: ByteLogprob[]): object {
  return {
    content: records.map((r) => ({
      token: tokenOf(r.byte), logprob: r.logprob, bytes: [r.byte],
      top_logprobs: r.top.map((t) => ({ token: tokenOf(t.byte), logprob: t.logprob, bytes: [t.byte] })),
    })),
    refusal: null,
  };
}

/**
 * Completions' legacy logprobs object: tokens, token_logprobs, top_logprobs (token → logprob; null where the record
 * is: the prompt's first byte) and text_offset (in bytes from the start of the returned text, from `offset` on).
 */
export function legacyLogprobs(records: (ByteLogprob | null)[], bytes: ArrayLike<number>, offset = 0): object {
  return {
    tokens: Array.from(bytes, tokenOf),
    token_logprobs: records.map((r) => (r ? r.logprob : null)),
    top_logprobs: records.map((r) => (r ? Object.fromEntries(r.top.map((t) => [tokenOf(t.byte), t.logprob])) : null)),
    text_offset: records.map((_, i) => offset + i),
  };
}

/** One streamed chunk. `usage` is null on every chunk but the last when the client asked for usage. */
export function chunk(kind: Kind, h: Head, part: { role?: boolean; text?: string; finish?: FinishReason; logprobs?: object }, withUsage: boolean): object {
  const finish_reason = part.finish ?? null;
  const logprobs = part.logprobs ?? null;
  const choice = kind === "chat"
    ? { index: 0, delta: part.role ? { role: "assistant", content: "" } : part.finish ? {} : { content: part.text ?? "" }, logprobs, finish_reason }
    : { text: part.text ?? "", index: 0, logprobs, finish_reason };
  return { id: h.id, object: objectOf(kind, true), created: h.created, model: h.model, choices: [choice], ...(withUsage ? { usage: null } : {}) };
}

export function usageChunk(kind: Kind, h: Head, usage: Usage): object {
  return { id: h.id, object: objectOf(kind, true), created: h.created, model: h.model, choices: [], usage };
}

export function whole(kind: Kind, h: Head, text: string, finish: FinishReason, usage: Usage, logprobs: object | null = null): object {
  const choice = kind === "chat"
    ? { index: 0, message: { role: "assistant", content: text, refusal: null }, logprobs, finish_reason: finish }
    : { text, index: 0, logprobs, finish_reason: finish };
  return { id: h.id, object: objectOf(kind, false), created: h.created, model: h.model, choices: [choice], usage };
}
