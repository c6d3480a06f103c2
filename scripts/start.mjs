// `npm start`: builds the demo page (web/dist/), then runs the Worker locally in workerd (`wrangler dev`) on
// $PORT or 8787, offline-friendly.
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { buildWeb } from "./build-web.mjs";

const require = createRequire(import.meta.url);
const port = process.env.PORT ?? "8787";
const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" };
await buildWeb();
console.log(`bltedge: starting the Worker on http://localhost:${port} (wrangler dev, workerd); the demo page is at /`);
const child = spawn(process.execPath, [require.resolve("wrangler/bin/wrangler.js"), "dev", "--port", port, ...process.argv.slice(2)],
  { stdio: "inherit", env });
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
for (const s of ["SIGINT", "SIGTERM"]) process.on(s, () => child.kill(s));
