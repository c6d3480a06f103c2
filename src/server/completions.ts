// POST /v1/chat/completions and /v1/completions: validate, pick a backend, then either stream Server-Sent
// Events in OpenAI's chunk shapes or answer one JSON object. The first decode event is awaited before any
// header is sent, so an error the backend reports up front (unknown model, no pool up) is a proper HTTP error.
import type { ByteLogprob, DecodeBackend, DecodeEvent, DecodeRequest, DecodeStats } from "../protocol.ts";
import { ApiError, errorResponse, fromDecodeError, toApiError } from "./errors.ts";
import { chatLogprobs, chunk, legacyLogprobs, newHead, usageChunk, usageOf, whole, type Head, type Kind, type Usage } from "./openai-shapes.ts";
import type { ModePicker } from "./mode-picker.ts";
import { chatPrompt, chatSchema, completionSchema, parseBody, requestedMode, toDecodeRequest, type RequestDefaults } from "./schemas.ts";
import type { DecodeEnd, Slot } from "./slots.ts";
import { concatBytes } from "../engine/decode/output.ts";

export interface CompletionDeps {
  /** Picks the backend for a request, or throws an ApiError (404 unknown model, 503 nothing up). */
  pick(request: DecodeRequest, lengthIsDefault: boolean): Promise<DecodeBackend>;
  defaults: RequestDefaults;
  maxPromptBytes: number;
  /** Keeps the isolate working on a promise after the response (Workers: ctx.waitUntil). */
  waitUntil(p: Promise<unknown>): void;
  /** Takes a decode slot or throws a 429; the slot is beaten while the decode works and released once it ends. */
  admit(): Slot;
  /** Resolves mode "auto" and learns from the requests it resolved. */
  modes: ModePicker;
  /** A stream whose client takes nothing for this long while output waits is ended as cancelled (default 10 s). */
  streamStallMs?: number;
}

/** The events, passing a done event's stats to onDone on the way. */
async function* recorded(events: AsyncIterable<DecodeEvent>, onDone: (s: DecodeStats) => void): AsyncGenerator<DecodeEvent> {
  for await (const e of events) {
    if (e.type === "done") onDone(e.stats);
    yield e;
  }
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
  const auto = requestedMode(body, deps.defaults) === "auto", greedy = request.sampling.temperature === 0;
  if (auto) request.mode = deps.modes.choose(backend.name, request.model, greedy);

  const slot = deps.admit();
  const abort = new AbortController();
  const onAbort = () => abort.abort();
  signal.addEventListener("abort", onAbort);
  if (signal.aborted) abort.abort();
  let events: AsyncIterator<DecodeEvent> | undefined;
  // closing the backend's generator runs its cleanup (a local model's ticket leaves the line there); the slot comes
  // back once it has, so a free slot means a free model (a generator that does not close within 2 s gives its slot
  // back then, and its ticket is dropped when the ticket's lease runs out)
  const finish = (end: DecodeEnd) => {
    signal.removeEventListener("abort", onAbort);
    const closed = events?.return?.().then(() => {}, () => {}) ?? Promise.resolve();
    let timer: ReturnType<typeof setTimeout> | undefined;
    void Promise.race([closed, new Promise<void>((r) => { timer = setTimeout(r, 2000); })]).then(() => { clearTimeout(timer); slot.release(end); });
  };

  let first: IteratorResult<DecodeEvent>;
  try {
    const decoded = backend.decode(request, abort.signal, slot.beat);
    events = (auto ? recorded(decoded, (s) => deps.modes.record(backend.name, request.model, greedy, s)) : decoded)[Symbol.asyncIterator]();
    first = await events.next();
  } catch (e) {
    finish("failed");
    throw toApiError(e);
  }
  if (!first.done && first.value.type === "error") {
    finish(first.value.code === "cancelled" ? "cancelled" : "failed");
    const err = fromDecodeError(first.value);
    throw err.param === "max_tokens" ? new ApiError({ status: 400, code: "context_length_exceeded", param: err.param, message: err.message }) : err;
  }
  const head = newHead(kind, request.model);
  // completions' echo: the prompt comes back before the completion (with its log-probabilities when asked)
  const out: OutputShape = { echo: "echo" in body && body.echo === true ? request.prompt : null, logprobs: request.logprobs != null };
  if (!body.stream) {
    const answer = answerWhole(kind, head, backend.name, first, events!, slot, finish, out);
    deps.waitUntil(answer);
    return await answer;
  }
  const withUsage = body.stream_options?.include_usage === true;
  const { stream, done } = streamChunks(kind, head, backend.name, withUsage, first, events!, abort, slot, finish, deps.streamStallMs ?? 10_000, out);
  deps.waitUntil(done);
  return new Response(stream, { headers: SSE_HEADERS });
}

/** What a response carries beside the completion: the echoed prompt (completions), and log-probabilities. */
interface OutputShape {
  echo: Uint8Array | null;
  logprobs: boolean;
}

async function answerWhole(kind: Kind, head: Head, backendName: string, first: IteratorResult<DecodeEvent>, events: AsyncIterator<DecodeEvent>,
  slot: Slot, finish: (end: DecodeEnd) => void, out: OutputShape): Promise<Response> {
  const parts: Uint8Array[] = [];
  const records: ByteLogprob[] = [];
  let promptRecords: (ByteLogprob | null)[] | null = null;
  let end: DecodeEnd = "failed";
  try {
    for (let r = first; !r.done; r = await events.next()) {
      slot.beat();
      const e = r.value;
      if (e.type === "bytes") {
        parts.push(e.bytes);
        if (e.logprobs) records.push(...e.logprobs);
        if (e.promptLogprobs) (promptRecords ??= []).push(...e.promptLogprobs);
      } else if (e.type === "error") {
        if (e.code === "cancelled") end = "cancelled";
        throw fromDecodeError(e);
      } else {
        end = "completed";
        const generated = concatBytes(parts);
        const all = out.echo ? concatBytes([out.echo, generated]) : generated;
        const text = new TextDecoder().decode(all);
        let lp: object | null = null;
        if (out.logprobs) {
          lp = kind === "chat" ? chatLogprobs(records)
            : legacyLogprobs([...(out.echo ? promptRecords ?? Array.from(out.echo, () => null) : []), ...records], all);
        }
        return Response.json(whole(kind, head, text, e.finishReason, usageOf(e.stats, backendName), lp));
      }
    }
    throw new ApiError({ status: 502, code: "backend_failed", message: "the backend ended without finishing the request" });
  } catch (e) {
    return errorResponse(toApiError(e));
  } finally {
    finish(end);
  }
}

/**
 * The SSE body: role chunk (chat), content chunks, the chunk with finish_reason, the usage chunk when asked,
 * then `data: [DONE]`. The decode runs ahead of the reader and is kept alive with waitUntil (`done`), so a decode
 * whose client stops reading still ends and gives back its slot and its model. The stream has at most one write
 * outstanding; what the decode produces meanwhile goes out with the next write (events are batched when the
 * client, or the network, is slower than the decode). In workerd the body is an IdentityTransformStream: its
 * write completes once the runtime has taken the bytes and fails once the connection is lost (measured: with a
 * standard TransformStream and many writes queued, a client's disconnect raised neither the request signal nor a
 * failed write). The client going away is seen whichever way comes first: the request signal, the body cancelled
 * (in-process callers), a failed write, or a write the client has not taken for stallMs; each stops the decode
 * within one block. A
 * streaming TextDecoder holds back an incomplete UTF-8 character, so no chunk ever splits one. An error after the
 * first byte is one `data: {"error":…}` event, then the stream closes.
 */
function streamChunks(kind: Kind, head: Head, backendName: string, withUsage: boolean, first: IteratorResult<DecodeEvent>,
  events: AsyncIterator<DecodeEvent>, abort: AbortController, slot: Slot, finish: (end: DecodeEnd) => void, stallMs: number,
  out: OutputShape): { stream: ReadableStream<Uint8Array>; done: Promise<void> } {
  const enc = new TextEncoder();
  const utf8 = new TextDecoder();
  const Identity = (globalThis as { IdentityTransformStream?: new () => TransformStream<Uint8Array, Uint8Array> }).IdentityTransformStream;
  const { readable, writable } = Identity ? new Identity() : new TransformStream<Uint8Array, Uint8Array>();
  const writer = writable.getWriter();
  writer.closed.catch(() => {});
  let ended = false, gone = false, closing = false;
  let pending: string[] = [], writingSince = 0;
  const lost = () => {
    if (gone) return;
    gone = true;
    pending = [];
    writer.abort().catch(() => {});
    if (!ended) {
      ended = true;
      abort.abort();
      finish("cancelled");
    }
  };
  const flush = () => {
    if (gone) return;
    // the client is gone (its request signal fired): nothing more is written, a write would only fail
    if (abort.signal.aborted) { lost(); return; }
    if (!pending.length) {
      writingSince = 0;
      if (closing) writer.close().catch(() => {});
      return;
    }
    const text = pending.join("");
    pending = [];
    writingSince = Date.now();
    // a turn of the event loop between writes lets the runtime see a disconnect (the request signal) before a
    // write runs into it: workerd logs a write that fails on a lost connection as an uncaught error (measured)
    writer.write(enc.encode(text)).then(() => setTimeout(flush, 0), lost);
  };
  const write = (text: string) => {
    if (gone) return;
    pending.push(text);
    if (!writingSince) flush();
    else if (Date.now() - writingSince > stallMs) lost();
  };
  const send = (o: unknown) => write(sse(o));
  const end = (how: DecodeEnd, last?: string) => {
    if (ended) return;
    if (last) write(last);
    ended = true;
    closing = true;
    finish(how);
    if (!writingSince) flush();
  };
  const run = async () => {
    try {
      if (kind === "chat") send(chunk(kind, head, { role: true }, withUsage));
      let offset = 0; // legacy logprobs' text_offset
      let promptRecords: (ByteLogprob | null)[] | null = null;
      const echo = (records: (ByteLogprob | null)[] | null) => {
        const text = new TextDecoder().decode(out.echo!);
        const logprobs = out.logprobs ? legacyLogprobs(records ?? Array.from(out.echo!, () => null), out.echo!) : undefined;
        offset = out.echo!.length;
        out.echo = null;
        send(chunk(kind, head, { text, logprobs }, withUsage));
      };
      for (let r = first; ; r = await events.next()) {
        if (ended) return;
        slot.beat();
        if (r.done) throw new ApiError({ status: 502, code: "backend_failed", message: "the backend ended without finishing the request" });
        const e = r.value;
        if (e.type === "bytes") {
          if (e.promptLogprobs) { (promptRecords ??= []).push(...e.promptLogprobs); if (!e.bytes.length) continue; }
          if (out.echo) echo(promptRecords);
          const text = utf8.decode(e.bytes, { stream: true });
          const logprobs = e.logprobs && e.logprobs.length ? (kind === "chat" ? chatLogprobs(e.logprobs) : legacyLogprobs(e.logprobs, e.bytes, offset)) : undefined;
          offset += e.bytes.length;
          if (text) send(chunk(kind, head, { text, logprobs }, withUsage));
          continue;
        }
        if (out.echo) echo(promptRecords);
        if (e.type === "error") throw fromDecodeError(e);
        const tail = utf8.decode();
        if (tail) send(chunk(kind, head, { text: tail }, withUsage));
        send(chunk(kind, head, { finish: e.finishReason }, withUsage));
        if (withUsage) send(usageChunk(kind, head, usageOf(e.stats, backendName) satisfies Usage));
        end("completed", "data: [DONE]\n\n");
        return;
      }
    } catch (e) {
      end(abort.signal.aborted ? "cancelled" : "failed", sse(toApiError(e).body()));
    }
  };
  return { stream: readable, done: run() };
}
