// The demo page on the WebGPU kernels in headless chromium (SwiftShader) against the real Worker: a software
// adapter is passed over for Wasm unless asked for, ?kernels=webgpu streams a greedy generation equal to the Wasm
// kernels' on the same page, and the page's own bytes/s on both kernels (greedy ar and blt-d, 128 bytes, median
// of 3) go to test-results/browser/webgpu-vs-wasm.json.
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import type { Browser, BrowserContext } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWorker, type RunningWorker } from "../support/wrangler.ts";
import { launchChromium } from "./support/chromium.ts";
import { generateOnPage, openPage } from "./page-helpers.ts";

const ARTEFACTS = "test-results/browser";
const PROMPT = "The committee said that ";
const BYTES = 128, RUNS = 3;
let w: RunningWorker;
let browser: Browser;
let context: BrowserContext;

beforeAll(async () => {
  execFileSync(process.execPath, ["scripts/build-web.mjs"], { stdio: "inherit" });
  [w, browser] = await Promise.all([startWorker(), launchChromium()]);
  context = await browser.newContext({ viewport: { width: 1040, height: 600 } });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await w?.stop();
});

describe("the demo page on the WebGPU kernels", () => {
  it("?backend=browser passes over the software (SwiftShader) adapter for Wasm; ?kernels=webgpu takes it", async () => {
    let page = await openPage(context, `${w.url}/?backend=browser`);
    let s = await page.evaluate(() => window.bltedge);
    expect(s.model?.kernels).toBe("wasm-relaxed");
    expect(s.model?.kernelsReport?.[0]).toMatch(/^webgpu: unavailable \(software adapter/);
    await page.close();
    page = await openPage(context, `${w.url}/?backend=browser&kernels=webgpu`);
    s = await page.evaluate(() => window.bltedge);
    expect(s.model?.kernels).toBe("webgpu");
    expect(s.model?.kernelsReport).toEqual(["webgpu: in use", "wasm-relaxed: available", "wasm-simd128: available"]);
    expect(await page.textContent("#kernels")).toContain("webgpu");
    await page.close();
  });

  // WebGPU quantises matmulQ8's activations to 14 bits, as the SIMD128 build does (the relaxed build: 7)
  it("?backend=browser&kernels=webgpu streams greedy bytes equal to ?kernels=simd128's", async () => {
    const page = await openPage(context, `${w.url}/?backend=browser&kernels=webgpu`);
    expect(await page.evaluate(() => window.bltedge.model?.kernels)).toBe("webgpu");
    const g = await generateOnPage(page, { prompt: PROMPT, mode: "ar", maxBytes: 64, temperature: 0 }, 120_000);
    expect(g.state).toBe("done");
    expect(g.bytes).toBe(64);
    expect(g.outputUpdates).toBeGreaterThan(3); // streamed in pieces
    expect(await page.textContent("#stat-backend")).toContain("webgpu");
    await page.goto(`${w.url}/?backend=browser&kernels=simd128`);
    await page.waitForFunction(() => window.bltedge?.state === "idle" && window.bltedge.model !== null, null, { timeout: 90_000 });
    expect(await page.evaluate(() => window.bltedge.model?.kernels)).toBe("wasm-simd128");
    const wasm = await generateOnPage(page, { prompt: PROMPT, mode: "ar", maxBytes: 64, temperature: 0 });
    expect(g.text.slice(0, 32)).toBe(wasm.text.slice(0, 32));
    await page.close();
  });

  it(`bytes/s, WebGPU vs Wasm: greedy ar and blt-d, ${BYTES} bytes, median of ${RUNS}`, async () => {
    const figures: Record<string, unknown> = { prompt: PROMPT, bytes: BYTES, runs: RUNS, adapter: "swiftshader" };
    for (const kernels of ["webgpu", "wasm"] as const) {
      const page = await openPage(context, `${w.url}/?backend=browser&kernels=${kernels}`);
      for (const mode of ["ar", "blt-d"] as const) {
        await generateOnPage(page, { prompt: PROMPT, mode, maxBytes: 16, temperature: 0 }, 120_000); // warm-up
        const runs: number[] = [];
        for (let i = 0; i < RUNS; i++) {
          const g = await generateOnPage(page, { prompt: PROMPT, mode, maxBytes: BYTES, temperature: 0 }, 300_000);
          expect(g.bytes).toBe(BYTES);
          runs.push(g.figures!.bytesPerSecond);
        }
        figures[`${kernels}_${mode}_bytes_per_s`] = { median: [...runs].sort((a, b) => a - b)[RUNS >> 1], runs };
      }
      await page.close();
    }
    mkdirSync(ARTEFACTS, { recursive: true });
    writeFileSync(`${ARTEFACTS}/webgpu-vs-wasm.json`, `${JSON.stringify(figures, null, 2)}\n`);
    console.log("webgpu vs wasm in the browser:", JSON.stringify(figures));
  }, 900_000);
});
