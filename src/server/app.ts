// createApp: the Hono app of the OpenAI-compatible API. Middleware runs CORS → body limit → rate limit → API
// key; routes serve /health, /v1/models, /v1/chat/completions and /v1/completions. Runtime-agnostic: the
// Worker (worker.ts) and the Node tests compose it with their own backends.
import { ModePicker } from "./mode-picker.ts";
import { Hono, type Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { RouteError, type Router } from "../backends/router.ts";
import { handleCompletion } from "./completions.ts";
import { DecodeSlots } from "./slots.ts";
import { ApiError, errorResponse, fromDecodeError, toApiError } from "./errors.ts";
import type { RequestDefaults } from "./schemas.ts";

/** The Workers rate-limiting binding's shape (`[[ratelimits]]` in wrangler.toml). */
export interface RateLimiter {
  limit(o: { key: string }): Promise<{ success: boolean }>;
}

export interface Services {
  router: Router;
  /** Resolves when the local models and kernels are loaded; rejects with the load error. */
  ready(): Promise<void>;
  isReady(): boolean;
  /** Which kernels run the local models, e.g. "wasm-relaxed" (a function: known once they have loaded). */
  kernels: string | (() => string);
  defaults: RequestDefaults;
  /** Bearer key required on /v1/*; open when unset (local use). */
  apiKey?: string;
  rateLimiter?: RateLimiter;
  maxBodyBytes: number;
  maxPromptBytes: number;
  maxConcurrentDecodes: number;
  /** A decode slot not beaten for this long is taken back as abandoned (default 60 s; server/slots.ts). */
  slotLeaseMs?: number;
  /** A stream whose client takes nothing for this long while output waits is ended as cancelled (default 10 s). */
  streamStallMs?: number;
  /** Resolves mode "auto" (default: a new ModePicker on the calibrated table). */
  modes?: ModePicker;
}

function sameKey(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) diff |= (a.charCodeAt(i) | 0) ^ (b.charCodeAt(i) | 0);
  return diff === 0;
}

function bearer(c: Context): string {
  const auth = c.req.header("authorization") ?? "";
  return auth.startsWith("Bearer ") ? auth.slice(7).trim() : "";
}

export function createApp(s: Services): Hono {
  const app = new Hono();
  const slots = new DecodeSlots(s.maxConcurrentDecodes, s.slotLeaseMs);
  const modes = s.modes ?? new ModePicker();
  const admit = () => {
    const slot = slots.take();
    if (!slot) {
      throw new ApiError({ status: 429, code: "too_many_concurrent_requests", retryAfterS: 1,
        message: `this server already runs ${slots.limit} decodes (its limit); retry shortly` });
    }
    return slot;
  };

  app.onError((e) => errorResponse(e instanceof RouteError ? fromDecodeError(e) : toApiError(e)));
  app.notFound((c) => errorResponse(new ApiError({ status: 404, code: "not_found", message: `no route ${c.req.method} ${new URL(c.req.url).pathname}` })));

  app.use("*", cors({ origin: "*", exposeHeaders: ["retry-after", "x-should-retry"], maxAge: 86400 }));

  // pool workers' URLs only for a caller holding the API key (never when the API is open)
  app.get("/health", async (c) => {
    const withUrls = s.apiKey !== undefined && sameKey(bearer(c), s.apiKey);
    const pool = s.router.poolStatus().map(({ url, ...rest }) => (withUrls ? { url, ...rest } : rest));
    if (!s.isReady()) {
      s.ready().catch(() => {});
      return c.json({ status: "loading", kernels: kernelsOf(s), pool }, 503, { "retry-after": "1" });
    }
    return c.json({ status: "ok", kernels: kernelsOf(s), models: await s.router.models(), activeDecodes: slots.active, decodes: slots.counts, pool, autoModes: modes.snapshot() });
  });

  app.use("/v1/*", bodyLimit({
    maxSize: s.maxBodyBytes,
    onError: () => errorResponse(new ApiError({ status: 413, code: "request_too_large", message: `the request body exceeds ${s.maxBodyBytes} bytes` })),
  }));
  app.use("/v1/*", async (c, next) => {
    if (c.req.method === "OPTIONS") return next();
    const token = bearer(c);
    const keyOk = s.apiKey !== undefined && sameKey(token, s.apiKey);
    // keyed by the API key only when it is the right one; otherwise by client IP, failed attempts included
    if (s.rateLimiter) {
      const key = keyOk ? token : `ip:${c.req.header("cf-connecting-ip") ?? "unknown"}`;
      if (!(await s.rateLimiter.limit({ key })).success) {
        throw new ApiError({ status: 429, code: "rate_limit_exceeded", retryAfterS: 10, message: "rate limit reached; slow down" });
      }
    }
    if (s.apiKey && !keyOk) {
      throw new ApiError({ status: 401, code: "invalid_api_key", message: token ? "the API key is not valid" : "missing API key: send Authorization: Bearer <key>" });
    }
    await s.ready();
    return next();
  });

  const listModels = async () => (await s.router.models()).map((m) => ({
    id: m.id, object: "model", created: 0, owned_by: "bltedge",
    bltedge: { backend: m.backend, ...(m.contextBytes ? { context_bytes: m.contextBytes } : {}) },
  }));
  app.get("/v1/models", async (c) => c.json({ object: "list", data: await listModels() }));
  app.get("/v1/models/:id", async (c) => {
    const id = c.req.param("id");
    const m = (await listModels()).find((x) => x.id === id);
    if (!m) throw new ApiError({ status: 404, code: "model_not_found", param: "model", message: `the model ${JSON.stringify(id)} does not exist here` });
    return c.json(m);
  });

  const deps = { pick: (r: Parameters<Router["pick"]>[0], d: boolean) => s.router.pick(r, d), defaults: s.defaults, maxPromptBytes: s.maxPromptBytes, admit, modes,
    streamStallMs: s.streamStallMs };
  const jsonBody = async (req: Request) => {
    try {
      return await req.json();
    } catch {
      throw new ApiError({ status: 400, code: "invalid_json", message: "the request body is not valid JSON" });
    }
  };
  const waitUntil = (c: Context) => (p: Promise<unknown>) => {
    try { c.executionCtx.waitUntil(p); } catch { /* no execution context (Node): the promise runs anyway */ }
  };
  app.post("/v1/chat/completions", async (c) => handleCompletion("chat", await jsonBody(c.req.raw), c.req.raw.signal, { ...deps, waitUntil: waitUntil(c) }));
  app.post("/v1/completions", async (c) => handleCompletion("completion", await jsonBody(c.req.raw), c.req.raw.signal, { ...deps, waitUntil: waitUntil(c) }));
  return app;
}

const kernelsOf = (s: Services): string => (typeof s.kernels === "function" ? s.kernels() : s.kernels);
