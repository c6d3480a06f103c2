// `npm run deploy [-- --dry-run] [other wrangler deploy flags]`: builds the demo page, then `wrangler deploy` with the
// bundle written to .wrangler/deploy-bundle/, and prints what it uploads (each module, raw and gzip) against the
// 10 MB limit. With --dry-run nothing is uploaded (no account needed).
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { createRequire } from "node:module";
import { buildWeb } from "./build-web.mjs";
import { bundleSizes, describeSizes } from "./bundle-size.mjs";

const require = createRequire(import.meta.url);
const outdir = ".wrangler/deploy-bundle";
await buildWeb();
rmSync(outdir, { recursive: true, force: true });
const r = spawnSync(process.execPath, [require.resolve("wrangler/bin/wrangler.js"), "deploy", "--outdir", outdir, ...process.argv.slice(2)], { stdio: "inherit" });
if (r.status === 0 || process.argv.includes("--dry-run")) {
  try { for (const line of describeSizes(bundleSizes(outdir))) console.log(line); } catch (e) { console.error(`no bundle to measure: ${e.message}`); }
}
process.exit(r.status ?? 1);
