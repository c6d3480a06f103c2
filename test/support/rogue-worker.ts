// A pool worker that misbehaves on purpose, on a loopback port: an adversarial peer for the edge's pool client
// (src/backends/pool.ts), which must treat workers as untrusted. /health is always well-formed; /v1/decode does
// what `behaviour` says (it may be changed between requests). "honest" streams "a" × maxNewBytes in two events,
// then done with correct stats.
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type Behaviour =
  | "honest" | "no-headers" | "silent" | "stall" | "forever" | "huge-event" | "done-without-stats" | "stats-of-wrong-type"
  | "stats-without-prefill" | "redirect" | "busy-500" | "error-event" | "drop-connection";

export interface RogueWorker { url: string; behaviour: Behaviour; decodes: number; close(): Promise<void> }

const sse = (res: ServerResponse, o: object) => res.write(`event: x\ndata: ${JSON.stringify({ version: 1, ...o })}\n\n`);
const bytes = (n: number) => ({ type: "bytes", bytesBase64: Buffer.from("a".repeat(n)).toString("base64") });

export async function startRogueWorker(behaviour: Behaviour, redirectTo = ""): Promise<RogueWorker> {
  const timers = new Set<ReturnType<typeof setInterval>>();
  const w: RogueWorker = { url: "", behaviour, decodes: 0, close: async () => {} };
  const server: Server = createServer((req, res) => {
    let raw = "";
    req.on("data", (d) => { raw += d; });
    req.on("end", () => {
      if (req.url === "/health") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ version: 1, status: "ok", models: ["blt-d-tiny", "pool-only"], modes: ["ar", "blt-d", "blt-s", "blt-dv"], busy: 0, capacity: 4 }));
        return;
      }
      w.decodes++;
      const r = JSON.parse(raw).request as { maxNewBytes: number; mode: string; promptBase64: string };
      const stats = { mode: r.mode, promptBytes: Buffer.from(r.promptBase64, "base64").length, generatedBytes: r.maxNewBytes,
        passes: { entropy: 1, encoder: 1, global: 1, decoder: 1 }, draftedBytes: 0, acceptedBytes: 0, estBytesMoved: 1, wallMs: 2, prefillMs: 1 };
      const head = () => res.writeHead(200, { "content-type": "text/event-stream" });
      switch (w.behaviour) {
        case "no-headers": return; // the request hangs
        case "silent": head(); res.flushHeaders(); return;
        case "stall": head(); sse(res, bytes(1)); return;
        case "forever": {
          head();
          const t = setInterval(() => sse(res, bytes(16)), 1);
          timers.add(t);
          res.on("close", () => clearInterval(t));
          return;
        }
        case "huge-event": head(); res.write(`data: ${"x".repeat(10 << 20)}`); return;
        // (these two end at once, so that the request may still move on)
        case "done-without-stats": head(); sse(res, { type: "done", finishReason: "length" }); res.end(); return;
        case "stats-of-wrong-type":
          head(); sse(res, { type: "done", finishReason: "length", stats: { ...stats, promptBytes: "9", generatedBytes: undefined } }); res.end(); return;
        case "stats-without-prefill": head(); sse(res, { type: "done", finishReason: "length", stats: { ...stats, generatedBytes: 0, prefillMs: undefined } }); res.end(); return;
        case "redirect": res.writeHead(307, { location: `${redirectTo}/v1/decode` }); res.end(); return;
        case "busy-500": res.writeHead(500, { "content-type": "application/json" }); res.end(JSON.stringify({ error: { code: "busy", message: "Traceback: secret.py line 3" } })); return;
        case "error-event": head(); sse(res, { type: "error", code: "busy", message: "RuntimeError: CUDA at /srv/secret" }); res.end(); return;
        case "drop-connection": req.socket.destroy(); return;
        case "honest": {
          head();
          const half = r.maxNewBytes >> 1;
          sse(res, bytes(half)); sse(res, bytes(r.maxNewBytes - half));
          sse(res, { type: "done", finishReason: "length", stats }); res.end(); return;
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  w.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  w.close = () => new Promise<void>((r) => { for (const t of timers) clearInterval(t); server.closeAllConnections(); server.close(() => r()); });
  return w;
}
