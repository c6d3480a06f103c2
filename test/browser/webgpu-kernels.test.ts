// The WebGPU kernels against the TypeScript reference, in headless chromium (WebGPU on SwiftShader): the page
// runs every op both ways on the same random, ragged inputs; here each check must be within its op's tolerance.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundle, launchChromium, serveFiles, type StaticServer } from "./support/chromium.ts";
import type { Check, KernelTestApi, Tolerances } from "./webgpu-kernels.page.ts";

// |gpu − ref| ≤ atol + rtol·|ref| per element; matmulQ8 adds atol + rtol·|ref| to its quantisation bound.
// These are the Wasm kernels' tolerances (test/kernels/kernel-cases.ts), unchanged; matmulQ8 must also equal the
// Wasm kernel bit for bit (same quantisation, exact integer sums, the same final rounding).
const TOL: Tolerances = {
  matmulF32: { atol: 1e-5, rtol: 1e-4 },
  matmulQ8: { atol: 1e-6, rtol: 1e-6 },
  "matmulQ8 vs wasm": { atol: 0, rtol: 0 },
  rmsNormF32: { atol: 1e-5, rtol: 1e-5 },
  layerNormF32: { atol: 1e-5, rtol: 1e-5 },
  ropeF32: { atol: 1e-6, rtol: 1e-6 },
  softmaxF32: { atol: 1e-7, rtol: 1e-5 },
  siluF32: { atol: 1e-6, rtol: 1e-5 },
  geluF32: { atol: 1e-6, rtol: 1e-5 },
  swigluF32: { atol: 1e-6, rtol: 1e-5 },
  addF32: { atol: 0, rtol: 0 },
  maxPoolF32: { atol: 0, rtol: 0 },
  copyF32: { atol: 0, rtol: 0 },
  attentionF32: { atol: 1e-5, rtol: 1e-4 },
  embedGatherF32: { atol: 0, rtol: 0 },
  ngramEmbedSumF32: { atol: 0, rtol: 0 },
};

const GROUPS: Array<[string, string]> = [
  ["matmulF32", "matmulF32: out(m,n) = x(m,k)·Wᵀ, tiles cut at every edge"],
  ["matmulRowsAlone", "matmulF32: a row's result is bit-identical whatever m is"],
  ["matmulQ8", "matmulQ8: int8 rows (any byte alignment) × per-row scale, within the i16 activation quantisation bound, equal to the Wasm kernel"],
  ["norms", "rmsNormF32 and layerNormF32, in place too"],
  ["rope", "ropeF32: rotate-half, per-row positions, strided rows"],
  ["softmax", "softmaxF32: rows with large and equal values, rows longer than a workgroup"],
  ["elementwise", "siluF32, geluF32, swigluF32, addF32 (add exact), more than 65535 workgroups' worth"],
  ["copy", "copyF32 is exact and ordered with the ops around it"],
  ["maxPool", "maxPoolF32 is exact"],
  ["attention", "attentionF32: causal, windowed, BLT-D block, cross, pooling, empty ranges; grouped heads; ranges over 64 keys"],
  ["embed", "embedGatherF32 and ngramEmbedSumF32 (n = 3..8) are exact"],
  ["ringOverflow", "more dispatches in one sync than the parameter ring holds"],
  ["ordering", "upload keeps program order with recorded ops; sync reads what the ops before it wrote, only the bytes asked for; overlapping syncs"],
  ["limits", "an arena past the default binding limit: refused clearly, then fine on a device requested with requiredLimits"],
];

describe("webgpu kernels match the reference (chromium, SwiftShader)", () => {
  let browser: Browser, server: StaticServer, page: Page;
  const pageErrors: string[] = [];
  const summary = new Map<string, { checks: number; maxAbs: number; worst: number }>();

  beforeAll(async () => {
    const js = await bundle(fileURLToPath(new URL("./webgpu-kernels.page.ts", import.meta.url)));
    server = await serveFiles({
      "/": ["text/html", `<!doctype html><script type="module" src="/page.js"></script>`],
      "/page.js": ["text/javascript", js],
      "/kernels.wasm": ["application/wasm", readFileSync(fileURLToPath(new URL("../../wasm/kernels.wasm", import.meta.url)))],
    });
    browser = await launchChromium();
    page = await browser.newPage();
    page.on("pageerror", (e) => pageErrors.push(e.message));
    await page.goto(`${server.url}/`);
    await page.waitForFunction(() => "kernelTests" in globalThis, null, { timeout: 30_000 })
      .catch((e) => { throw new Error(`the test page did not load: ${pageErrors.join("; ") || e}`); });
    const adapter = await page.evaluate(() => (globalThis as unknown as { kernelTests: KernelTestApi }).kernelTests.init());
    expect(adapter).toMatch(/./);
  });

  afterAll(async () => {
    if (summary.size) {
      const lines = [...summary].map(([op, s]) =>
        `  ${op.padEnd(17)} ${String(s.checks).padStart(4)} checks  max abs error ${s.maxAbs.toExponential(2)}  worst ${s.worst.toFixed(3)}× tolerance`);
      console.log(`webgpu kernels against the reference:\n${lines.join("\n")}`);
    }
    await browser?.close();
    await server?.close();
  });

  for (const [group, title] of GROUPS) {
    it(title, async () => {
      const checks: Check[] = await page.evaluate(([g, tol]) =>
        (globalThis as unknown as { kernelTests: KernelTestApi }).kernelTests.groups[g](tol), [group, TOL] as const);
      expect(checks.length).toBeGreaterThan(0);
      for (const c of checks) {
        const s = summary.get(c.op) ?? { checks: 0, maxAbs: 0, worst: 0 };
        summary.set(c.op, { checks: s.checks + 1, maxAbs: Math.max(s.maxAbs, c.maxAbs), worst: Math.max(s.worst, c.worst) });
        expect(c.worst, `${c.what}: worst error ${c.worst.toFixed(3)}× tolerance (max abs ${c.maxAbs.toExponential(2)})`).toBeLessThanOrEqual(1);
      }
      expect(await page.evaluate(() => (globalThis as unknown as { kernelTests: KernelTestApi }).kernelTests.errors())).toEqual([]);
      expect(pageErrors).toEqual([]);
    });
  }

  it("creates no GPU buffer or bind group once warm (30 decoder-like passes)", async () => {
    const { before, after } = await page.evaluate(() => (globalThis as unknown as { kernelTests: KernelTestApi }).kernelTests.steadyState());
    expect(after).toEqual(before);
    expect(await page.evaluate(() => (globalThis as unknown as { kernelTests: KernelTestApi }).kernelTests.errors())).toEqual([]);
  });
});
