// The server backend as the page sees it: a DecodeBackend over this Worker's own OpenAI-compatible
// `POST /v1/completions` with `stream: true` and usage, its Server-Sent Events split by the wire module. An HTTP error
// before the stream, or an error event inside it, becomes the protocol's error event (code, message, param).
import { DEFAULT_MODEL } from "../config.ts";
import { CANCELLED, type ByteLogprob, type DecodeBackend, type DecodeEvent, type DecodeRequest, type DecodeStats, type FinishReason } from "../protocol.ts";
import { sseData } from "../backends/wire.ts";

interface UsageBltedge {
  mode: DecodeStats["mode"];
  passes: DecodeStats["passes"];
  drafted_bytes: number;
  accepted_bytes: number;
  est_bytes_moved: number;
  wall_ms: number;
  prefill_ms?: number;
}
interface Usage { prompt_tokens: number; completion_tokens: number; bltedge?: UsageBltedge }
interface ApiErrorBody { error?: { message?: string; code?: string; param?: string | null } }

/** The OpenAI text-completion body of a DecodeRequest (the server's extension fields included). */
export function completionBody(r: DecodeRequest, mode: DecodeRequest["mode"] | "auto" = r.mode): Record<string, unknown> {
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return {
    model: r.model, prompt: text(r.prompt), stream: true, stream_options: { include_usage: true },
    max_tokens: r.maxNewBytes, temperature: r.sampling.temperature, top_p: r.sampling.topP, top_k: r.sampling.topK,
    seed: r.sampling.seed, mode, block_size: r.knobs.blockSize, threshold: r.knobs.threshold,
    entropy_bound: r.knobs.entropyBound, max_steps_per_block: r.knobs.maxStepsPerBlock, draft_length: r.knobs.draftLength,
    ...(r.stop.length ? { stop: r.stop.map(text) } : {}),
    ...(r.responseFormat != null ? { response_format: r.responseFormat } : {}),
    ...(r.logprobs != null ? { logprobs: r.logprobs } : {}),
  };
}

/** A token of the legacy logprobs object back to its byte (an ASCII character, or "bytes:\\xNN"). */
const byteOfToken = (t: string) => (t.startsWith("bytes:\\x") ? parseInt(t.slice(8), 16) : t.charCodeAt(0));

/** A completions chunk's legacy logprobs object as the protocol's per-byte records. */
function recordsOf(lp: { tokens: string[]; token_logprobs: number[]; top_logprobs: Record<string, number>[] }): ByteLogprob[] {
  return lp.tokens.map((t, i) => ({
    byte: byteOfToken(t), logprob: lp.token_logprobs[i],
    top: Object.entries(lp.top_logprobs[i] ?? {}).map(([k, v]) => ({ byte: byteOfToken(k), logprob: v })).sort((a, b) => b.logprob - a.logprob || a.byte - b.byte),
  }));
}

const errorEvent = (body: ApiErrorBody | null, fallback: string): DecodeEvent => ({
  type: "error", code: body?.error?.code ?? "http_error", message: body?.error?.message ?? fallback,
  ...(body?.error?.param ? { param: body.error.param } : {}),
});

function statsOf(u: Usage, r: DecodeRequest): DecodeStats {
  const b = u.bltedge;
  return {
    mode: b?.mode ?? r.mode, promptBytes: u.prompt_tokens, generatedBytes: u.completion_tokens,
    passes: b?.passes ?? { entropy: 0, encoder: 0, global: 0, decoder: 0 },
    draftedBytes: b?.drafted_bytes ?? 0, acceptedBytes: b?.accepted_bytes ?? 0,
    estBytesMoved: b?.est_bytes_moved ?? 0, wallMs: b?.wall_ms ?? 0, prefillMs: b?.prefill_ms ?? 0,
  };
}

export class ServerBackend implements DecodeBackend {
  readonly name = "server";

  /** `origin`: the Worker's, e.g. "http://127.0.0.1:8787"; `apiKey`: sent as a bearer token when set. */
  /** `mode: "auto"` sends mode auto (the server picks; the stats name its choice) whatever the request's mode. */
  constructor(private readonly origin: string, private readonly apiKey = "", private readonly served: string[] = [DEFAULT_MODEL],
    private readonly options: { mode?: "auto" } = {}) {}

  models(): string[] { return this.served; }

  async *decode(r: DecodeRequest, signal?: AbortSignal): AsyncGenerator<DecodeEvent> {
    let res: Response;
    try {
      res = await fetch(`${this.origin}/v1/completions`, {
        method: "POST", signal, body: JSON.stringify(completionBody(r, this.options.mode ?? r.mode)),
        headers: { "content-type": "application/json", ...(this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {}) },
      });
    } catch (e) {
      yield signal?.aborted ? CANCELLED
        : { type: "error", code: "network_error", message: `cannot reach the server: ${(e as Error).message}` };
      return;
    }
    if (!res.ok || !res.body) {
      const body = (await res.json().catch(() => null)) as ApiErrorBody | null;
      yield errorEvent(body, `the server answered HTTP ${res.status}`);
      return;
    }
    const enc = new TextEncoder();
    let finish: FinishReason = "length";
    let usage: Usage | undefined;
    try {
      for await (const data of sseData(res.body)) {
        if (data === "[DONE]") {
          yield { type: "done", finishReason: finish, stats: statsOf(usage ?? { prompt_tokens: r.prompt.length, completion_tokens: 0 }, r) };
          return;
        }
        const o = JSON.parse(data) as ApiErrorBody & { choices?: { text?: string; finish_reason?: FinishReason | null; logprobs?: Parameters<typeof recordsOf>[0] | null }[]; usage?: Usage | null };
        if (o.error) { yield errorEvent(o, "the stream failed"); return; }
        const c = o.choices?.[0];
        if (c?.text) yield { type: "bytes", bytes: enc.encode(c.text), ...(c.logprobs ? { logprobs: recordsOf(c.logprobs) } : {}) };
        if (c?.finish_reason) finish = c.finish_reason;
        if (o.usage) usage = o.usage;
      }
      yield { type: "error", code: "stream_ended", message: "the stream ended before [DONE]" };
    } catch (e) {
      yield signal?.aborted ? CANCELLED
        : { type: "error", code: "stream_failed", message: `the stream failed: ${(e as Error).message}` };
    }
  }
}
