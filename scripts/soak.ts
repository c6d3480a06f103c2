// `npm run soak`: hours-under-load in minutes. Starts the Worker (wrangler dev, workerd, as `npm start`) and, with
// --pool, a TypeScript pool worker that takes every request (EDGE_MAX_REQUEST_BYTES 64); drives a seeded mix of
// requests at the Worker's own socket (or, with --via-proxy, through wrangler's local proxy) from C client loops (every model, endpoint and mode, streamed and whole, max_tokens 16–2000, greedy and
// sampled, some 1.8 KB prompts, some bad requests, some streams aborted by the client mid-way); samples the RSS
// of every process it started and /health; stops everything; prints one JSON summary. Exit status 1 when the run
// shows a leaked decode slot, a hang, a truncated stream, an uncaught error in the server's log, a 5xx other than
// a 503 with an OpenAI-style JSON body, or a too_many_concurrent_requests refusal while fewer requests than the
// limit could be running (and, with --max-slope, an RSS slope above it).
//   npm run soak -- --minutes N [--concurrency 3] [--abort-rate 0.2] [--bad-rate 0.1] [--long-rate 0.05] [--stream-rate 0.75] [--pool] [--via-proxy]
//       [--seed 1] [--sample-s 30] [--max-slope MB/min] [--out summary.json]
import { readFileSync, writeFileSync } from "node:fs";
import WebSocket from "ws";
import { sseData } from "../src/backends/sse.ts";
import { parseFlags } from "../src/cli/node-engine.ts";
import { startTsPoolWorker, type PoolWorker } from "../test/support/pool-workers.ts";
import { descendants, listeningPorts, startWorker, workerSocketUrl, type RunningWorker } from "./dev-worker.ts";

const flags = parseFlags(process.argv.slice(2));
const num = (name: string, fallback: number) => {
  const v = flags.get(name);
  const n = v === undefined ? fallback : Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a number ≥ 0, got ${JSON.stringify(v)}`);
  return n;
};
const minutes = num("minutes", 2);
const concurrency = Math.max(1, Math.round(num("concurrency", 3)));
const abortRate = num("abort-rate", 0.2), badRate = num("bad-rate", 0.1), longRate = num("long-rate", 0.05), streamRate = num("stream-rate", 0.75);
const seed = Math.round(num("seed", 1));
const sampleMs = 1000 * num("sample-s", 30);
const maxSlope = flags.has("max-slope") ? num("max-slope", Infinity) : undefined;
const withPool = flags.has("pool");
const viaProxy = flags.has("via-proxy");
/** The Worker's decode slots (its MAX_CONCURRENT_DECODES default) and how long an abandoned stream may hold one. */
const MAX_DECODES = 4, STALL_WINDOW_MS = 3000;
/** A request that has made no progress for this long is a hang. */
const HANG_MS = 60_000;

// ---- processes and their memory ---------------------------------------------------------------------------------

const cmdline = (pid: number) => { try { return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" "); } catch { return ""; } };
const rssMb = (pid: number) => {
  try { return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024; } catch { return NaN; }
};

/** The processes to watch: the Worker's workerd, wrangler's proxy workerd, wrangler itself, the pool worker. */
function watched(worker: RunningWorker, pool: PoolWorker | null): Record<string, number> {
  const procs: Record<string, number> = {};
  const port = new URL(worker.url).port;
  for (const pid of descendants(worker.pid)) {
    const c = cmdline(pid);
    if (c.includes("workerd serve")) procs[c.includes(`entry=127.0.0.1:${port}`) ? "workerd-proxy" : "workerd"] = pid;
    else if (c.includes("wrangler-dist/cli.js")) procs.wrangler = pid;
  }
  if (pool?.child.pid) procs.pool = pool.child.pid;
  return procs;
}

// ---- the Worker's isolate heap, through its inspector ------------------------------------------------------------

/**
 * The isolate's memory as V8 counts it (what a deployed isolate's 128 MB limit is about): the JS heap in use after
 * a forced collection, and ArrayBuffer backing stores (the Wasm memory with the models in it among them), read
 * through the DevTools protocol that wrangler dev serves. On connecting it turns DevTools' network recording off:
 * wrangler dev turns it on for every Worker, and the runtime then reports every subrequest's events (each pool
 * stream, event by event) to wrangler's inspector proxy, which keeps them (measured: the proxy's workerd grew 58 →
 * 908 MB and wrangler's Node 231 → 692 MB in 3 minutes of the pool soak). A deployed Worker has no such recorder.
 */
async function inspector(inspectorPort: number): Promise<{ heap(): Promise<{ heapMB: number; backingMB: number } | null>; close(): void }> {
  const list = await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json() as { webSocketDebuggerUrl: string }[];
  const ws = new WebSocket(list[0].webSocketDebuggerUrl);
  await new Promise((resolve, reject) => { ws.once("open", resolve); ws.once("error", reject); });
  let id = 0;
  const waiting = new Map<number, (v: any) => void>();
  ws.on("message", (m) => { const o = JSON.parse(String(m)); waiting.get(o.id)?.(o.result); waiting.delete(o.id); });
  const call = (method: string) => Promise.race([
    new Promise<any>((r) => { const i = ++id; waiting.set(i, r); ws.send(JSON.stringify({ id: i, method, params: {} })); }),
    new Promise<null>((r) => setTimeout(() => r(null), 10_000)),
  ]);
  await call("Network.disable");
  await call("HeapProfiler.enable");
  return {
    heap: async () => {
      await call("HeapProfiler.collectGarbage");
      const u = await call("Runtime.getHeapUsage");
      return u ? { heapMB: u.usedSize / 2 ** 20, backingMB: (u.backingStorageSize ?? 0) / 2 ** 20 } : null;
    },
    close: () => ws.close(),
  };
}

/**
 * The other isolates in the Worker's workerd under wrangler dev: its entry worker, which hands every request to the
 * Worker as a cross-isolate subrequest, the static-assets router and asset workers in front of it, and their helpers.
 * Each request leaves native objects (requests, headers, streams) behind in these isolates whose JavaScript heaps stay
 * tiny, so V8 seldom sees a reason to collect them, and the process's RSS climbs by several KB per request until it
 * does (measured: a one-line Worker with the same [assets] config, 71 → 841 MB over 200,000 requests, levelling off
 * only past 150,000; docs/soak.md). None of these isolates exists in a deployed Worker's process. Before each RSS
 * sample this forces a full collection in every one of them, through the runtime's own DevTools server (the
 * --inspector-addr that wrangler dev gives workerd), so what the sample counts is memory still held, not garbage
 * the runtime has yet to collect; the summary also carries the RSS read just before the collections. An isolate
 * that runs nothing (the cache and KV helpers, or every one of them once the load stops) answers only when it next
 * runs; the summary counts those unanswered requests per isolate.
 */
async function runtimeIsolates(workerdPid: number): Promise<{ collect(): Promise<{ collected: number; failed: string[] }>; names: string[]; close(): void }> {
  let targets: { id: string; webSocketDebuggerUrl: string }[] = [];
  for (const port of listeningPorts(workerdPid)) {
    try {
      const list = await (await fetch(`http://127.0.0.1:${port}/json`, { signal: AbortSignal.timeout(3000) })).json();
      if (Array.isArray(list) && list.every((t) => typeof t?.webSocketDebuggerUrl === "string")) { targets = list; break; }
    } catch { /* the Worker's socket or the debug port */ }
  }
  // the Worker's own isolate is collected through wrangler's inspector proxy (inspector() above), which holds its one session
  targets = targets.filter((t) => !t.id.startsWith("core:user:"));
  const sessions = await Promise.all(targets.map(async (t) => {
    const ws = new WebSocket(t.webSocketDebuggerUrl.replace("//localhost:", "//127.0.0.1:"));
    const ok = await new Promise<boolean>((r) => { ws.once("open", () => r(true)); ws.once("error", () => r(false)); });
    let id = 0;
    const waiting = new Map<number, () => void>();
    ws.on("message", (m) => { const o = JSON.parse(String(m)); waiting.get(o.id)?.(); waiting.delete(o.id); });
    const call = (method: string) => Promise.race([
      new Promise<boolean>((r) => { const i = ++id; waiting.set(i, () => r(true)); ws.send(JSON.stringify({ id: i, method, params: {} })); }),
      new Promise<boolean>((r) => setTimeout(() => r(false), 5_000)),
    ]);
    if (ok) await call("HeapProfiler.enable");
    return { name: t.id, ok, ws, call };
  }));
  return {
    names: sessions.map((s) => s.name),
    collect: async () => {
      const done = await Promise.all(sessions.map(async (s) => (s.ok && s.ws.readyState === WebSocket.OPEN && await s.call("HeapProfiler.collectGarbage")) ? null : s.name));
      const failed = done.filter((n): n is string => n !== null);
      return { collected: sessions.length - failed.length, failed };
    },
    close: () => { for (const s of sessions) s.ws.terminate(); },
  };
}

// ---- a seeded mix of requests -----------------------------------------------------------------------------------

function mulberry32(a: number): () => number {
  return () => {
    a |= 0; a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PROMPTS = ["The quick brown fox ", "In the beginning ", "The committee said that ", "She looked at him and ",
  "It was a cold morning in ", "Dear Sir, I write to ", "The President spoke of ", "Once upon a time "];
const LONG = "The history of the city is long and its records are many. ".repeat(31).slice(0, 1800);
const MODELS = ["blt-v2", "blt-v2", "blt-d-tiny"];
const MODES = ["auto", "ar", "blt-d", "blt-s", "blt-dv"];

interface Planned { path: string; body: string; stream: boolean; abortAfterChunks: number | null; abortAfterMs: number | null; bad: string | null }

function plan(rnd: () => number): Planned {
  const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)];
  if (rnd() < badRate) {
    const bad = pick(["invalid_json", "unknown_model", "temperature", "max_tokens", "prompt_too_large", "mode", "missing_messages", "top_p"]);
    const b: Record<string, string> = {
      invalid_json: '{"model": "blt-v2", "prompt": ',
      unknown_model: JSON.stringify({ model: "gpt-9", prompt: "x" }),
      temperature: JSON.stringify({ model: "blt-v2", prompt: "x", temperature: 99 }),
      max_tokens: JSON.stringify({ model: "blt-v2", prompt: "x", max_tokens: 100_000 }),
      prompt_too_large: JSON.stringify({ model: "blt-v2", prompt: "x".repeat(5000) }),
      mode: JSON.stringify({ model: "blt-v2", prompt: "x", mode: "warp" }),
      missing_messages: JSON.stringify({ model: "blt-v2" }),
      top_p: JSON.stringify({ model: "blt-d-tiny", prompt: "x", top_p: 0 }),
    };
    return { path: bad === "missing_messages" ? "/v1/chat/completions" : "/v1/completions", body: b[bad], stream: false, abortAfterChunks: null, abortAfterMs: null, bad };
  }
  const chat = rnd() < 0.5, stream = rnd() < streamRate;
  const long = rnd() < longRate;
  const prompt = long ? LONG : pick(PROMPTS);
  const maxTokens = Math.round(16 * Math.pow(2000 / 16, rnd()));
  const o: Record<string, unknown> = { model: long ? "blt-v2" : pick(MODELS), mode: pick(MODES), max_tokens: maxTokens, temperature: rnd() < 0.5 ? 0 : 0.8,
    seed: Math.floor(rnd() * 1e6), stream, ...(stream && rnd() < 0.5 ? { stream_options: { include_usage: true } } : {}) };
  if (chat) o.messages = [{ role: "user", content: prompt }]; else o.prompt = prompt;
  const aborts = rnd() < abortRate;
  return { path: chat ? "/v1/chat/completions" : "/v1/completions", body: JSON.stringify(o), stream,
    abortAfterChunks: aborts && stream ? 1 + Math.floor(rnd() * 30) : null, abortAfterMs: aborts && !stream ? 50 + Math.floor(rnd() * 1000) : null, bad: null };
}

// ---- the run ----------------------------------------------------------------------------------------------------

const endings: Record<string, number> = {};
const count = (k: string) => { endings[k] = (endings[k] ?? 0) + 1; };
const fiveXX: string[] = [];
/** What each hung request was, for the summary. */
const hangs: Record<string, unknown>[] = [];
const runStart = Date.now();
const refusals: { open: number; recentAborts: number }[] = [];
let open = 0;
const abortTimes: number[] = [];
const recentAborts = () => abortTimes.filter((t) => Date.now() - t < STALL_WINDOW_MS).length;

function describe(p: Planned): Record<string, unknown> {
  const o = (() => { try { return JSON.parse(p.body) as Record<string, unknown>; } catch { return {}; } })();
  return { path: p.path, model: o.model, mode: o.mode, max_tokens: o.max_tokens, temperature: o.temperature, stream: p.stream,
    long: String(o.prompt ?? JSON.stringify(o.messages ?? "")).length > 1000, abortAfterChunks: p.abortAfterChunks, abortAfterMs: p.abortAfterMs };
}

/**
 * Settles as the signal fires. Node 20's fetch can leave a body read pending for good when the request is aborted
 * after its headers came (the server's own counters show the decode ended), so every read races this: an abort ends
 * the request in the client as a client abort, and the hang detector's abort still ends it as a hang.
 */
function whenAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}

async function one(base: string, p: Planned): Promise<void> {
  const ac = new AbortController();
  const aborted = whenAborted(ac.signal);
  aborted.catch(() => { /* observed by the races below */ });
  const read = <T>(x: Promise<T>) => Promise.race([x, aborted]);
  let progressAt = Date.now(), headersAt: number | null = null;
  const started = Date.now();
  const hang = setInterval(() => {
    // no progress for HANG_MS, or no end after 3 × HANG_MS however it progresses
    if (Date.now() - progressAt > HANG_MS || Date.now() - started > 3 * HANG_MS) ac.abort(new Error("hang"));
  }, 1000);
  const openBefore = open, abortsBefore = recentAborts();
  open++;
  let ending = "?";
  try {
    const timer = p.abortAfterMs !== null ? setTimeout(() => { ending = "client_abort"; ac.abort(); }, p.abortAfterMs) : null;
    const res = await fetch(`${base}${p.path}`, { method: "POST", signal: ac.signal, headers: { "content-type": "application/json" }, body: p.body });
    progressAt = headersAt = Date.now();
    if (res.status >= 500) {
      const text = await read(res.text());
      let json = false;
      try { json = typeof JSON.parse(text).error?.message === "string"; } catch { /* not JSON */ }
      if (fiveXX.length < 20) fiveXX.push(`${res.status} ${text.slice(0, 300)}`);
      ending = res.status === 503 && json ? "http_503_json" : `http_${res.status}${json ? "" : "_not_json"}`;
      return;
    }
    if (res.status !== 200) {
      const text = await read(res.text());
      let code = "not_json";
      try { code = JSON.parse(text).error.code ?? "no_code"; } catch { /* kept */ }
      if (res.status === 429 && code === "too_many_concurrent_requests") refusals.push({ open: openBefore, recentAborts: abortsBefore });
      // a bad request's 4xx and the documented 429s are expected (a refusal with slots free is judged below)
      ending = `http_${res.status}_${code}${p.bad || code === "model_busy" || code === "too_many_concurrent_requests" ? "" : "_unexpected"}`;
      if (res.status === 429) await new Promise((r) => setTimeout(r, 1000 * Number(res.headers.get("retry-after") ?? 1)));
      return;
    }
    if (p.bad) { await res.body?.cancel(); ending = "bad_request_accepted"; return; }
    if (!p.stream) {
      const o = await read(res.json()) as { choices?: unknown[] };
      if (timer) clearTimeout(timer);
      ending = Array.isArray(o.choices) ? "done" : "malformed";
      return;
    }
    let chunks = 0;
    ending = "truncated";
    // iterated by hand: leaving the loop must not wait on cancelling a body the abort already tore down
    const events = sseData(res.body!)[Symbol.asyncIterator]();
    for (let r = await read(events.next()); !r.done; r = await read(events.next())) {
      const data = r.value;
      progressAt = Date.now();
      if (data === "[DONE]") { ending = "done"; continue; }
      const o = JSON.parse(data);
      if (o.error) { ending = `error_event_${o.error.code}`; break; }
      if (++chunks === p.abortAfterChunks) { ending = "client_abort"; ac.abort(); break; }
    }
  } catch (e) {
    if (ending !== "client_abort") {
      ending = (ac.signal.reason as Error)?.message === "hang" ? "hang" : `client_error_${(e as Error).name}`;
      // a refused connection (the runtime restarted) is not retried at full speed
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    clearInterval(hang);
    if (ending === "hang" && hangs.length < 20) {
      hangs.push({ ...describe(p), startedS: Math.round((started - runStart) / 1000),
        secondsWithoutProgress: Math.round((Date.now() - progressAt) / 1000), headers: headersAt !== null });
    }
    if (ending === "client_abort") abortTimes.push(Date.now());
    open--;
    count(ending);
  }
}

function slope(points: { t: number; v: number }[]): number {
  // least squares, MB per minute
  const n = points.length;
  if (n < 2) return NaN;
  const mt = points.reduce((s, p) => s + p.t, 0) / n, mv = points.reduce((s, p) => s + p.v, 0) / n;
  const num = points.reduce((s, p) => s + (p.t - mt) * (p.v - mv), 0), den = points.reduce((s, p) => s + (p.t - mt) ** 2, 0);
  return den ? (num / den) * 60_000 : NaN;
}
const pct = (xs: number[], q: number) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : NaN; };
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

async function main(): Promise<void> {
  let pool: PoolWorker | null = null;
  const vars: Record<string, string> = {};
  if (withPool) {
    pool = await startTsPoolWorker({ models: "models/blt-v2,models/blt-d-tiny", threads: 1, capacity: 4, args: ["--q8"] });
    Object.assign(vars, { POOL_ENDPOINTS: pool.url, EDGE_MAX_REQUEST_BYTES: "64" });
  }
  const worker = await startWorker(vars);
  // by default the load goes to the Worker's own socket, as a deployed Worker is reached; --via-proxy sends it
  // through wrangler dev's local proxy (the URL `npm start` prints), which adds its own runtime lines (docs/soak.md)
  let base = viaProxy ? worker.url : await workerSocketUrl(worker);
  const t0 = Date.now(), until = t0 + minutes * 60_000;
  let procs = watched(worker, pool);
  const restarts: Record<string, number> = {};
  const samples: Record<string, { t: number; v: number }[]> = Object.fromEntries(Object.keys(procs).map((k) => [k, []]));
  const health: { t: number; activeDecodes: number }[] = [];
  const probes: { t: number; ms: number }[] = [];
  const sample = () => {
    // a process that went away (wrangler restarts workerd when the sources change) is found again and counted
    const now = watched(worker, pool);
    for (const [k, pid] of Object.entries(now)) {
      if (procs[k] === undefined || procs[k] === pid) continue;
      restarts[k] = (restarts[k] ?? 0) + 1;
      // a restarted workerd listens on a new port of its own
      if (k === "workerd" && !viaProxy) void workerSocketUrl(worker).then((u) => { base = u; }, () => {});
    }
    procs = { ...procs, ...now };
    for (const [k, pid] of Object.entries(procs)) (samples[k] ??= []).push({ t: Date.now() - t0, v: rssMb(pid) });
  };
  const probe = async () => {
    const s = performance.now();
    try {
      const h = await (await fetch(`${base}/health`)).json() as { activeDecodes: number };
      probes.push({ t: Date.now() - t0, ms: performance.now() - s });
      health.push({ t: Date.now() - t0, activeDecodes: h.activeDecodes });
    } catch { probes.push({ t: Date.now() - t0, ms: NaN }); }
  };
  const devtools = await inspector(worker.inspectorPort);
  const readHeap = devtools.heap;
  const workerdPid = procs.workerd;
  const runtime = workerdPid !== undefined ? await runtimeIsolates(workerdPid) : null;
  const collections = { samples: 0, failed: new Map<string, number>() };
  const heapSamples: { t: number; heap: number; backing: number }[] = [];
  const sampleHeap = async () => { const h = await readHeap(); if (h) heapSamples.push({ t: Date.now() - t0, heap: h.heapMB, backing: h.backingMB }); };
  // each sample forces a full collection first, so the RSS read after it holds no garbage waiting to be collected
  // the pool worker's own account of its memory (main thread's JS heap, external, ArrayBuffers) beside its RSS
  const poolSamples: { t: number; heapUsed: number; heapTotal: number; external: number; arrayBuffers: number; threadsHeapUsed: number; threadsHeapTotal: number }[] = [];
  const samplePool = async () => {
    if (!pool) return;
    try {
      const m = ((await (await fetch(`${pool.url}/health`, { signal: AbortSignal.timeout(5000) })).json()) as { memoryMB?: { heapUsed: number; heapTotal: number; external: number; arrayBuffers: number; threadsHeapUsed: number; threadsHeapTotal: number } }).memoryMB;
      if (m) poolSamples.push({ t: Date.now() - t0, ...m });
    } catch { /* busy or gone: the RSS sample still counts */ }
  };
  const sampleAll = async () => {
    const uncollected = procs.workerd !== undefined ? rssMb(procs.workerd) : NaN;
    if (runtime) {
      const c = await runtime.collect();
      collections.samples++;
      for (const n of c.failed) collections.failed.set(n, (collections.failed.get(n) ?? 0) + 1);
    }
    await sampleHeap();
    sample();
    (samples["workerd-before-collection"] ??= []).push({ t: Date.now() - t0, v: uncollected });
    await samplePool();
  };
  await sampleAll();
  const sampler = setInterval(() => void sampleAll(), sampleMs);
  const prober = setInterval(() => void probe(), 2000);
  const rnd = mulberry32(seed);
  let requests = 0;
  const progress = setInterval(() => console.error(`soak: ${Math.round((Date.now() - t0) / 1000)} s, ${requests} requests, ${open} open`), 60_000);
  try {
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (Date.now() < until) {
        requests++;
        // a request that outlives every deadline of its own is a hang, and its loop moves on
        let guard: ReturnType<typeof setTimeout> | undefined;
        const planned = plan(rnd), startedS = Math.round((Date.now() - runStart) / 1000);
        await Promise.race([one(base, planned), new Promise<void>((r) => { guard = setTimeout(() => {
          // its abort did not end it either
          count("hang");
          if (hangs.length < 20) hangs.push({ ...describe(planned), startedS, neverSettled: true });
          r();
        }, 4 * HANG_MS); })]);
        clearTimeout(guard);
      }
    }));
    clearInterval(prober);
    clearInterval(progress);
    console.error("soak: load done; 10 s of quiet, then the last samples");
    await sampleAll();
    await new Promise((r) => setTimeout(r, 10_000));
    clearInterval(sampler);
    await sampleAll();
    const afterRes = await fetch(`${base}/health`);
    const after = await afterRes.json() as { status: string; activeDecodes: number; decodes: Record<string, number>; pool: unknown };
    const log = worker.log() + (pool?.log() ?? "");
    const logLines = log.split("\n");
    const errorAt = logLines.map((l, i) => [l, i] as const).filter(([l]) => /Uncaught|different request context|hung and would never|Unhandled/i.test(l));
    // The runtime's report of a client that disconnected: `Uncaught Error: Network connection lost.` with no stack
    // under it (no JavaScript threw it). workerd logs it for every request whose client leaves before the response
    // headers went out (a non-streamed answer on the Worker's own socket) and, through wrangler dev's local proxy, for
    // about 0.3% of aborted streams, whatever the Worker: a ten-line Worker does the same (docs/soak.md). Counted
    // apart, and only as many as there were client aborts; any other uncaught line fails the run.
    const isDisconnect = ([l, i]: readonly [string, number]) => /Uncaught Error: Network connection lost\.\s*(\x1b\[0m)?\s*$/.test(l) && !/^\s+at /.test(logLines[i + 1] ?? "");
    const disconnect = errorAt.filter(isDisconnect).map(([l]) => l);
    const connectionLost = disconnect.slice(0, endings.client_abort ?? 0);
    const uncaught = [...errorAt.filter((e) => !isDisconnect(e)).map(([l]) => l), ...disconnect.slice(connectionLost.length)];
    const runMs = Date.now() - t0;
    const memory = Object.fromEntries(Object.entries(samples).map(([k, pts]) => {
      const half = pts.filter((p) => p.t >= (until - t0) / 2 && p.t <= until - t0 + 1000);
      return [k, { start: round(pts[0].v), max: round(Math.max(...pts.map((p) => p.v))), end: round(pts[pts.length - 1].v),
        slopeLastHalfMBPerMin: round(slope(half), 2) }];
    }));
    // the last half of the load (the samples after it, when requests have stopped, are reported but not fitted)
    const lastHalf = <T extends { t: number }>(xs: T[]) => xs.filter((p) => p.t >= (until - t0) / 2 && p.t <= until - t0 + 1000);
    const isolate = heapSamples.length ? {
      heapAfterGcMB: { start: round(heapSamples[0].heap), max: round(Math.max(...heapSamples.map((h) => h.heap))), end: round(heapSamples[heapSamples.length - 1].heap),
        slopeLastHalfMBPerMin: round(slope(lastHalf(heapSamples).map((h) => ({ t: h.t, v: h.heap }))), 2) },
      arrayBuffersMB: { start: round(heapSamples[0].backing), max: round(Math.max(...heapSamples.map((h) => h.backing))), end: round(heapSamples[heapSamples.length - 1].backing),
        slopeLastHalfMBPerMin: round(slope(lastHalf(heapSamples).map((h) => ({ t: h.t, v: h.backing }))), 2) },
    } : null;
    const poolWorker = poolSamples.length ? Object.fromEntries((["heapUsed", "heapTotal", "external", "arrayBuffers", "threadsHeapUsed", "threadsHeapTotal"] as const).map((k) => [k, {
      start: round(poolSamples[0][k]), max: round(Math.max(...poolSamples.map((p) => p[k]))), end: round(poolSamples[poolSamples.length - 1][k]),
      slopeLastHalfMBPerMin: round(slope(lastHalf(poolSamples).map((p) => ({ t: p.t, v: p[k] }))), 2) }])) : null;
    const fifth = (minutes * 60_000) / 5;
    const lat = (from: number, to: number) => { const xs = probes.filter((p) => p.t >= from && p.t < to && Number.isFinite(p.ms)).map((p) => p.ms);
      return { p50: round(pct(xs, 0.5)), p95: round(pct(xs, 0.95)), n: xs.length }; };
    const violations: string[] = [];
    const bad5xx = Object.entries(endings).filter(([k]) => k.startsWith("http_5") && k !== "http_503_json");
    if (afterRes.status !== 200) violations.push(`/health answered ${afterRes.status} ${after.status} after the load`);
    if (after.activeDecodes !== 0) violations.push(`${after.activeDecodes} decodes still active 10 s after the load`);
    if (endings.hang) violations.push(`${endings.hang} hung requests`);
    if (endings.truncated) violations.push(`${endings.truncated} truncated streams`);
    if (uncaught.length) violations.push(`${uncaught.length} uncaught errors in the server's log`);
    if (bad5xx.length) violations.push(`5xx: ${bad5xx.map(([k, v]) => `${k} × ${v}`).join(", ")}`);
    const wrongRefusals = refusals.filter((r) => r.open + r.recentAborts < MAX_DECODES);
    if (wrongRefusals.length) violations.push(`${wrongRefusals.length} too_many_concurrent_requests refusals with fewer than ${MAX_DECODES} requests running`);
    for (const k of Object.keys(endings)) if (k.endsWith("_unexpected") || k === "bad_request_accepted" || k === "malformed" || k.startsWith("client_error")) violations.push(`${endings[k]} × ${k}`);
    if (Object.keys(restarts).length) violations.push(`processes restarted during the run: ${JSON.stringify(restarts)}`);
    if (maxSlope !== undefined) {
      for (const [k, m] of Object.entries(memory)) if (k !== "wrangler" && k !== "workerd-proxy" && k !== "workerd-before-collection" && m.slopeLastHalfMBPerMin > maxSlope) violations.push(`${k} RSS slope ${m.slopeLastHalfMBPerMin} MB/min > ${maxSlope}`);
      if (isolate && isolate.heapAfterGcMB.slopeLastHalfMBPerMin + isolate.arrayBuffersMB.slopeLastHalfMBPerMin > maxSlope) violations.push(`isolate heap slope over ${maxSlope} MB/min`);
    }
    const summary = {
      config: { minutes, concurrency, abortRate, badRate, longRate, streamRate, seed, pool: withPool, viaProxy, sampleS: sampleMs / 1000 },
      requests, endings: Object.fromEntries(Object.entries(endings).sort()), fiveXXBodies: fiveXX, hangs,
      tooManyConcurrent: { total: refusals.length, withFewerRunning: wrongRefusals.length },
      restarts, server: { activeDecodesAfter10s: after.activeDecodes, decodes: after.decodes, maxActiveDecodesSeen: Math.max(0, ...health.map((h) => h.activeDecodes)) },
      memoryMB: memory, runtimeCollections: { isolates: runtime?.names ?? [], samples: collections.samples, unanswered: Object.fromEntries(collections.failed) }, isolateMB: isolate, poolWorkerMB: poolWorker, heapSamples: heapSamples.map((h) => [round(h.t / 1000, 0), round(h.heap), round(h.backing)]), rssSamples: Object.fromEntries(Object.entries(samples).map(([k, pts]) => [k, pts.map((p) => [round(p.t / 1000, 0), round(p.v)])])),
      probeLatencyMs: { firstFifth: lat(0, fifth), lastFifth: lat(4 * fifth, 5 * fifth) },
      uncaughtErrors: uncaught.length, uncaughtSample: uncaught.slice(0, 5), clientDisconnectLines: connectionLost.length, runSeconds: round(runMs / 1000, 0),
      ok: violations.length === 0, violations,
    };
    const text = JSON.stringify(summary, null, 2);
    console.log(text);
    if (flags.has("out")) writeFileSync(flags.get("out")!, text + "\n");
    process.exitCode = violations.length ? 1 : 0;
  } finally {
    clearInterval(progress);
    clearInterval(sampler);
    clearInterval(prober);
    devtools?.close();
    runtime?.close();
    await worker.stop();
    if (pool) { pool.child.kill("SIGTERM"); await new Promise((r) => setTimeout(r, 500)); if (pool.child.exitCode === null) pool.child.kill("SIGKILL"); }
  }
}

// exits once the summary is out: a request that never settled (a hang) must not keep the process alive
main().then(() => process.exit(), (e) => { console.error(e); process.exit(2); });
