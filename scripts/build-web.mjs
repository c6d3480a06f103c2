// `npm run build:web`: builds the demo page into web/dist/ (served by the Worker as static assets, wrangler.toml
// [assets]): index.html and app.css from src/web/, app.js (the page) and engine-worker.js (the engine in a Web
// Worker) bundled by esbuild, and copies of both kernel builds (wasm/kernels.wasm, wasm/kernels-relaxed.wasm). The model files are not copied: the Worker
// serves its bundled checkpoints at /models/<name>/… . `buildWeb()` is what the browser tests call.
import { copyFileSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const KEEP = new Set([".gitkeep"]); // the directory is tracked so that wrangler finds it before any build

/** Builds web/dist/; returns the output directory. */
export async function buildWeb({ quiet = false } = {}) {
  const out = join(root, "web/dist");
  mkdirSync(out, { recursive: true });
  for (const f of readdirSync(out)) if (!KEEP.has(f)) rmSync(join(out, f), { recursive: true, force: true });
  const t0 = performance.now();
  await build({
    entryPoints: { app: join(root, "src/web/app.ts"), "engine-worker": join(root, "src/web/engine-worker.ts") },
    outdir: out, bundle: true, format: "esm", platform: "browser", target: "es2022",
    minify: true, sourcemap: "linked", logLevel: quiet ? "silent" : "warning",
  });
  for (const f of ["index.html", "app.css"]) copyFileSync(join(root, "src/web", f), join(out, f));
  for (const f of ["kernels.wasm", "kernels-relaxed.wasm"]) copyFileSync(join(root, "wasm", f), join(out, f));
  if (!quiet) console.log(`build:web: web/dist/ (${readdirSync(out).filter((f) => !KEEP.has(f)).join(", ")}) in ${Math.round(performance.now() - t0)} ms`);
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  buildWeb().catch((e) => { console.error(e); process.exit(1); });
}
