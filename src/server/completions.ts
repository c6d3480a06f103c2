// POST /v1/chat/completions and /v1/completions: validate, pick a backend, then either stream Server-Sent
// Events in OpenAI's chunk shapes or answer one JSON object. The first decode event is awaited before any
// header is sent, so an error the backend reports up front (unknown model, no pool up) is a proper HTTP error.
import type { DecodeBackend, DecodeEvent, DecodeRequest } from "../protocol.ts";
import { ApiError, errorResponse, fromDecodeError, toApiError } from "./errors.ts";
import { chunk, newHead, usageChunk, usageOf, whole, type Head, type Kind, type Usage } from "./openai-shapes.ts";
import { chatPrompt, chatSchema, completionSchema, parseBody, toDecodeRequest, type RequestDefaults } from "./schemas.ts";

export interface CompletionDeps {
  /** Picks the backend for a request, or throws an ApiError (404 unknown model, 503 nothing up). */
  pick(request: DecodeRequest, lengthIsDefault: boolean): Promise<DecodeBackend>;
  defaults: RequestDefaults;
  maxPromptBytes: number;
  /** Takes a decode slot or throws a 429; returns its release. */
  admit(): () => void;
}

const SSE_HEADERS = { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", "x-accel-buffering": "no" };
const sse = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;

function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

export async function handleCompletion(kind: Kind, raw: unknown, signal: AbortSignal, deps: CompletionDeps): Promise<Response> {
  const body = kind === "chat" ? parseBody(chatSchema, raw) : parseBody(completionSchema, raw);
  const promptText = "messages" in body ? chatPrompt(body.messages) : typeof body.prompt === "string" ? body.prompt : body.prompt[0];
  const request = toDecodeRequest(body, promptText, deps.defaults, randomSeed);
  if (request.prompt.length > deps.maxPromptBytes) {
    throw new ApiError({ status: 413, code: "prompt_too_large", param: kind === "chat" ? "messages" : "prompt",
      message: `the prompt is ${request.prompt.length} bytes; this server takes at most ${deps.maxPromptBytes}` });
  }
  if (request.stop.some((s) => s.length > 64)) throw new ApiError({ status: 400, code: "invalid_value", param: "stop", message: "each stop sequence may be at most 64 bytes" });
  const backend = await deps.pick(request, body.max_tokens == null && body.max_completion_tokens == null);

  const release = once(deps.admit());
  const abort = new AbortController();
  const onAbort = () => abort.abort();
  signal.addEventListener("abort", onAbort);
  const finish = () => { signal.removeEventListener("abort", onAbort); release(); };

  let events: AsyncIterator<DecodeEvent>;
  let first: IteratorResult<DecodeEvent>;
  try {
    events = backend.decode(request, abort.signal)[Symbol.asyncIterator]();
    first = await events.next();
  } catch (e) {
    finish();
    throw toApiError(e);
  }
  if (!first.done && first.value.type === "error") {
    finish();
    const err = fromDecodeError(first.value);
    throw err.param === "max_new_bytes" ? new ApiError({ status: 400, code: "context_length_exceeded", param: "max_tokens", message: err.message.replace("max_new_bytes", "max_tokens") }) : err;
  }
  const head = newHead(kind, request.model);
  if (!body.stream) return await answerWhole(kind, head, backend.name, first, events, finish);
  const withUsage = body.stream_options?.include_usage === true;
  return new Response(streamChunks(kind, head, backend.name, withUsage, first, events, abort, finish), { headers: SSE_HEADERS });
}

function once(f: () => void): () => void {
  let done = false;
  return () => { if (!done) { done = true; f(); } };
}

async function answerWhole(kind: Kind, head: Head, backendName: string, first: IteratorResult<DecodeEvent>, events: AsyncIterator<DecodeEvent>, finish: () => void): Promise<Response> {
  const parts: Uint8Array[] = [];
  try {
    for (let r = first; !r.done; r = await events.next()) {
      const e = r.value;
      if (e.type === "bytes") parts.push(e.bytes);
      else if (e.type === "error") throw fromDecodeError(e);
      else {
        const text = new TextDecoder().decode(concat(parts));
        return Response.json(whole(kind, head, text, e.finishReason, usageOf(e.stats, backendName)));
      }
    }
    throw new ApiError({ status: 502, code: "backend_failed", message: "the backend ended without finishing the request" });
  } catch (e) {
    return errorResponse(toApiError(e));
  } finally {
    finish();
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/**
 * The SSE body: role chunk (chat), content chunks, the chunk with finish_reason, the usage chunk when asked,
 * then `data: [DONE]`. Pull-driven: the decode advances only as the client reads. A streaming TextDecoder
 * holds back an incomplete UTF-8 character, so no chunk ever splits one. An error after the first byte is
 * one `data: {"error":…}` event, then the stream closes.
 */
function streamChunks(kind: Kind, head: Head, backendName: string, withUsage: boolean, first: IteratorResult<DecodeEvent>,
  events: AsyncIterator<DecodeEvent>, abort: AbortController, finish: () => void): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  const utf8 = new TextDecoder();
  let pending: IteratorResult<DecodeEvent> | null = first;
  let closed = false;
  const end = (c: ReadableStreamDefaultController<Uint8Array>, text: string) => {
    closed = true;
    finish();
    c.enqueue(enc.encode(text));
    c.close();
  };
  return new ReadableStream<Uint8Array>({
    start(c) {
      if (kind === "chat") c.enqueue(enc.encode(sse(chunk(kind, head, { role: true }, withUsage))));
    },
    async pull(c) {
      if (closed) return;
      try {
        for (;;) {
          const r: IteratorResult<DecodeEvent> = pending ?? await events.next();
          pending = null;
          if (r.done) throw new ApiError({ status: 502, code: "backend_failed", message: "the backend ended without finishing the request" });
          const e = r.value;
          if (e.type === "bytes") {
            const text = utf8.decode(e.bytes, { stream: true });
            if (!text) continue;
            c.enqueue(enc.encode(sse(chunk(kind, head, { text }, withUsage))));
            return;
          }
          if (e.type === "error") throw fromDecodeError(e);
          const tail = utf8.decode();
          let out = tail ? sse(chunk(kind, head, { text: tail }, withUsage)) : "";
          out += sse(chunk(kind, head, { finish: e.finishReason }, withUsage));
          if (withUsage) out += sse(usageChunk(kind, head, usageOf(e.stats, backendName) satisfies Usage));
          end(c, out + "data: [DONE]\n\n");
          return;
        }
      } catch (e) {
        end(c, sse(toApiError(e).body()));
      }
    },
    async cancel() {
      closed = true;
      abort.abort();
      try { await events.return?.(); } catch { /* the decode is being torn down */ }
      finish();
    },
  });
}
