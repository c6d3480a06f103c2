// The Worker's composition root: the bundled models (the default model and blt-d-tiny, int8 weights, so the
// Worker fits the platform's 10 MB limit) on the Wasm SIMD kernels, both builds imported precompiled and one
// chosen at load (the relaxed-SIMD build where it runs right, else SIMD128; KERNELS forces one); the local backend,
// the GPU pool from configuration, the router, and the Hono app. Models load on the first request; /health
// answers 503 until they have.
// The demo page is static assets (web/dist/, wrangler.toml [assets]); its browser engine fetches the same
// bundled checkpoint files from /models/<name>/ (manifest.json, model.q8.safetensors).
import kernelsModule from "../wasm/kernels.wasm";
import kernelsRelaxedModule from "../wasm/kernels-relaxed.wasm";
// the default model (DEFAULT_MODEL_DIR, src/config.ts; an import path must be a literal)
import defaultWeights from "../models/blt-v2/model.q8.safetensors";
import defaultManifest from "../models/blt-v2/manifest.json";
import tinyWeights from "../models/blt-d-tiny/model.q8.safetensors";
import tinyManifest from "../models/blt-d-tiny/manifest.json";
import type { ExecutionContext, Hono } from "hono";
import { LocalBackend } from "./backends/local.ts";
import { PoolBackend } from "./backends/pool.ts";
import { Router, type LocalModelInfo } from "./backends/router.ts";
import { readCheckpoint, sha256Hex } from "./checkpoint/reader.ts";
import { DEFAULT_MODEL, DEFAULT_MODEL_DIR } from "./config.ts";
import { Engine, MAX_NEW_BYTES } from "./engine/engine.ts";
import { loadModel } from "./engine/load.ts";
import { WasmKernels } from "./kernels/wasm/wasm-kernels.ts";
import { chooseKernelBuild, parseKernelsSetting, type KernelChoice, type KernelsSetting } from "../wasm/loader.ts";
import { DECODE_MODES, type DecodeMode } from "./protocol.ts";
import { createApp, type RateLimiter } from "./server/app.ts";
import { CONTRACT_DEFAULTS } from "./server/schemas.ts";
import { ApiError, errorResponse, toApiError } from "./server/errors.ts";

export interface Env {
  /** "auto" (default: the lossless mode measured fastest per kind of request) or one of the four modes. */
  DEFAULT_MODE?: string;
  DEFAULT_MAX_TOKENS?: string;
  /** Most bytes one request may generate (default 8192); generation runs past the model's window. */
  MAX_TOKENS_LIMIT?: string;
  /** Comma-separated base URLs of GPU-pool workers, e.g. "https://gpu1.example.com,https://gpu2.example.com". */
  POOL_ENDPOINTS?: string;
  EDGE_MAX_REQUEST_BYTES?: string;
  /** A secret shared with the pool workers (their --secret), sent as x-pool-secret on every request to them. */
  POOL_SECRET?: string;
  MAX_CONCURRENT_DECODES?: string;
  /** Requests that may line up for one bundled model (running included); beyond, 429 (default 2). */
  MAX_DECODES_PER_MODEL?: string;
  /** A stream whose client has taken nothing for this many ms while output waits is ended as cancelled (default 10000). */
  STREAM_STALL_MS?: string;
  /** A request whose code has not run for this many ms gives back its model and its decode slot (default 15000 / 60000). */
  MODEL_LEASE_MS?: string;
  SLOT_LEASE_MS?: string;
  MAX_BODY_BYTES?: string;
  MAX_PROMPT_BYTES?: string;
  /** A secret (`wrangler secret put API_KEY`); the API is open when it is unset. */
  API_KEY?: string;
  RATE_LIMITER?: RateLimiter;
  /** Which kernel build runs: "relaxed", "simd128" or "auto" (default: relaxed where it validates and computes right). */
  KERNELS?: string;
}

/** The default model first: GET /v1/models lists them in this order. */
const BUNDLED = [
  { id: DEFAULT_MODEL, dir: DEFAULT_MODEL_DIR, weights: defaultWeights, manifest: defaultManifest },
  { id: "blt-d-tiny", dir: "models/blt-d-tiny", weights: tinyWeights, manifest: tinyManifest },
];

/** Filled once the bundled models have loaded; the local backend serves from it. */
const engines = new Map<string, Engine>();
const info: LocalModelInfo[] = [];

type Bundled = (typeof BUNDLED)[number];
const manifestBytes = (b: Bundled): Uint8Array<ArrayBuffer> => new TextEncoder().encode(JSON.stringify(b.manifest));

/** The kernel build the bundled models run on, once chosen (at the first load). */
let kernels: KernelChoice | undefined;

async function loadBundled(maxNewBytes: number, setting: KernelsSetting): Promise<void> {
  kernels = await chooseKernelBuild({ simd128: kernelsModule, relaxed: kernelsRelaxedModule }, setting);
  const module = kernels.module;
  for (const b of BUNDLED) {
    const files: Record<string, Uint8Array> = {
      "manifest.json": manifestBytes(b),
      "model.q8.safetensors": new Uint8Array(b.weights),
    };
    const ck = await readCheckpoint(b.dir, async (name) => files[name], "q8");
    // prompts fill at most the model's training window; the caches slide, so answers may run past it
    const model = await loadModel(ck, (bytes) => WasmKernels.create(module, bytes));
    engines.set(b.id, new Engine(model, { maxNewBytes }));
    info.push({ id: b.id, contextBytes: model.ctx, maxNewBytes, weightBytes: b.weights.byteLength });
  }
}

const num = (v: string | undefined, fallback: number) => (v !== undefined && v !== "" && Number.isFinite(Number(v)) ? Number(v) : fallback);

/**
 * GET /models/:name/{manifest.json,model.q8.safetensors}: the bundled checkpoint files for the page's browser
 * engine, with content-length and an ETag (the weights': their manifest sha256). The manifest is revalidated
 * on every use; the weights are immutable when asked for by their sha256 (`?sha256=`, as the page does).
 */
const served = new Map<string, { body: Uint8Array<ArrayBuffer>; type: string; etag: string; sha256: string }>();
async function modelFile(name: string, file: string) {
  const b = BUNDLED.find((x) => x.id === name);
  if (!b || (file !== "manifest.json" && file !== "model.q8.safetensors")) return undefined;
  const key = `${name}/${file}`;
  if (!served.has(key)) {
    const body = file === "manifest.json" ? manifestBytes(b) : new Uint8Array(b.weights);
    const sha256 = file === "manifest.json" ? await sha256Hex(body) : b.manifest.files["model.q8.safetensors"].sha256;
    served.set(key, { body, sha256, etag: `"${sha256}"`, type: file === "manifest.json" ? "application/json" : "application/octet-stream" });
  }
  return served.get(key)!;
}

function addModelFileRoutes(app: Hono): void {
  app.get("/models/:name/:file", async (c) => {
    const f = await modelFile(c.req.param("name"), c.req.param("file"));
    if (!f) throw new ApiError({ status: 404, code: "not_found", message: `no model file ${new URL(c.req.url).pathname}` });
    const immutable = f.type !== "application/json" && c.req.query("sha256") === f.sha256;
    const headers = { "content-type": f.type, etag: f.etag, "cache-control": immutable ? "public, max-age=31536000, immutable" : "no-cache" };
    const match = c.req.header("if-none-match");
    if (match && match.split(",").some((t) => t.trim().replace(/^W\//, "") === f.etag)) return new Response(null, { status: 304, headers });
    return new Response(f.body, { headers: { ...headers, "content-length": String(f.body.byteLength) } });
  });
  // reached only when web/dist/ holds no page (the static assets answer / first)
  app.get("/", (c) => c.html("<!doctype html><title>bltedge</title><p>The demo page is not built: run <code>npm run build:web</code> " +
    "(<code>npm start</code> does). The API is at <a href=\"/v1/models\">/v1</a>.</p>"));
}

let loading: Promise<void> | undefined;
let loaded = false;
let app: Hono | undefined;

function build(env: Env): Hono {
  // a failed load is retried by the next request, and its error answered to this one
  const maxNewBytes = num(env.MAX_TOKENS_LIMIT, MAX_NEW_BYTES);
  const setting = parseKernelsSetting(env.KERNELS);
  const ready = () => (loading ??= loadBundled(maxNewBytes, setting).then(() => { loaded = true; }, (e) => { loading = undefined; engines.clear(); info.length = 0; throw e; }));
  const local = new LocalBackend(engines, { maxPerModel: num(env.MAX_DECODES_PER_MODEL, 2), leaseMs: num(env.MODEL_LEASE_MS, 15_000) });
  const endpoints = (env.POOL_ENDPOINTS ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  const pool = endpoints.length ? new PoolBackend({ endpoints, secret: env.POOL_SECRET || undefined }) : null;
  const router = new Router({ backend: local, models: () => info }, pool, { edgeMaxRequestBytes: num(env.EDGE_MAX_REQUEST_BYTES, Infinity) });
  const mode = (DECODE_MODES as readonly string[]).includes(env.DEFAULT_MODE ?? "") ? (env.DEFAULT_MODE as DecodeMode) : CONTRACT_DEFAULTS.mode;
  const app = createApp({
    router, ready, isReady: () => loaded, kernels: () => (kernels ? `wasm-${kernels.build}` : `wasm (${setting}, chosen at load)`),
    defaults: { ...CONTRACT_DEFAULTS, mode, maxNewBytes: Math.min(num(env.DEFAULT_MAX_TOKENS, CONTRACT_DEFAULTS.maxNewBytes), maxNewBytes) },
    apiKey: env.API_KEY || undefined,
    rateLimiter: env.RATE_LIMITER,
    maxBodyBytes: num(env.MAX_BODY_BYTES, 64 * 1024),
    maxPromptBytes: num(env.MAX_PROMPT_BYTES, 4096),
    maxConcurrentDecodes: num(env.MAX_CONCURRENT_DECODES, 4),
    slotLeaseMs: num(env.SLOT_LEASE_MS, 60_000),
    streamStallMs: num(env.STREAM_STALL_MS, 10_000),
  });
  addModelFileRoutes(app);
  return app;
}

export default {
  // whatever fails here is still OpenAI's JSON error shape (the app's own errors already are)
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    try {
      app ??= build(env);
      return await app.fetch(request, env, ctx);
    } catch (e) {
      return errorResponse(toApiError(e));
    }
  },
};
