// The size of the Worker as Cloudflare counts it: every module wrangler uploads (worker.js and the modules it
// imports: the kernel builds and the int8 checkpoints), raw and gzip-compressed. The plans' limits apply to the
// compressed size: 10 MB on Workers Paid, 3 MB on Workers Free. `bundleWorker()` runs
// `wrangler deploy --dry-run --outdir <dir>`, which bundles (minified: wrangler.toml `minify = true`) and uploads
// nothing; `npm run deploy` (scripts/deploy.mjs) and test/deploy/bundle-size.test.ts use both.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

export const LIMIT_BYTES = 10 * 1000 * 1000;
export const FREE_LIMIT_BYTES = 3 * 1000 * 1000;
const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);

/** Sizes of the modules in a wrangler --outdir (source maps and wrangler's README are not uploaded). */
export function bundleSizes(dir) {
  const files = [];
  for (const name of readdirSync(dir).sort()) {
    if (name.endsWith(".map") || name === "README.md") continue;
    const bytes = readFileSync(join(dir, name));
    files.push({ name, bytes: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length });
  }
  return { files, upload: files.reduce((a, f) => a + f.bytes, 0), gzip: files.reduce((a, f) => a + f.gzip, 0) };
}

/** Bundles the Worker as `wrangler deploy` would, without deploying; returns the output directory. */
export function bundleWorker(outdir = join(root, ".wrangler/deploy-bundle")) {
  execFileSync(process.execPath, [require.resolve("wrangler/bin/wrangler.js"), "deploy", "--dry-run", "--outdir", outdir], {
    cwd: root, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" },
  });
  return outdir;
}

const mb = (n) => `${(n / 1e6).toFixed(2)} MB`;

/** The lines `npm run deploy` prints. */
export function describeSizes(s) {
  const lines = s.files.map((f) => `  ${f.name.replace(/^[0-9a-f]{40}-/, "").padEnd(24)} ${mb(f.bytes).padStart(9)}  gzip ${mb(f.gzip).padStart(9)}`);
  const share = Math.round((s.gzip / LIMIT_BYTES) * 100);
  lines.push(`upload ${mb(s.upload)}, gzip ${mb(s.gzip)}: ${share}% of the 10 MB limit (Workers Paid; the limit counts the gzip size)` +
    (s.gzip > FREE_LIMIT_BYTES ? "; over Workers Free's 3 MB" : "; within Workers Free's 3 MB"));
  if (s.gzip > LIMIT_BYTES) lines.push("the bundle is over the 10 MB limit: Cloudflare will refuse it");
  return lines;
}
