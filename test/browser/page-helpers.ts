// Drives the demo page from tests: open it and wait until it is ready (for ?backend=browser, the model loaded),
// set the knobs, press Generate and wait for the generation to finish; page errors fail loudly.
import type { BrowserContext, Page } from "playwright-core";
import type { Exposed } from "../../src/web/app.ts";

declare global {
  interface Window { bltedge: Exposed }
}

export interface Knobs {
  prompt: string;
  mode: "auto" | "ar" | "blt-d" | "blt-s" | "blt-dv";
  maxBytes: number;
  temperature: number;
  blockSize?: number;
  threshold?: number;
  draftLength?: number;
  seed?: number;
}

export interface PageGeneration {
  state: Exposed["state"];
  text: string;
  bytes: number;
  outputUpdates: number;
  error: string | null;
  /** What the page measured: bytes/s from pressing Generate to the last byte, first byte, passes per byte. */
  figures: { bytesPerSecond: number; ms: number; ttfbMs: number | null; decoderPassesPerByte: number; engineMs: number } | null;
}

/** Opens url in a new page of the context; resolves once the page is idle (the browser model loaded). */
export async function openPage(context: BrowserContext, url: string): Promise<Page> {
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") problems.push(`console: ${m.text()}`); });
  // the load event waits for the page's scripts from wrangler dev, which a busy 2-core CI machine can hold past
  // playwright's default 30 s (seen once: page.goto timed out while other work held the cores)
  await page.goto(url, { timeout: 90_000 });
  await page.waitForFunction(() => ["idle", "error"].includes(window.bltedge?.state), null, { timeout: 90_000 });
  const s = await page.evaluate(() => ({ state: window.bltedge.state, error: window.bltedge.error }));
  if (s.state === "error") throw new Error(`the page failed to start: ${s.error}\n${problems.join("\n")}`);
  return page;
}

export async function generateOnPage(page: Page, k: Knobs, timeoutMs = 60_000): Promise<PageGeneration> {
  await page.fill("#prompt", k.prompt);
  await page.selectOption("#mode", k.mode);
  await page.fill("#max-bytes", String(k.maxBytes));
  await page.fill("#temperature", String(k.temperature));
  await page.fill("#block-size", String(k.blockSize ?? 8));
  await page.fill("#threshold", String(k.threshold ?? 0.9));
  await page.fill("#draft-length", String(k.draftLength ?? 8));
  await page.fill("#seed", k.seed === undefined ? "1" : String(k.seed));
  const runs = await page.evaluate(() => window.bltedge.runs);
  await page.click("#generate");
  await page.waitForFunction((n) => window.bltedge.runs > n && ["done", "error"].includes(window.bltedge.state), runs, { timeout: timeoutMs });
  return page.evaluate(() => {
    const b = window.bltedge;
    const s = b.last?.stats;
    return {
      state: b.state, text: b.last?.text ?? document.getElementById("output")!.textContent ?? "",
      bytes: s?.generatedBytes ?? 0, outputUpdates: b.outputUpdates, error: b.error,
      figures: b.last && s ? {
        bytesPerSecond: Math.round(b.last.bytesPerSecond), ms: Math.round(b.last.ms), ttfbMs: b.last.ttfbMs === null ? null : Math.round(b.last.ttfbMs),
        decoderPassesPerByte: Math.round((s.passes.decoder / Math.max(1, s.generatedBytes)) * 1000) / 1000, engineMs: Math.round(s.wallMs),
      } : null,
    };
  });
}
