// Both Wasm kernel builds in headless chromium: auto picks the relaxed build (chromium has relaxed SIMD), every op
// of each build matches the TypeScript reference (test/kernels/kernel-cases.ts, the cases the Node and workerd suites
// run), and greedy BLT-S and BLT-DV equal greedy AR byte for byte on each build (blt-v2, int8).
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundle, launchChromium, serveFiles, type StaticServer } from "./support/chromium.ts";
import type { KernelBuildsApi } from "./kernel-builds.page.ts";

let browser: Browser, server: StaticServer, page: Page;
const pageErrors: string[] = [];
type Build = "simd128" | "relaxed";
const on = () => (globalThis as unknown as { kernelBuilds: KernelBuildsApi }).kernelBuilds;
const auto = () => page.evaluate(`(${on})().auto()`) as ReturnType<KernelBuildsApi["auto"]>;
const cases = (b: Build) => page.evaluate(`(${on})().cases(${JSON.stringify(b)})`) as ReturnType<KernelBuildsApi["cases"]>;
const generate = (b: Build, prompt: string) =>
  page.evaluate(`(${on})().generate(${JSON.stringify(b)}, ${JSON.stringify(prompt)}, ["ar", "blt-s", "blt-dv"], 96)`) as ReturnType<KernelBuildsApi["generate"]>;

beforeAll(async () => {
  const files: Record<string, [string, string | Uint8Array]> = {
    "/": ["text/html", `<!doctype html><script type="module" src="/page.js"></script>`],
    "/page.js": ["text/javascript", await bundle(fileURLToPath(new URL("./kernel-builds.page.ts", import.meta.url)),
      { vitest: fileURLToPath(new URL("./support/expect-shim.ts", import.meta.url)) })],
    "/kernels.wasm": ["application/wasm", readFileSync("wasm/kernels.wasm")],
    "/kernels-relaxed.wasm": ["application/wasm", readFileSync("wasm/kernels-relaxed.wasm")],
  };
  for (const f of readdirSync("models/blt-v2")) files[`/models/blt-v2/${f}`] = ["application/octet-stream", readFileSync(`models/blt-v2/${f}`)];
  server = await serveFiles(files);
  browser = await launchChromium();
  page = await browser.newPage();
  page.on("pageerror", (e) => pageErrors.push(e.message));
  await page.goto(`${server.url}/`);
  await page.waitForFunction(() => "kernelBuilds" in globalThis, null, { timeout: 30_000 })
    .catch((e) => { throw new Error(`the test page did not load: ${pageErrors.join("; ") || e}`); });
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe("kernel builds in chromium", () => {
  it("auto picks the relaxed build (relaxed SIMD validates and computes right here)", async () => {
    const a = await auto();
    expect(a).toEqual({ build: "relaxed", reason: "relaxed: relaxed SIMD validates and computes right", relaxedUnavailable: null });
  });

  it.each(["simd128", "relaxed"] as const)("every op of the %s build matches the reference", async (build) => {
    const r = await cases(build);
    expect(r.name).toBe(`wasm-${build}`);
    expect(r.results.length).toBeGreaterThan(8);
    for (const c of r.results) expect(c.error, c.name).toBeNull();
    expect(pageErrors).toEqual([]);
  }, 300_000);

  it.each(["simd128", "relaxed"] as const)("greedy blt-s and blt-dv equal ar on the %s build (blt-v2, int8)", async (build) => {
    for (const prompt of ["The quick brown fox ", "In the beginning "]) {
      const g = await generate(build, prompt);
      expect(g.name).toBe(`wasm-${build}`);
      expect(g.bytes.ar.length).toBe(96);
      expect(g.bytes["blt-s"], `blt-s on ${prompt}`).toEqual(g.bytes.ar);
      expect(g.bytes["blt-dv"], `blt-dv on ${prompt}`).toEqual(g.bytes.ar);
    }
  }, 300_000);
});
