// The router: picks the DecodeBackend for each request. A model this isolate holds runs locally while the
// request fits the edge budget; a model only the pool serves, or a request over the budget, goes to the GPU pool.
// A request is never moved to another model: an unknown model is a 404, a pool model with no worker up a 503.
import type { DecodeBackend, DecodeRequest } from "../protocol.ts";
import type { FieldName } from "../contract.ts";
import { MAX_NEW_BYTES } from "../engine/engine.ts";
import type { PoolBackend } from "./pool.ts";

/** Why no backend takes a request; `code` is a DecodeEvent error code (the server maps it to a status). */
export class RouteError extends Error {
  override name = "RouteError";
  constructor(readonly code: "model_not_found" | "unavailable" | "context_length_exceeded", message: string, readonly param: string) { super(message); }
}

export interface LocalModelInfo {
  id: string;
  /** The model's window in bytes: BOS + the prompt must fit; generation runs past it (the caches slide). */
  contextBytes: number;
  /** Most bytes one request may generate (default: the contract's max_tokens limit, src/contract.ts). */
  maxNewBytes?: number;
  weightBytes: number;
}

export interface RouterOptions {
  /** Largest prompt + new bytes a request may decode on the edge when the pool also serves its model. */
  edgeMaxRequestBytes: number;
}

export class Router {
  constructor(
    private readonly local: { backend: DecodeBackend; models: () => LocalModelInfo[] },
    private readonly pool: PoolBackend | null,
    private readonly options: RouterOptions,
  ) {}

  /** Every model id served here or by a healthy pool worker. */
  async models(): Promise<{ id: string; backend: "local" | "pool"; contextBytes?: number }[]> {
    await this.pool?.refresh();
    const local = this.local.models().map((m) => ({ id: m.id, backend: "local" as const, contextBytes: m.contextBytes }));
    const pool = (this.pool?.models() ?? []).filter((id) => !local.some((m) => m.id === id)).map((id) => ({ id, backend: "pool" as const }));
    return [...local, ...pool];
  }

  poolStatus(): ReturnType<PoolBackend["status"]> {
    return this.pool?.status() ?? [];
  }

  /**
   * The backend for r. When the client left the length unset (`lengthIsDefault`), r.maxNewBytes is cut to
   * what the model's context leaves; an explicit length that does not fit is an error.
   */
  async pick(r: DecodeRequest, lengthIsDefault = false): Promise<DecodeBackend> {
    const local = this.local.models().find((m) => m.id === r.model);
    if (local) {
      const maxNew = local.maxNewBytes ?? MAX_NEW_BYTES;
      if (lengthIsDefault) r.maxNewBytes = Math.min(r.maxNewBytes, maxNew);
      if (r.prompt.length + 1 > local.contextBytes) {
        throw new RouteError("context_length_exceeded", `model ${r.model} reads a window of ${local.contextBytes} bytes: prompts of at most ` +
          `${local.contextBytes - 1} bytes (this one is ${r.prompt.length}); the answer may run past the window, up to max_tokens ${maxNew}`, "prompt");
      }
      if (r.maxNewBytes > maxNew) {
        throw new RouteError("context_length_exceeded", `max_tokens is at most ${maxNew} for model ${r.model} (asked for ${r.maxNewBytes})`, "max_tokens" satisfies FieldName);
      }
      const need = r.prompt.length + 1 + r.maxNewBytes;
      if (need <= this.options.edgeMaxRequestBytes || !this.pool) return this.local.backend;
      await this.pool.refresh(true);
      // over the edge budget: the pool takes it if a worker serves the model now, else the edge still does
      return this.pool.models().includes(r.model) ? this.pool : this.local.backend;
    }
    if (this.pool?.configured) {
      await this.pool.refresh();
      if (this.pool.models().includes(r.model)) return this.pool;
      if (!this.pool.status().some((e) => e.up)) {
        throw new RouteError("unavailable", `model ${JSON.stringify(r.model)} is not served on the edge and no GPU pool worker is up`, "model");
      }
    }
    const known = (await this.models()).map((m) => m.id);
    throw new RouteError("model_not_found", `the model ${JSON.stringify(r.model)} does not exist here; models: ${known.join(", ")}`, "model");
  }
}
