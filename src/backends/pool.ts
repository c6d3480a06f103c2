// The GPU pool: remote workers that speak the decoding protocol over HTTP + SSE (wire.ts), each treated as an
// untrusted peer. Health is polled lazily (at most every healthTtlMs, with a timeout and a size cap); a request
// goes to the least busy healthy worker that serves its model and mode. Every attempt has deadlines (response
// headers, first event, between events, whole stream), no redirects, an event-size cap, a byte cap at the
// request's maxNewBytes and strict event checks; a worker that breaks any of them is marked down. Before any
// byte was streamed the request moves on to the next worker; after, the stream ends with one error event:
// output is never replayed or revised. Clients see generic messages; the details go to the log.
import { CANCELLED, type DecodeBackend, type DecodeEvent, type DecodeRequest } from "../protocol.ts";
import { ENGINE_PARAMS } from "../contract.ts";
import { readTextCapped, sseData } from "./sse.ts";
import { decodeEvent, decodeHealth, encodeRequest, type WorkerHealth } from "./wire.ts";

export interface PoolTimeouts {
  /** Until the worker's response headers. */
  connectMs: number;
  /** From the headers to the first event. */
  firstEventMs: number;
  /** From the request to its first event, over every worker tried: failover stops there. */
  firstByteMs: number;
  /** Between two events. */
  idleMs: number;
  /** The whole stream. */
  streamMs: number;
}

export interface PoolOptions {
  endpoints: string[];
  healthTtlMs?: number;
  healthTimeoutMs?: number;
  timeouts?: Partial<PoolTimeouts>;
  /** Largest SSE event (its data, in characters) a worker may send. */
  maxEventChars?: number;
  /** Sent as `x-pool-secret` on every request to a worker (the worker's --secret). */
  secret?: string;
  fetch?: typeof fetch;
  /** Where the details of a worker's failures go (default console.warn). */
  log?: (message: string) => void;
}

const DEFAULT_TIMEOUTS: PoolTimeouts = { connectMs: 5_000, firstEventMs: 15_000, firstByteMs: 25_000, idleMs: 15_000, streamMs: 120_000 };
const MAX_HEALTH_BYTES = 16 * 1024;

/** What the client may be told when a worker refuses a request (400): the field, if the request contract names it. */
const KNOWN_PARAMS = ENGINE_PARAMS;

interface Endpoint {
  url: string;
  health: WorkerHealth | null;
  checkedAt: number;
  /** Decodes this edge isolate has open on it, added to its reported busy count between checks. */
  open: number;
}

/** A worker broke the protocol or a limit (logged, never shown to clients). */
class WorkerFault extends Error {}

export class PoolBackend implements DecodeBackend {
  readonly name = "pool";
  private readonly endpoints: Endpoint[];
  private readonly ttlMs: number;
  private readonly healthTimeoutMs: number;
  private readonly timeouts: PoolTimeouts;
  private readonly maxEventChars: number;
  private readonly headers: Record<string, string>;
  private readonly fetch: typeof fetch;
  private readonly log: (message: string) => void;

  constructor(o: PoolOptions) {
    this.endpoints = o.endpoints.map((url) => ({ url: url.replace(/\/+$/, ""), health: null, checkedAt: -Infinity, open: 0 }));
    this.ttlMs = o.healthTtlMs ?? 2000;
    this.healthTimeoutMs = o.healthTimeoutMs ?? 1500;
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...o.timeouts };
    this.maxEventChars = o.maxEventChars ?? 64 * 1024;
    this.headers = o.secret ? { "x-pool-secret": o.secret } : {};
    this.fetch = o.fetch ?? ((input, init) => fetch(input, init));
    this.log = o.log ?? ((m) => console.warn(m));
  }

  get configured(): boolean { return this.endpoints.length > 0; }

  /** Refreshes stale health entries (all at once, each with a timeout and a size cap). */
  async refresh(force = false): Promise<void> {
    const now = Date.now();
    await Promise.all(this.endpoints.filter((e) => force || now - e.checkedAt > this.ttlMs).map(async (e) => {
      try {
        const r = await this.fetch(`${e.url}/health`, { headers: this.headers, redirect: "manual", signal: AbortSignal.timeout(this.healthTimeoutMs) });
        const text = await readTextCapped(r.body, MAX_HEALTH_BYTES);
        e.health = r.status === 200 ? decodeHealth(JSON.parse(text)) : null;
      } catch {
        e.health = null;
      }
      e.checkedAt = Date.now();
    }));
  }

  /** Models some healthy worker serves (as of the last check). */
  models(): string[] {
    return [...new Set(this.endpoints.flatMap((e) => e.health?.models ?? []))];
  }

  status(): { url: string; up: boolean; busy: number | null; capacity: number | null; models: string[] }[] {
    return this.endpoints.map((e) => ({ url: e.url, up: e.health !== null, busy: e.health ? e.health.busy + e.open : null,
      capacity: e.health?.capacity ?? null, models: e.health?.models ?? [] }));
  }

  /** Healthy workers for this model and mode, least busy first. */
  private candidates(r: DecodeRequest): Endpoint[] {
    const load = (e: Endpoint) => (e.health!.busy + e.open) / Math.max(1, e.health!.capacity);
    return this.endpoints.filter((e) => e.health?.models.includes(r.model) && e.health.modes.includes(r.mode)).sort((a, b) => load(a) - load(b));
  }

  private markDown(e: Endpoint, why: string): void {
    e.health = null; // presumed down until the next check
    e.checkedAt = Date.now();
    this.log(`GPU pool worker ${e.url} marked down: ${why}`);
  }

  async *decode(r: DecodeRequest, signal?: AbortSignal, alive?: () => void): AsyncGenerator<DecodeEvent> {
    await this.refresh();
    const candidates = this.candidates(r);
    if (!candidates.length && this.endpoints.some((e) => e.health?.models.includes(r.model))) {
      yield { type: "error", code: "unsupported_mode", param: "mode", message: `the GPU pool serves ${JSON.stringify(r.model)} but not in mode ${r.mode}` };
      return;
    }
    const firstByteBy = Date.now() + this.timeouts.firstByteMs;
    for (const e of candidates) {
      if (Date.now() >= firstByteBy) break;
      const attempt = new Attempt(this.timeouts, firstByteBy, signal);
      let sentBytes = 0;
      alive?.();
      e.open++;
      try {
        attempt.arm("connectMs");
        const res = await this.fetch(`${e.url}/v1/decode`, {
          method: "POST", headers: { "content-type": "application/json", ...this.headers }, body: encodeRequest(r), redirect: "manual", signal: attempt.signal,
        });
        if (res.status === 503 || res.status === 429) { await res.body?.cancel(); continue; } // busy: the next worker
        if (res.status === 400) {
          const param = await this.refusedParam(res);
          yield { type: "error", code: "invalid_request", message: `the GPU pool worker refused the request${param ? ` (${param})` : ""}`, ...(param ? { param } : {}) };
          return;
        }
        if (res.status !== 200 || !res.body || !res.headers.get("content-type")?.startsWith("text/event-stream")) {
          await res.body?.cancel();
          throw new WorkerFault(`answered HTTP ${res.status} ${res.headers.get("content-type") ?? ""}`);
        }
        attempt.arm("firstEventMs");
        for await (const data of sseData(res.body, this.maxEventChars)) {
          attempt.arm("idleMs");
          alive?.();
          const ev = decodeEvent(data);
          if (ev.type === "error") throw new WorkerFault(`error event ${ev.code}: ${ev.message}`);
          if (ev.type === "done") {
            const s = ev.stats;
            if (s.mode !== r.mode || s.promptBytes !== r.prompt.length || s.generatedBytes !== sentBytes) {
              throw new WorkerFault(`stats that do not match the request or the stream (${s.mode}, ${s.promptBytes} + ${s.generatedBytes} bytes; streamed ${sentBytes})`);
            }
            yield ev;
            return;
          }
          if (sentBytes + ev.bytes.length > r.maxNewBytes) throw new WorkerFault(`more than the ${r.maxNewBytes} bytes asked for`);
          sentBytes += ev.bytes.length;
          yield ev;
        }
        throw new WorkerFault("the stream ended before the request finished");
      } catch (err) {
        if (signal?.aborted) { yield CANCELLED; return; }
        this.markDown(e, attempt.timedOut ?? (err as Error).message ?? String(err));
        if (sentBytes) { yield { type: "error", code: "backend_failed", message: "the GPU pool worker failed mid-stream" }; return; }
      } finally {
        attempt.stop();
        e.open--;
      }
    }
    const message = this.endpoints.some((e) => e.health)
      ? `no GPU pool worker could take the request for model ${JSON.stringify(r.model)}; retry shortly`
      : "no GPU pool worker is up; retry shortly";
    yield { type: "error", code: "unavailable", message };
  }

  /** The field a worker's 400 names, when it is one this API knows (its message is not passed on). */
  private async refusedParam(res: Response): Promise<string | undefined> {
    try {
      const o = JSON.parse(await readTextCapped(res.body, MAX_HEALTH_BYTES)) as { error?: { param?: unknown } };
      const p = o?.error?.param;
      return typeof p === "string" && KNOWN_PARAMS.has(p) ? p : undefined;
    } catch {
      return undefined;
    }
  }
}

/**
 * One try at one worker: its abort signal (the client's too) and the deadline of the phase it is in; until the
 * first event, never past the request's first-byte deadline.
 */
class Attempt {
  private readonly controller = new AbortController();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly streamTimer: ReturnType<typeof setTimeout>;
  private readonly onAbort = () => this.controller.abort();
  /** Which deadline passed, if one did. */
  timedOut: string | undefined;

  constructor(private readonly timeouts: PoolTimeouts, private readonly firstByteBy: number, private readonly client?: AbortSignal) {
    client?.addEventListener("abort", this.onAbort);
    if (client?.aborted) this.controller.abort();
    this.streamTimer = setTimeout(() => this.expire("streamMs"), timeouts.streamMs);
  }

  get signal(): AbortSignal { return this.controller.signal; }

  /** Starts the deadline of a phase (replacing the previous phase's). */
  arm(phase: "connectMs" | "firstEventMs" | "idleMs"): void {
    clearTimeout(this.timer);
    const ms = phase === "idleMs" ? this.timeouts.idleMs : Math.min(this.timeouts[phase], this.firstByteBy - Date.now());
    this.timer = setTimeout(() => this.expire(phase), Math.max(0, ms));
  }

  private expire(phase: keyof PoolTimeouts): void {
    this.timedOut = `no answer within ${phase} = ${this.timeouts[phase]} (or the request's firstByteMs)`;
    this.controller.abort();
  }

  stop(): void {
    clearTimeout(this.timer);
    clearTimeout(this.streamTimer);
    this.client?.removeEventListener("abort", this.onAbort);
  }
}
