// `npm run loadtest`: N concurrent streaming clients for a fixed time against a bltedge server on loopback
// (bounded: it refuses any other host). Every request is greedy and its expected text is fetched once, alone,
// before the load starts, so a stream whose text differs (lost, cut or mixed with another) is counted.
// Reports completed streams, 429s (retried after retry-after, as the SDKs do), errors, mismatches and latency
// percentiles. Without --url it starts the Worker itself (wrangler dev, as `npm start`).
//   npm run loadtest -- [--url http://127.0.0.1:8787] [--model blt-v2] [--concurrency 8] [--seconds 20] [--max-tokens 64] [--json]
import { sseData } from "../src/backends/wire.ts";
import { parseFlags } from "../src/cli/node-engine.ts";
import { DEFAULT_MODEL } from "../src/config.ts";
import { startWorker } from "./dev-worker.ts";

const flags = parseFlags(process.argv.slice(2));
const concurrency = Number(flags.get("concurrency") ?? 8);
const seconds = Number(flags.get("seconds") ?? 20);
const maxTokens = Number(flags.get("max-tokens") ?? 64);
const model = flags.get("model") ?? DEFAULT_MODEL;
if (!(concurrency >= 1 && concurrency <= 64 && seconds > 0 && seconds <= 600)) throw new Error("--concurrency 1..64 and --seconds up to 600");

const PROMPTS = ["The quick brown fox ", "In the beginning ", "The committee said that ", "She looked at him and ", "It was a cold morning "];
const MODES = ["ar", "blt-d", "blt-s", "blt-dv"];
const requests = PROMPTS.flatMap((prompt) => MODES.map((mode) => ({ model, prompt, mode, max_tokens: maxTokens, temperature: 0 })));

const worker = flags.has("url") ? null : await startWorker();
const base = (flags.get("url") ?? worker!.url).replace(/\/+$/, "");
const host = new URL(base).hostname;
if (!["127.0.0.1", "localhost", "::1", "[::1]"].includes(host)) throw new Error(`refusing ${host}: the load test runs against loopback only`);

const post = (body: object, signal?: AbortSignal) => fetch(`${base}/v1/completions`, { method: "POST", signal,
  headers: { "content-type": "application/json", ...(process.env.API_KEY ? { authorization: `Bearer ${process.env.API_KEY}` } : {}) },
  body: JSON.stringify(body) });

// expected text of each request, alone
const expected: string[] = [];
for (const r of requests) {
  const res = await post(r);
  if (!res.ok) throw new Error(`warm-up request failed: HTTP ${res.status} ${await res.text()}`);
  expected.push(((await res.json()) as { choices: { text: string }[] }).choices[0].text);
}

const ttfb: number[] = [], total: number[] = [];
const counts = { completed: 0, rejected429: 0, errors: 0, mismatched: 0 };
const until = performance.now() + seconds * 1000;

async function streamOnce(i: number): Promise<void> {
  const t0 = performance.now();
  const res = await post({ ...requests[i], stream: true });
  if (res.status === 429) {
    counts.rejected429++;
    await res.body?.cancel();
    await new Promise((r) => setTimeout(r, 1000 * Number(res.headers.get("retry-after") ?? 1)));
    return;
  }
  if (!res.ok || !res.body) { counts.errors++; await res.body?.cancel(); return; }
  let text = "", first = 0, done = false;
  for await (const data of sseData(res.body)) {
    if (data === "[DONE]") { done = true; continue; }
    const o = JSON.parse(data);
    if (o.error) { counts.errors++; return; }
    const t = o.choices[0]?.text ?? "";
    if (t && !first) first = performance.now() - t0;
    text += t;
  }
  if (!done) { counts.errors++; return; }
  total.push(performance.now() - t0);
  ttfb.push(first);
  if (text === expected[i]) counts.completed++;
  else counts.mismatched++;
}

async function client(id: number): Promise<void> {
  for (let k = id; performance.now() < until; k += concurrency) {
    try { await streamOnce(k % requests.length); } catch { counts.errors++; }
  }
}

const t0 = performance.now();
await Promise.all(Array.from({ length: concurrency }, (_, id) => client(id)));
const wallS = (performance.now() - t0) / 1000;
await worker?.stop();

const pct = (xs: number[], p: number) => {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]);
};
const report = {
  url: base, model, concurrency, seconds, maxTokens, wallS: Math.round(wallS * 10) / 10, ...counts,
  streamsPerSec: Math.round((counts.completed / wallS) * 100) / 100,
  ttfbMs: { p50: pct(ttfb, 50), p90: pct(ttfb, 90), p99: pct(ttfb, 99) },
  totalMs: { p50: pct(total, 50), p90: pct(total, 90), p99: pct(total, 99) },
};
if (flags.has("json")) console.log(JSON.stringify(report));
else {
  console.log(`load test: ${concurrency} concurrent streams for ${seconds} s against ${base} (${model}, ${maxTokens} bytes, greedy, modes ${MODES.join("/")})`);
  console.log(`completed ${counts.completed} (${report.streamsPerSec}/s), 429 ${counts.rejected429}, errors ${counts.errors}, mismatched ${counts.mismatched}`);
  console.log(`time to first byte ms p50/p90/p99: ${report.ttfbMs.p50} / ${report.ttfbMs.p90} / ${report.ttfbMs.p99}`);
  console.log(`whole stream ms p50/p90/p99: ${report.totalMs.p50} / ${report.totalMs.p90} / ${report.totalMs.p99}`);
}
if (counts.errors || counts.mismatched) process.exitCode = 1;
