// The Worker as `wrangler deploy` would upload it (a dry run: bundled, nothing sent) stays well inside the 10 MB
// limit of Workers Paid, which counts the gzip size: this fails once it passes 9 MB, before a deploy would.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
// @ts-expect-error a plain .mjs module without types (scripts/bundle-size.mjs)
import { bundleSizes, bundleWorker, LIMIT_BYTES } from "../../scripts/bundle-size.mjs";

const outdir = mkdtempSync(join(tmpdir(), "bltedge-bundle-"));
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

describe("the deployed bundle", () => {
  it("is under 9 MB gzip (the limit is 10 MB), with a minified worker.js", () => {
    bundleWorker(outdir);
    const s = bundleSizes(outdir) as { files: { name: string; bytes: number; gzip: number }[]; upload: number; gzip: number };
    expect(s.files.map((f) => f.name.replace(/^[0-9a-f]{40}-/, ""))).toEqual(expect.arrayContaining(["worker.js", "kernels.wasm", "model.q8.safetensors"]));
    expect(s.gzip, `gzip ${s.gzip} bytes`).toBeLessThanOrEqual(9_000_000);
    expect(LIMIT_BYTES).toBe(10_000_000);
    const js = readFileSync(join(outdir, "worker.js"), "utf8");
    expect(js.split("\n").length, "worker.js is minified").toBeLessThan(1000);
  });
});
