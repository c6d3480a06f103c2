// `npm run soak:runtime-memory`: the resident memory of the local runtime itself, with no bltedge code, no wrangler,
// no miniflare and no inspector: the workerd that `wrangler dev` runs serves a one-line Worker
// (`new Response("ok")`) from a bare config, and a client sends N sequential GETs, each on a new connection; the
// process's RSS is printed every --every requests. docs/soak.md has a run of it beside the soak's figures.
//   npm run soak:runtime-memory -- [--requests 80000] [--every 5000]
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseFlags } from "../src/cli/node-engine.ts";
import { freePort } from "./dev-worker.ts";

const flags = parseFlags(process.argv.slice(2));
const requests = Number(flags.get("requests") ?? 80_000), every = Number(flags.get("every") ?? 5_000);
// the workerd binary wrangler dev runs (wrangler's own dependency)
const fromWrangler = createRequire(createRequire(import.meta.url).resolve("wrangler/package.json"));
const workerd = await import(fromWrangler.resolve("workerd")) as { default: string | { default: string }; version: string };
const bin = typeof workerd.default === "string" ? workerd.default : workerd.default.default;
const port = await freePort();
const dir = mkdtempSync(join(tmpdir(), "runtime-memory-"));
writeFileSync(join(dir, "worker.js"), 'export default { fetch() { return new Response("ok"); } };\n');
writeFileSync(join(dir, "config.capnp"), `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .w) ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],
);
const w :Workerd.Worker = ( modules = [ (name = "worker", esModule = embed "worker.js") ], compatibilityDate = "2025-01-01" );
`);
const child = spawn(bin, ["serve", "--experimental", "config.capnp"], { cwd: dir, stdio: ["ignore", "inherit", "inherit"] });
const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"))![1]) / 1024;
const agent = new http.Agent({ keepAlive: false });
const get = () => new Promise<void>((resolve, reject) => {
  const req = http.get({ host: "127.0.0.1", port, path: "/", agent }, (r) => { r.resume(); r.on("end", resolve); });
  req.on("error", reject);
});
try {
  for (let t = Date.now(); ; ) {
    try { await get(); break; } catch { if (Date.now() - t > 20_000) throw new Error("workerd did not start"); await new Promise((r) => setTimeout(r, 200)); }
  }
  const rows: [number, number][] = [[0, rss()]];
  for (let i = 1; i <= requests; i++) {
    await get();
    if (i % every === 0) rows.push([i, rss()]);
  }
  console.log(JSON.stringify({ workerd: workerd.version, requests, rssMBAfter: rows.map(([n, mb]) => [n, Math.round(mb * 10) / 10]) }));
} finally {
  child.kill("SIGTERM");
  rmSync(dir, { recursive: true, force: true });
}
