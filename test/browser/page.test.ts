// The demo page in headless chromium against the real Worker (wrangler dev): generation on the server (SSE)
// and in the browser (the engine in a Web Worker on the Wasm kernels, ?kernels=wasm; page-webgpu.test.ts covers
// WebGPU), live output and stats, the browser's greedy bytes equal to the Node engine's on the same int8 weights,
// the Cache API on reload, errors in #error.
// Writes screenshots and the measured figures under test-results/browser/, and docs/demo.png (the README's)
// when it is missing or UPDATE_SCREENSHOTS=1, so that a test run leaves the committed image alone.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_MODEL, DEFAULT_MODEL_DIR } from "../../src/config.ts";
import { nodeEngine, collect, request } from "../support/engine.ts";
import { startWorker, type RunningWorker } from "../support/wrangler.ts";
import { launchChromium } from "./support/chromium.ts";
import { generateOnPage, openPage, type PageGeneration } from "./page-helpers.ts";

const ARTEFACTS = "test-results/browser";
const GREEDY_PROMPT = "In the beginning ";
const RUNS = 3; // per mode and backend for the bytes/s figures (medians; this VM is shared and noisy)
let w: RunningWorker;
let browser: Browser;
let context: BrowserContext;
const figures: Record<string, unknown> = {};

beforeAll(async () => {
  execFileSync(process.execPath, ["scripts/build-web.mjs"], { stdio: "inherit" });
  mkdirSync(ARTEFACTS, { recursive: true });
  [w, browser] = await Promise.all([startWorker(), launchChromium()]);
  // one context for the file: its Cache API starts empty and persists across the pages and reloads below
  context = await browser.newContext({ viewport: { width: 1040, height: 600 } });
}, 180_000);

afterAll(async () => {
  if (Object.keys(figures).length) writeFileSync(`${ARTEFACTS}/page-figures.json`, `${JSON.stringify(figures, null, 2)}\n`);
  await browser?.close();
  await w?.stop();
});

const expectStatsShown = async (page: Page, g: PageGeneration, drafts: boolean) => {
  expect(Number(await page.textContent("#stat-bytes"))).toBe(g.bytes);
  expect(Number(await page.textContent("#stat-bps"))).toBeGreaterThan(0);
  expect(await page.textContent("#stat-ttfb")).toMatch(/^\d+ ms$/);
  expect(Number(await page.textContent("#stat-ppb"))).toBeGreaterThan(0);
  const d = (await page.textContent("#stat-drafts"))!;
  if (drafts) {
    const [accepted, drafted] = d.split(" / ").map(Number);
    expect(drafted).toBeGreaterThan(0);
    expect(accepted).toBeLessThanOrEqual(drafted);
  }
};

describe("the demo page", () => {
  it("serves the page at / without the API key, and the model files with length, ETag and caching", async () => {
    const page = await fetch(`${w.url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('id="generate"');
    const manifest = await (await fetch(`${w.url}/models/${DEFAULT_MODEL}/manifest.json`)).json();
    const entry = manifest.files["model.q8.safetensors"];
    const url = `${w.url}/models/${DEFAULT_MODEL}/model.q8.safetensors?sha256=${entry.sha256}`;
    const head = await fetch(url, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-type")).toBe("application/octet-stream");
    expect(Number(head.headers.get("content-length"))).toBe(entry.bytes);
    expect(head.headers.get("etag")).toBe(`"${entry.sha256}"`);
    expect(head.headers.get("cache-control")).toContain("immutable");
    expect((await fetch(url, { headers: { "if-none-match": `"${entry.sha256}"` } })).status).toBe(304);
    expect((await fetch(`${w.url}/models/${DEFAULT_MODEL}/model.safetensors`)).status).toBe(404);
    expect((await fetch(`${w.url}/models/gpt-4o/manifest.json`)).status).toBe(404);
    expect((await fetch(`${w.url}/kernels.wasm`)).headers.get("content-type")).toBe("application/wasm");
  });

  it("?backend=server streams a completion over SSE into #output, with live stats", async () => {
    const page = await openPage(context, `${w.url}/?backend=server`);
    expect(await page.textContent("#kernels")).toContain("on the server");
    const g = await generateOnPage(page, { prompt: "The history of the city ", mode: "blt-s", maxBytes: 160, temperature: 0 });
    expect(g.state).toBe("done");
    expect(g.bytes).toBe(160);
    expect(g.outputUpdates).toBeGreaterThan(3); // streamed in pieces, not at once
    expect(g.text.length).toBeGreaterThan(0);
    await expectStatsShown(page, g, true);
    expect(await page.textContent("#stat-backend")).toContain("server");
    figures.server_blt_s = g.figures;
    await page.screenshot({ path: `${ARTEFACTS}/server.png`, fullPage: true });
    await page.close();
  });

  it("?backend=browser loads the model (progress shown, from the network), runs it here and streams", async () => {
    const page = await openPage(context, `${w.url}/?backend=browser&kernels=wasm`);
    const s = await page.evaluate(() => window.bltedge);
    expect(s.model?.fromCache).toBe(false);
    // chromium has relaxed SIMD: ?kernels=wasm takes the relaxed build first
    expect(s.model?.kernels).toBe("wasm-relaxed");
    expect(await page.textContent("#kernels")).toContain("wasm-relaxed");
    const weights = s.progress.filter((p) => p.file === "model.q8.safetensors");
    expect(weights.length).toBeGreaterThan(2);
    expect(weights.some((p) => p.loaded < p.total)).toBe(true);
    expect(weights.at(-1)!.loaded).toBe(weights.at(-1)!.total);
    expect(await page.getAttribute("#progress", "value")).toBe("1");
    expect(await page.textContent("#progress-text")).toContain("loaded");
    figures.browser_load = { ms: Math.round(s.model!.loadMs), fromCache: false };

    const g = await generateOnPage(page, { prompt: "The history of the city ", mode: "blt-s", maxBytes: 160, temperature: 0 });
    expect(g.state).toBe("done");
    expect(g.bytes).toBe(160);
    expect(g.outputUpdates).toBeGreaterThan(3);
    await expectStatsShown(page, g, true);
    expect(await page.textContent("#stat-backend")).toContain("browser");
    figures.browser_blt_s = g.figures;
    await page.screenshot({ path: `${ARTEFACTS}/browser.png`, fullPage: true });
    await page.close();
  });

  it("greedy output in the browser equals the Node Wasm engine's on the same q8 weights and kernel build (and the server's)", async () => {
    // chromium and the Worker's workerd both take the relaxed build (its integer sums are the same on every engine);
    // the SIMD128 build quantises activations differently, so its greedy text may part from theirs
    const engine = await nodeEngine(DEFAULT_MODEL_DIR, Infinity, "q8", "relaxed"); // the model's whole window, as the page loads it
    const node = await collect(engine.decode(request(GREEDY_PROMPT, { model: DEFAULT_MODEL, mode: "ar", maxNewBytes: 64 })));
    expect(node.bytes.length).toBe(64);
    const page = await openPage(context, `${w.url}/?backend=browser&kernels=wasm`);
    const inBrowser = await generateOnPage(page, { prompt: GREEDY_PROMPT, mode: "ar", maxBytes: 64, temperature: 0 });
    expect(await page.textContent("#kernels")).toContain("wasm-relaxed");
    expect(inBrowser.text).toBe(node.text);
    expect(await page.textContent("#output")).toBe(node.text);
    await page.goto(`${w.url}/?backend=server`);
    await page.waitForFunction(() => window.bltedge?.state === "idle");
    const onServer = await generateOnPage(page, { prompt: GREEDY_PROMPT, mode: "ar", maxBytes: 64, temperature: 0 });
    expect(onServer.text).toBe(node.text);
    await page.close();
  });

  it("a reload with ?backend=browser loads the weights from the Cache API", async () => {
    const page = await openPage(context, `${w.url}/?backend=browser&kernels=wasm`);
    await page.reload();
    await page.waitForFunction(() => window.bltedge?.state === "idle" && window.bltedge.model !== null, null, { timeout: 60_000 });
    const s = await page.evaluate(() => window.bltedge);
    expect(s.model?.fromCache).toBe(true);
    expect(s.progress.filter((p) => p.file === "model.q8.safetensors").every((p) => p.fromCache)).toBe(true);
    expect(await page.textContent("#progress-text")).toContain("from the Cache API");
    figures.browser_load_cached = { ms: Math.round(s.model!.loadMs), fromCache: true };

    // the same request on both backends, every mode: the page's own bytes/s (Generate pressed to last byte)
    const measure = async (backend: string) => {
      for (const mode of ["ar", "blt-d", "blt-s", "blt-dv"] as const) {
        const runs: number[] = [];
        for (let i = 0; i < RUNS; i++) {
          runs.push((await generateOnPage(page, { prompt: "The committee said that ", mode, maxBytes: 200, temperature: 0 })).figures!.bytesPerSecond);
        }
        figures[`${backend}_${mode}_bytes_per_s`] = { median: runs.sort((a, b) => a - b)[RUNS >> 1], runs };
      }
    };
    await measure("browser");
    await page.goto(`${w.url}/?backend=server`);
    await page.waitForFunction(() => window.bltedge?.state === "idle");
    await measure("server");
    console.log("page figures:", JSON.stringify(figures));
    await page.close();
  });

  it.each(["server", "browser"] as const)("a bad knob (block size 0) on the %s backend is shown in #error", async (backend) => {
    const page = await openPage(context, `${w.url}/?backend=${backend}&kernels=wasm`);
    const g = await generateOnPage(page, { prompt: "Hello ", mode: "blt-d", maxBytes: 32, temperature: 0, blockSize: 0 });
    expect(g.state).toBe("error");
    expect(await page.isVisible("#error")).toBe(true);
    expect(await page.textContent("#error")).toMatch(/block_size/);
    await page.screenshot({ path: `${ARTEFACTS}/error-${backend}.png`, fullPage: true });
    // the page recovers: the next request with a good value runs
    const ok = await generateOnPage(page, { prompt: "Hello ", mode: "blt-d", maxBytes: 16, temperature: 0, blockSize: 8 });
    expect(ok.state).toBe("done");
    expect(await page.isVisible("#error")).toBe(false);
    await page.close();
  });

  it("Stop ends a browser-backend generation early, and the next one runs", async () => {
    const page = await openPage(context, `${w.url}/?backend=browser&kernels=wasm`);
    await page.fill("#prompt", "Once upon a time ");
    await page.selectOption("#mode", "blt-dv");
    await page.fill("#max-bytes", "4000"); // long enough (seconds) that Stop lands before the end
    await page.click("#generate");
    await page.waitForFunction(() => window.bltedge.outputUpdates > 0);
    await page.click("#stop");
    await page.waitForFunction(() => window.bltedge.state === "idle");
    expect(await page.textContent("#status")).toBe("stopped");
    expect(new TextEncoder().encode((await page.textContent("#output"))!).length).toBeLessThan(4000);
    const next = await generateOnPage(page, { prompt: "Hello ", mode: "ar", maxBytes: 16, temperature: 0 });
    expect(next.state).toBe("done");
    expect(next.bytes).toBe(16);
    await page.close();
  });

  it("mode auto is the default, as in the API: the server picks a lossless mode, and so does the page on the browser backend", async () => {
    const page = await openPage(context, `${w.url}/?backend=server`);
    expect(await page.inputValue("#mode")).toBe("auto");
    const bodies: Record<string, unknown>[] = [];
    page.on("request", (r) => { if (r.url().endsWith("/v1/completions")) bodies.push(JSON.parse(r.postData() ?? "{}")); });
    const onServer = await generateOnPage(page, { prompt: "The history of the city ", mode: "auto", maxBytes: 48, temperature: 0 });
    expect(onServer.state).toBe("done");
    expect(bodies.at(-1)).toMatchObject({ mode: "auto" });
    const chosen = await page.evaluate(() => window.bltedge.last?.stats?.mode);
    expect(["ar", "blt-s", "blt-dv"]).toContain(chosen);
    expect(await page.textContent("#status")).toContain(`mode auto chose ${chosen}`);
    await page.goto(`${w.url}/?backend=browser&kernels=wasm`);
    await page.waitForFunction(() => window.bltedge?.state === "idle" && window.bltedge.model !== null, null, { timeout: 60_000 });
    expect(await page.inputValue("#mode")).toBe("auto");
    const inBrowser = await generateOnPage(page, { prompt: "The history of the city ", mode: "auto", maxBytes: 48, temperature: 0 });
    expect(inBrowser.state).toBe("done");
    expect(["ar", "blt-s", "blt-dv"]).toContain(await page.evaluate(() => window.bltedge.last?.stats?.mode));
    expect(inBrowser.text).toBe(onServer.text); // greedy: every lossless mode writes AR's bytes
    await page.close();
  });

  it("the model picker lists GET /v1/models, and the request names the model picked", async () => {
    const listed = ((await (await fetch(`${w.url}/v1/models`)).json()) as { data: { id: string }[] }).data.map((m) => m.id);
    expect(listed).toEqual(expect.arrayContaining([DEFAULT_MODEL, "blt-d-tiny"]));
    const page = await openPage(context, `${w.url}/?backend=server`);
    await page.waitForFunction((n) => window.bltedge.models.length === n, listed.length);
    expect(await page.$$eval("#model option", (os) => os.map((o) => (o as HTMLOptionElement).value))).toEqual(listed);
    expect(await page.inputValue("#model")).toBe(listed[0]);
    await page.selectOption("#model", "blt-d-tiny");
    const bodies: Record<string, unknown>[] = [];
    page.on("request", (r) => { if (r.url().endsWith("/v1/completions")) bodies.push(JSON.parse(r.postData() ?? "{}")); });
    const g = await generateOnPage(page, { prompt: "Hello ", mode: "ar", maxBytes: 16, temperature: 0 });
    expect(g.state).toBe("done");
    expect(bodies.at(-1)).toMatchObject({ model: "blt-d-tiny" });
    expect(await page.textContent("#model-name")).toBe("blt-d-tiny");
    await page.close();
  });

  it("stats and errors reset on a new run and on switching backend; the server backend shows no progress bar", async () => {
    const page = await openPage(context, `${w.url}/?backend=server`);
    expect(await page.isVisible("#model-status")).toBe(false);
    expect(await page.isVisible("#progress")).toBe(false);
    const ok = await generateOnPage(page, { prompt: "Hello ", mode: "blt-s", maxBytes: 24, temperature: 0 });
    expect(ok.state).toBe("done");
    expect(await page.textContent("#stat-bytes")).toBe("24");
    // a run that fails at once: no stats of the run before stay on the page
    const bad = await generateOnPage(page, { prompt: "Hello ", mode: "blt-d", maxBytes: 24, temperature: 0, blockSize: 0 });
    expect(bad.state).toBe("error");
    expect(await page.isVisible("#error")).toBe(true);
    for (const id of ["#stat-bytes", "#stat-bps", "#stat-ttfb", "#stat-ppb", "#stat-drafts"]) expect(await page.textContent(id), id).toBe("–");
    expect(await page.evaluate(() => window.bltedge.last)).toBeNull();
    // switching backend clears the error
    await page.check("#backend-browser");
    expect(await page.isVisible("#error")).toBe(false);
    expect(await page.textContent("#stat-backend")).toBe("–");
    await page.waitForFunction(() => window.bltedge.state === "idle" && window.bltedge.model !== null, null, { timeout: 60_000 });
    expect(await page.isVisible("#model-status")).toBe(true);
    const inBrowser = await generateOnPage(page, { prompt: "Hello ", mode: "ar", maxBytes: 12, temperature: 0 });
    expect(inBrowser.state).toBe("done");
    await page.check("#backend-server");
    for (const id of ["#stat-bytes", "#stat-bps", "#stat-backend"]) expect(await page.textContent(id), id).toBe("–");
    expect(await page.isVisible("#model-status")).toBe(false);
    await page.close();
  });

  it("the first in-browser visit downloads the weights with a byte progress bar; the next loads them from the Cache API without fetching them (network log)", async () => {
    const fresh = await browser.newContext(); // its own, empty Cache API
    const fetched: string[] = [];
    fresh.on("request", (r) => { if (r.url().includes("/model.q8.safetensors")) fetched.push(r.url()); });
    try {
      const first = await openPage(fresh, `${w.url}/?backend=browser&kernels=wasm`);
      expect(await first.evaluate(() => window.bltedge.model?.fromCache)).toBe(false);
      expect(fetched.length).toBe(1); // the log sees the engine worker's fetch
      const bytes = await first.evaluate(() => window.bltedge.progress.filter((p) => p.file === "model.q8.safetensors" && !p.fromCache).map((p) => p.loaded));
      expect(bytes.length).toBeGreaterThan(2);
      expect(bytes.some((b) => b > 0 && b < bytes.at(-1)!)).toBe(true);
      expect(await first.textContent("#progress-text")).toContain("downloaded, now cached");
      await first.close();

      const second = await openPage(fresh, `${w.url}/?backend=browser&kernels=wasm`);
      expect(await second.evaluate(() => window.bltedge.model?.fromCache)).toBe(true);
      expect(await second.textContent("#progress-text")).toContain("from the Cache API");
      expect(fetched.length, `weights fetched again: ${fetched.join(", ")}`).toBe(1);
      const g = await generateOnPage(second, { prompt: "Hello ", mode: "ar", maxBytes: 12, temperature: 0 });
      expect(g.state).toBe("done");
      await second.close();
    } finally {
      await fresh.close();
    }
  });

  it("screenshot of a browser-backend generation for the README (docs/demo.png)", async () => {
    const page = await openPage(context, `${w.url}/?backend=browser&kernels=wasm`);
    const g = await generateOnPage(page, { prompt: "The history of the city ", mode: "blt-s", maxBytes: 240, temperature: 0.5, seed: 3 });
    expect(g.state).toBe("done");
    const shot = await page.screenshot({ fullPage: true });
    if (process.env.UPDATE_SCREENSHOTS === "1" || !existsSync("docs/demo.png")) writeFileSync("docs/demo.png", shot);
    writeFileSync(`${ARTEFACTS}/demo.png`, shot);
    await page.close();
  });
});
