// The TypeScript pool worker's HTTP side (node:http): wire protocol v1 exactly as the PyTorch worker
// (scripts/pool/worker.py) speaks it, so the edge's router cannot tell them apart.
//   GET  /health     200 {"version":1,"status":"ok","models","modes","busy","capacity","device", "impl","threads","running","queued","memoryMB"}
//   POST /v1/decode  200 text/event-stream: `bytes` events, then one `done` or `error`; or, before streaming, a JSON
//                    {"error":{"code","message"}}: 400/404 (request.ts), 413 body too big, 503 busy (retry-after: 1).
// `capacity` decodes are admitted at once: `threads` of them run, the rest wait in line (`queued`); beyond it, 503.
// A client that disconnects stops its decode within one block (or leaves the line) and frees its place.
// Untrusted clients: a socket that stays silent is dropped (socketTimeoutMs), connections beyond maxConnections are
// refused, and with a secret every request must carry it as `x-pool-secret` (else 401).
import { timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { toBase64, WIRE_VERSION } from "../backends/wire.ts";
import { utf8Boundary } from "../engine/decode/output.ts";
import { DECODE_MODES, type DecodeEvent, type DecodeRequest } from "../protocol.ts";
import { parseWireRequest, WireError } from "./request.ts";
import type { EngineThreads } from "./threads.ts";

export const MAX_BODY_BYTES = 1 << 20;

export interface PoolServerOptions {
  /** Decodes admitted at once (running + waiting); more get 503 busy. */
  capacity: number;
  /** Log every request to stderr. */
  verbose?: boolean;
  /** Required as `x-pool-secret` on every request when set. */
  secret?: string;
  /** Connections at once; more are refused (default 64). */
  maxConnections?: number;
  /** A connection silent this long is dropped (default 30 s). */
  socketTimeoutMs?: number;
}

function hasSecret(req: IncomingMessage, secret: string): boolean {
  const got = Buffer.from(String(req.headers["x-pool-secret"] ?? "")), want = Buffer.from(secret);
  return got.length === want.length && timingSafeEqual(got, want);
}

const round1 = (x: number) => Math.round(x * 10) / 10;

/** The process's memory in MB: resident, and the main thread's JS heap in use and committed, external memory and ArrayBuffers. */
function memoryMB(): { rss: number; heapUsed: number; heapTotal: number; external: number; arrayBuffers: number } {
  const m = process.memoryUsage(), mb = (x: number) => Math.round((x / 2 ** 20) * 10) / 10;
  return { rss: mb(m.rss), heapUsed: mb(m.heapUsed), heapTotal: mb(m.heapTotal), external: mb(m.external), arrayBuffers: mb(m.arrayBuffers) };
}

export function createPoolServer(engines: EngineThreads, o: PoolServerOptions): Server {
  let busy = 0;
  const health = () => ({
    version: WIRE_VERSION, status: "ok", models: [...engines.models.keys()], modes: [...DECODE_MODES], busy, capacity: o.capacity,
    device: "cpu", impl: "ts", threads: engines.threads, running: engines.running, queued: engines.queued,
    memoryMB: { ...memoryMB(), threadsHeapUsed: round1(engines.threadHeapMB.used), threadsHeapTotal: round1(engines.threadHeapMB.total) },
  });

  async function stream(request: DecodeRequest, res: ServerResponse): Promise<void> {
    const gone = new AbortController();
    res.on("close", () => { if (!res.writableFinished) gone.abort(); });
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", "x-accel-buffering": "no" });
    const send = (e: DecodeEvent) => {
      const fields = e.type === "bytes"
        ? { bytesBase64: toBase64(e.bytes), ...(e.logprobs ? { logprobs: e.logprobs } : {}), ...(e.promptLogprobs ? { promptLogprobs: e.promptLogprobs } : {}) }
        : e.type === "done" ? { finishReason: e.finishReason, stats: e.stats }
        : { code: e.code, message: e.message, ...(e.param ? { param: e.param } : {}) };
      res.write(`event: ${e.type}\ndata: ${JSON.stringify({ version: WIRE_VERSION, type: e.type, ...fields })}\n\n`);
    };
    try {
      for await (const e of engines.decode(request, gone.signal)) {
        if (gone.signal.aborted) return;
        // bytes with log-probabilities go in pieces that keep each event well under the edge's 64 KiB bound
        if (e.type === "bytes" && e.logprobs && e.bytes.length > 32) {
          for (let i = 0; i < e.bytes.length;) {
            const end = i + 32 >= e.bytes.length ? e.bytes.length : Math.max(i + 1, utf8Boundary(e.bytes, i + 32));
            send({ type: "bytes", bytes: e.bytes.subarray(i, end), logprobs: e.logprobs.slice(i, end) });
            i = end;
          }
          continue;
        }
        send(e);
      }
    } catch (e) { // a bug: the stream still ends with one error event
      console.error(`decode failed: ${(e as Error).stack}`);
      if (!gone.signal.aborted) send({ type: "error", code: "internal", message: "the decode failed" });
    } finally {
      res.end();
    }
  }

  async function decodeRoute(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req, res);
    if (body === null) return;
    let request: DecodeRequest;
    try {
      request = parseWireRequest(body, engines.models);
    } catch (e) {
      if (e instanceof WireError) return json(res, e.status, e.body());
      throw e;
    }
    if (busy >= o.capacity) {
      return json(res, 503, { error: { code: "busy", message: `${o.capacity} decodes are running or waiting; retry` } }, { "retry-after": "1" });
    }
    busy++;
    try { await stream(request, res); } finally { busy--; }
  }

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (o.verbose) res.on("finish", () => console.error(`${req.method} ${req.url} ${res.statusCode}`));
    if (o.secret && !hasSecret(req, o.secret)) {
      res.setHeader("connection", "close");
      return json(res, 401, { error: { code: "unauthorized", message: "x-pool-secret is missing or wrong" } });
    }
    const route = async () => {
      if (path === "/health") return req.method === "GET" ? json(res, 200, health()) : methodNotAllowed(res, "GET /health");
      if (path === "/v1/decode") return req.method === "POST" ? decodeRoute(req, res) : methodNotAllowed(res, "POST /v1/decode");
      json(res, 404, { error: { code: "not_found", message: `no route ${path}; use GET /health or POST /v1/decode` } });
    };
    route().catch((e) => {
      console.error(`request failed: ${(e as Error).stack}`);
      if (!res.headersSent) json(res, 500, { error: { code: "internal", message: "internal error" } });
      else res.destroy();
    });
  });
  server.maxConnections = o.maxConnections ?? 64;
  server.timeout = o.socketTimeoutMs ?? 30_000;
  server.headersTimeout = Math.min(server.headersTimeout, server.timeout);
  server.requestTimeout = server.timeout;
  return server;
}

/** The body as text, or null once an error has been answered (no content-length, or over MAX_BODY_BYTES). */
async function readBody(req: IncomingMessage, res: ServerResponse): Promise<string | null> {
  const length = req.headers["content-length"];
  if (length === undefined || !/^\d+$/.test(length) || Number(length) > MAX_BODY_BYTES) {
    res.setHeader("connection", "close"); // the body, if any, is left unread
    json(res, length !== undefined && /^\d+$/.test(length) ? 413 : 400, { error: { code: "invalid_request", param: "body",
      message: `a JSON body with a content-length of at most ${MAX_BODY_BYTES} bytes` } });
    return null;
  }
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function json(res: ServerResponse, status: number, obj: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(obj);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(payload), ...headers });
  res.end(payload);
}

function methodNotAllowed(res: ServerResponse, use: string): void {
  json(res, 405, { error: { code: "method_not_allowed", message: use } });
}
