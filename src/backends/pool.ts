// The GPU pool: remote workers that speak the decoding protocol over HTTP + SSE (wire.ts). Health is polled
// lazily (at most every healthTtlMs, with a short timeout); a request goes to the least busy healthy worker that
// serves its model and mode, and moves to the next one if the connection fails before any byte was streamed.
// Once bytes have been sent, a failure is reported as an error event: output is never replayed or revised.
import type { DecodeBackend, DecodeEvent, DecodeRequest } from "../protocol.ts";
import { decodeEvent, encodeRequest, sseData, WIRE_VERSION, type WorkerHealth } from "./wire.ts";

export interface PoolOptions {
  endpoints: string[];
  healthTtlMs?: number;
  healthTimeoutMs?: number;
  fetch?: typeof fetch;
}

interface Endpoint {
  url: string;
  health: WorkerHealth | null;
  checkedAt: number;
  /** Decodes this edge isolate has open on it, added to its reported busy count between checks. */
  open: number;
}

export class PoolBackend implements DecodeBackend {
  readonly name = "pool";
  private readonly endpoints: Endpoint[];
  private readonly ttlMs: number;
  private readonly timeoutMs: number;
  private readonly fetch: typeof fetch;

  constructor(o: PoolOptions) {
    this.endpoints = o.endpoints.map((url) => ({ url: url.replace(/\/+$/, ""), health: null, checkedAt: -Infinity, open: 0 }));
    this.ttlMs = o.healthTtlMs ?? 2000;
    this.timeoutMs = o.healthTimeoutMs ?? 1500;
    this.fetch = o.fetch ?? ((input, init) => fetch(input, init));
  }

  get configured(): boolean { return this.endpoints.length > 0; }

  /** Refreshes stale health entries (all at once, each with a timeout). */
  async refresh(force = false): Promise<void> {
    const now = Date.now();
    await Promise.all(this.endpoints.filter((e) => force || now - e.checkedAt > this.ttlMs).map(async (e) => {
      try {
        const r = await this.fetch(`${e.url}/health`, { signal: AbortSignal.timeout(this.timeoutMs) });
        const h = (await r.json()) as WorkerHealth;
        e.health = r.ok && h.version === WIRE_VERSION && h.status === "ok" ? h : null;
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

  async *decode(r: DecodeRequest, signal?: AbortSignal): AsyncGenerator<DecodeEvent> {
    await this.refresh();
    const tried: string[] = [];
    const candidates = this.candidates(r);
    if (!candidates.length && this.endpoints.some((e) => e.health?.models.includes(r.model))) {
      yield { type: "error", code: "unsupported_mode", param: "mode", message: `the GPU pool serves ${JSON.stringify(r.model)} but not in mode ${r.mode}` };
      return;
    }
    for (const e of candidates) {
      let sentBytes = false;
      e.open++;
      try {
        const res = await this.fetch(`${e.url}/v1/decode`, {
          method: "POST", headers: { "content-type": "application/json" }, body: encodeRequest(r), signal,
        });
        if (res.status === 503 || res.status === 429) { tried.push(`${e.url}: busy`); await res.body?.cancel(); continue; }
        if (!res.ok || !res.body) {
          const err = (await res.json().catch(() => null)) as { error?: { code?: string; message?: string; param?: string } } | null;
          yield { type: "error", code: err?.error?.code ?? "backend_failed", message: err?.error?.message ?? `pool worker answered HTTP ${res.status}`, ...(err?.error?.param ? { param: err.error.param } : {}) };
          return;
        }
        for await (const data of sseData(res.body)) {
          const ev = decodeEvent(data);
          if (ev.type === "bytes") sentBytes = true;
          yield ev;
          if (ev.type !== "bytes") return;
        }
        throw new Error("the stream ended before the request finished");
      } catch (err) {
        if (signal?.aborted) { yield { type: "error", code: "cancelled", message: "the request was cancelled" }; return; }
        e.health = null; // presumed down until the next check
        e.checkedAt = Date.now();
        const why = `${e.url}: ${(err as Error).message}`;
        if (sentBytes) { yield { type: "error", code: "backend_failed", message: `the pool worker failed mid-stream (${why})` }; return; }
        tried.push(why);
      } finally {
        e.open--;
      }
    }
    const up = this.endpoints.some((e) => e.health);
    const message = tried.length
      ? `no GPU pool worker could take the request for model ${JSON.stringify(r.model)} (${tried.join("; ")})`
      : up ? `no healthy GPU pool worker serves model ${JSON.stringify(r.model)} in mode ${r.mode}`
        : `no GPU pool worker is up (${this.endpoints.length} configured)`;
    yield { type: "error", code: "unavailable", message };
  }
}
