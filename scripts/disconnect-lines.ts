// `npm run soak:disconnects`: what the local runtime logs when clients leave, with a ten-line Worker (no bltedge
// code in it). Runs the Worker below under `wrangler dev`, as `npm start` runs bltedge, and drops N requests of each
// kind: a non-streamed answer the client leaves before the headers (the handler ignores the request signal, returns
// as soon as it fires, or throws its reason) and a stream the client leaves after a few chunks; each on the Worker's
// own socket and through wrangler's local proxy. Prints, per case, how many `Uncaught Error: Network connection
// lost.` lines the runtime logged. docs/soak.md has a run of it.
//   npm run soak:disconnects -- [--n 60]
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseFlags } from "../src/cli/node-engine.ts";
import { startWorker, workerSocketUrl } from "./dev-worker.ts";

const n = Number(parseFlags(process.argv.slice(2)).get("n") ?? 60);
const WORKER = `const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const gone = (req) => new Promise((r) => req.signal.addEventListener("abort", r));
const enc = new TextEncoder();
export default {
  async fetch(req) {
    const v = new URL(req.url).searchParams.get("v");
    if (v === "ignore") { await sleep(400); return new Response("done"); }
    if (v === "answer") { await Promise.race([sleep(400), gone(req)]); return new Response("done"); }
    if (v === "throw") { await Promise.race([sleep(400), gone(req)]); if (req.signal.aborted) throw req.signal.reason; return new Response("done"); }
    if (v === "stream") {
      let i = 0;
      const body = new ReadableStream({ async pull(c) { await sleep(2); if (i++ > 400) c.close(); else c.enqueue(enc.encode("data: " + i + "\\n\\n")); } }, { highWaterMark: 0 });
      return new Response(body, { headers: { "content-type": "text/event-stream" } });
    }
    return Response.json({ models: [] });
  },
};
`;
const dir = mkdtempSync(join(tmpdir(), "disconnects-"));
writeFileSync(join(dir, "worker.js"), WORKER);
writeFileSync(join(dir, "wrangler.toml"), 'name = "disconnects"\nmain = "worker.js"\ncompatibility_date = "2025-09-01"\n');
const worker = await startWorker({}, 60_000, dir);
const lines = () => worker.log().split("\n").filter((l) => /Uncaught Error: Network connection lost/.test(l)).length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const results: Record<string, string> = {};
try {
  const sockets = { "own socket": await workerSocketUrl(worker), "wrangler proxy": worker.url };
  for (const [where, base] of Object.entries(sockets)) {
    for (const v of ["ignore", "answer", "throw", "stream"]) {
      const before = lines();
      await Promise.all([0, 1, 2].map(async (loop) => {
        for (let i = loop; i < n; i += 3) {
          const ac = new AbortController();
          try {
            if (v === "stream") {
              const reader = (await fetch(`${base}/?v=${v}`, { signal: ac.signal })).body!.getReader();
              for (let k = 0; k < 1 + (i % 7); k++) await reader.read();
              ac.abort();
            } else {
              setTimeout(() => ac.abort(), 100 + (i % 5) * 20);
              await (await fetch(`${base}/?v=${v}`, { signal: ac.signal })).text();
            }
          } catch { /* the abort */ }
          await sleep(450);
        }
      }));
      await sleep(2000);
      results[`${where}, ${v === "stream" ? "stream left after 1–7 chunks" : `answer left before headers (handler: ${v})`}`] = `${lines() - before} of ${n}`;
    }
  }
} finally {
  await worker.stop();
  rmSync(dir, { recursive: true, force: true });
}
console.log(JSON.stringify(results, null, 2));
