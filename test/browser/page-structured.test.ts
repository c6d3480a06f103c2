// The demo page's structured-output option in headless chromium against the real Worker: the JSON schema box
// constrains the output (server backend over the API, and the engine in the page's Web Worker), and the
// log-probabilities option shows the output as a heat map, one span per character with its bytes' figures.
import { execFileSync } from "node:child_process";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compileFormat, Matcher } from "../../src/constrain/index.ts";
import { startWorker, type RunningWorker } from "../support/wrangler.ts";
import { launchChromium } from "./support/chromium.ts";
import { generateOnPage, openPage } from "./page-helpers.ts";

let w: RunningWorker;
let browser: Browser;
let context: BrowserContext;

beforeAll(async () => {
  execFileSync(process.execPath, ["scripts/build-web.mjs"], { stdio: "inherit" });
  [w, browser] = await Promise.all([startWorker(), launchChromium()]);
  context = await browser.newContext({ viewport: { width: 1040, height: 700 } });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await w?.stop();
});

async function structuredRun(page: Page, mode: "blt-s" | "blt-d") {
  const schema = JSON.parse(await page.inputValue("#schema"));
  const g = await generateOnPage(page, { prompt: "User: Describe a person.\nAssistant: ", mode, maxBytes: 400, temperature: 0 });
  expect(g.state, g.error ?? "").toBe("done");
  const m = new Matcher(compileFormat({ type: "json_schema", json_schema: { name: "page", schema } })!);
  expect(m.matches(g.text), g.text).toBe(true);
  const spans = await page.$$eval("#output span.lp", (els) => els.map((e) => ({ text: e.textContent, title: (e as HTMLElement).title, bg: (e as HTMLElement).style.background })));
  expect(spans.map((s) => s.text).join("")).toBe(g.text);
  expect(spans.length).toBe([...g.text].length);
  for (const s of spans) {
    expect(s.title).toMatch(/^(".*"|0x[0-9a-f]{2}): -?\d+\.\d{3} \(p \d\.\d{3}\); top /);
    expect(s.bg).toMatch(/rgba/);
  }
  return g.text;
}

describe("the demo page: structured output and log-probabilities", () => {
  it("server backend: the schema box constrains the output, the heat map shows each character's figures", async () => {
    const page = await openPage(context, `${w.url}/?backend=server&structured=1&logprobs=1`);
    expect(await page.isChecked("#structured")).toBe(true);
    await structuredRun(page, "blt-s");
    await structuredRun(page, "blt-d");
    // a schema the server cannot honour: the error names the keyword
    await page.fill("#schema", '{"type": "string", "format": "email"}');
    const g = await generateOnPage(page, { prompt: "x", mode: "ar", maxBytes: 8, temperature: 0 });
    expect(g.state).toBe("error");
    expect(g.error).toContain("format");
  });

  it("browser backend: the engine in the page follows the schema too, with the same heat map", async () => {
    const page = await openPage(context, `${w.url}/?backend=browser&kernels=wasm&structured=1&logprobs=1`);
    await structuredRun(page, "blt-s");
  });
});
