// The engine on the WebGPU kernels in headless chromium (SwiftShader): greedy generation from the q8 blt-d-small
// and the f32 blt-d-tiny equals the Wasm engine's in the same page for at least the first 32 bytes on 3 prompts,
// in every mode. Float summation order differs between the implementations, so long outputs may part at a near
// tie: where they do is written to test-results/browser/webgpu-divergence.json (and must not be early).
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundle, launchChromium, serveFiles, type StaticServer } from "./support/chromium.ts";
import type { EngineTestApi, Generated, Impl } from "./engine-webgpu.page.ts";

const ARTEFACTS = "test-results/browser";
const PROMPTS = ["The committee said that ", "In the beginning ", "Once upon a time, "];
const SAME = 32; // bytes that must agree
const LONG = 256; // bytes generated to see where, if anywhere, the outputs part
const MODELS: Array<[string, "q8" | "f32"]> = [["blt-d-small", "q8"], ["blt-d-tiny", "f32"]];

let browser: Browser, server: StaticServer, page: Page;
const pageErrors: string[] = [];
const divergence: Record<string, unknown> = {};

const gen = (name: string, impl: Impl, prompt: string, mode: string, n: number): Promise<Generated> =>
  page.evaluate(([a, b, c, d, e]) => (globalThis as unknown as { engineTests: EngineTestApi }).engineTests
    .generate(a, b as Impl, c, d as "ar", e), [name, impl, prompt, mode, n] as const);

/** Index of the first byte where a and b differ (the shorter length when one is a prefix of the other). */
function firstDifference(a: number[], b: number[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

beforeAll(async () => {
  const files: Record<string, [string, string | Uint8Array]> = {
    "/": ["text/html", `<!doctype html><script type="module" src="/page.js"></script>`],
    "/page.js": ["text/javascript", await bundle(fileURLToPath(new URL("./engine-webgpu.page.ts", import.meta.url)))],
    "/kernels.wasm": ["application/wasm", readFileSync("wasm/kernels.wasm")],
  };
  for (const [name] of MODELS) {
    for (const f of readdirSync(`models/${name}`)) files[`/models/${name}/${f}`] = ["application/octet-stream", readFileSync(`models/${name}/${f}`)];
  }
  server = await serveFiles(files);
  browser = await launchChromium();
  page = await browser.newPage();
  page.on("pageerror", (e) => pageErrors.push(e.message));
  await page.goto(`${server.url}/`);
  await page.waitForFunction(() => "engineTests" in globalThis, null, { timeout: 30_000 })
    .catch((e) => { throw new Error(`the test page did not load: ${pageErrors.join("; ") || e}`); });
  for (const [name, variant] of MODELS) {
    const k = await page.evaluate(([n, v]) => (globalThis as unknown as { engineTests: EngineTestApi }).engineTests.load(n, v), [name, variant] as const);
    expect(k).toBe("webgpu");
  }
});

afterAll(async () => {
  if (Object.keys(divergence).length) {
    mkdirSync(ARTEFACTS, { recursive: true });
    writeFileSync(`${ARTEFACTS}/webgpu-divergence.json`, `${JSON.stringify(divergence, null, 2)}\n`);
    console.log("webgpu vs wasm, first differing byte:", JSON.stringify(divergence));
  }
  await browser?.close();
  await server?.close();
});

describe.each(MODELS)("the engine on WebGPU, %s (%s)", (name) => {
  it(`greedy ar equals the Wasm engine's for ≥ ${SAME} bytes on ${PROMPTS.length} prompts (${LONG} generated)`, async () => {
    const at: Record<string, number | null> = {};
    for (const prompt of PROMPTS) {
      const gpu = await gen(name, "webgpu", prompt, "ar", LONG), wasm = await gen(name, "wasm", prompt, "ar", LONG);
      expect(gpu.error).toBeNull();
      expect(wasm.bytes.length).toBe(LONG);
      expect(gpu.bytes.length).toBe(LONG);
      const d = firstDifference(gpu.bytes, wasm.bytes);
      at[prompt] = d === LONG ? null : d;
      expect(d, `${JSON.stringify(prompt)}: webgpu ${JSON.stringify(new TextDecoder().decode(Uint8Array.from(gpu.bytes)))}`)
        .toBeGreaterThanOrEqual(SAME);
    }
    divergence[`${name} ar`] = at;
    expect(pageErrors).toEqual([]);
  }, 600_000);

  it.each(["blt-d", "blt-s", "blt-dv"])(`greedy %s equals the Wasm engine's for ≥ ${SAME} bytes`, async (mode) => {
    const at: Record<string, number | null> = {};
    for (const prompt of PROMPTS) {
      const gpu = await gen(name, "webgpu", prompt, mode, 2 * SAME), wasm = await gen(name, "wasm", prompt, mode, 2 * SAME);
      expect(gpu.error).toBeNull();
      expect(gpu.bytes.length).toBe(2 * SAME);
      const d = firstDifference(gpu.bytes, wasm.bytes);
      at[prompt] = d === 2 * SAME ? null : d;
      expect(d, `${mode} ${JSON.stringify(prompt)}`).toBeGreaterThanOrEqual(SAME);
      // the same passes too, while the bytes agree
      if (d === 2 * SAME) expect(gpu.stats?.passes).toEqual(wasm.stats?.passes);
    }
    divergence[`${name} ${mode}`] = at;
  }, 300_000);
});
