// The demo page's controller: reads the knobs into a DecodeRequest, runs it on the chosen backend (this Worker's
// SSE API, or the engine in a Web Worker of this page), streams the bytes into #output and shows live stats.
// ?backend=server|browser picks the backend (and ?kernels=, ?mode=, ?prompt=, … preset the rest); errors are
// shown in #error. `window.bltedge` exposes the page's state for tests and the curious.
import { DEFAULT_MODEL } from "../config.ts";
import type { DecodeBackend, DecodeMode, DecodeRequest, DecodeStats } from "../protocol.ts";
import type { LoadedInfo, LoadProgress } from "./browser-engine.ts";
import { ServerBackend } from "./server-backend.ts";
import { WorkerBackend } from "./worker-backend.ts";

export type BackendKind = "server" | "browser";
export type PageState = "starting" | "idle" | "loading" | "running" | "done" | "error";

export interface Exposed {
  state: PageState;
  /** Generations started (counted as Generate is pressed, before anything awaits). */
  runs: number;
  backend: BackendKind;
  kernels: string | null;
  /** The browser model once loaded: fromCache tells whether the weights came from the Cache API. */
  model: LoadedInfo | null;
  progress: { file: string; loaded: number; total: number; fromCache: boolean }[];
  /** How many times #output grew during the last generation. */
  outputUpdates: number;
  last: { text: string; stats: DecodeStats | null; ms: number; ttfbMs: number | null; bytesPerSecond: number } | null;
  error: string | null;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const MODEL = DEFAULT_MODEL;
const params = new URLSearchParams(location.search);
const exposed: Exposed = { state: "starting", runs: 0, backend: "server", kernels: null, model: null, progress: [], outputUpdates: 0, last: null, error: null };
(window as unknown as { bltedge: Exposed }).bltedge = exposed;

function setState(s: PageState): void {
  exposed.state = s;
  document.body.dataset.state = s;
  const busy = s === "running" || s === "loading";
  $<HTMLButtonElement>("generate").disabled = busy || (exposed.backend === "browser" && !browser.ready);
  $<HTMLButtonElement>("stop").disabled = s !== "running";
}

function showError(message: string | null): void {
  exposed.error = message;
  const el = $("error");
  el.textContent = message ?? "";
  el.hidden = !message;
}

const status = (text: string) => { $("status").textContent = text; };

// ---- the browser backend: loaded once, on first selection ----
const browser: { loading?: Promise<WorkerBackend>; ready?: WorkerBackend } = {};

function onProgress(p: LoadProgress): void {
  exposed.progress.push(p);
  const bar = $<HTMLProgressElement>("progress");
  const mb = (n: number) => (n / 1e6).toFixed(1);
  if (p.file === "model.q8.safetensors") {
    bar.value = p.total ? p.loaded / p.total : 0;
    $("progress-text").textContent = `${p.fromCache ? "reading cached" : "downloading"} weights: ${mb(p.loaded)} / ${mb(p.total)} MB`;
  } else {
    $("progress-text").textContent = { kernels: "preparing the kernels…", verify: "verifying sha256 and shapes…", load: "loading the weights into the kernels…" }[p.file] ?? p.file;
  }
}

function loadBrowser(): Promise<WorkerBackend> {
  if (browser.loading) return browser.loading;
  $("model-status").hidden = false;
  setState("loading");
  status("loading the model in this browser…");
  const t0 = performance.now();
  browser.loading = WorkerBackend.load(new URL("engine-worker.js", import.meta.url), { origin: location.origin, model: MODEL, preferKernels: params.get("kernels") }, onProgress)
    .then((b) => {
      browser.ready = b;
      exposed.model = b.info;
      exposed.kernels = b.info.kernels;
      $<HTMLProgressElement>("progress").value = 1;
      $("progress-text").textContent = `${MODEL} loaded (${(b.info.weightBytes / 1e6).toFixed(1)} MB int8, ${b.info.fromCache ? "from the Cache API" : "downloaded, now cached"}) in ${Math.round(performance.now() - t0)} ms`;
      if (exposed.backend === "browser") showKernels();
      setState("idle");
      status("");
      return b;
    }, (e: Error) => {
      browser.loading = undefined;
      showError(`loading the model in this browser failed: ${e.message}`);
      $("progress-text").textContent = "load failed";
      setState("error");
      throw e;
    });
  return browser.loading;
}

// ---- which backend, and its kernels ----
let serverKernels: string | null = null;

function showKernels(): void {
  const el = $("kernels");
  if (exposed.backend === "browser") {
    const info = browser.ready?.info;
    el.textContent = info ? `${info.kernels} (in this browser)` : "…";
    el.title = info?.kernelsReport.join("\n") ?? "";
    const others = info?.kernelsReport.filter((r) => !r.endsWith("in use")) ?? [];
    $("kernels-note").textContent = others.length ? `· ${others.join(" · ")}` : "";
    exposed.kernels = info?.kernels ?? null;
  } else {
    el.textContent = serverKernels ? `${serverKernels} (on the server)` : "on the server";
    el.title = "";
    $("kernels-note").textContent = "";
    exposed.kernels = serverKernels;
  }
}

function selectBackend(kind: BackendKind): void {
  exposed.backend = kind;
  $<HTMLInputElement>(`backend-${kind}`).checked = true;
  params.set("backend", kind);
  history.replaceState(null, "", `${location.pathname}?${params}`);
  $("model-status").hidden = kind !== "browser";
  showKernels();
  if (kind === "browser") loadBrowser().catch(() => {});
  else if (exposed.state !== "running") setState("idle");
}

// ---- a request from the knobs ----
function numberOf(id: string, label: string, fallback?: number): number {
  const raw = $<HTMLInputElement>(id).value.trim();
  if (raw === "" && fallback !== undefined) return fallback;
  const n = Number(raw);
  if (raw === "" || !Number.isFinite(n)) throw new Error(`${label}: ${JSON.stringify(raw)} is not a number`);
  return n;
}

function requestFromKnobs(): DecodeRequest {
  const blockSize = numberOf("block-size", "block size");
  return {
    model: MODEL,
    prompt: new TextEncoder().encode($<HTMLTextAreaElement>("prompt").value),
    maxNewBytes: numberOf("max-bytes", "max bytes"),
    mode: $<HTMLSelectElement>("mode").value as DecodeMode,
    sampling: { temperature: numberOf("temperature", "temperature"), topP: 1, topK: 0, seed: numberOf("seed", "seed", crypto.getRandomValues(new Uint32Array(1))[0]) },
    knobs: { blockSize, threshold: numberOf("threshold", "threshold"), entropyBound: null, maxStepsPerBlock: blockSize, draftLength: numberOf("draft-length", "draft length") },
    stop: [],
  };
}

// ---- generation ----
let running: AbortController | undefined;

function showStats(bytes: number, ms: number, ttfbMs: number | null, s: DecodeStats | null): number {
  const bps = ms > 0 ? (bytes * 1000) / ms : 0;
  $("stat-bytes").textContent = String(bytes);
  $("stat-bps").textContent = bytes ? bps.toFixed(0) : "–";
  $("stat-ttfb").textContent = ttfbMs === null ? "–" : `${Math.round(ttfbMs)} ms`;
  if (s) {
    const per = (v: number) => (s.generatedBytes ? v / s.generatedBytes : 0).toFixed(2);
    const p = s.passes;
    $("stat-ppb").textContent = per(p.decoder);
    $("stat-ppb-all").textContent = `ent ${per(p.entropy)} · enc ${per(p.encoder)} · glob ${per(p.global)}`;
    $("stat-ppb").title = `passes per generated byte; engine time ${Math.round(s.wallMs)} ms`;
    $("stat-drafts").textContent = s.draftedBytes ? `${s.acceptedBytes} / ${s.draftedBytes}` : "–";
  }
  return bps;
}

async function generate(): Promise<void> {
  exposed.runs++;
  showError(null);
  let request: DecodeRequest;
  try {
    request = requestFromKnobs();
  } catch (e) {
    showError((e as Error).message);
    setState("error");
    return;
  }
  const backend: DecodeBackend = exposed.backend === "browser" ? await loadBrowser() : new ServerBackend(location.origin, $<HTMLInputElement>("api-key").value.trim());
  const out = $("output");
  out.textContent = "";
  $("echo").textContent = new TextDecoder().decode(request.prompt);
  for (const id of ["stat-ppb", "stat-drafts"]) $(id).textContent = "–";
  $("stat-ppb-all").textContent = "";
  $("stat-backend").textContent = exposed.backend === "browser" ? `browser · ${exposed.kernels}` : "server · SSE";
  exposed.outputUpdates = 0;
  exposed.last = null;
  running = new AbortController();
  setState("running");
  status(`generating (${request.mode})…`);
  const utf8 = new TextDecoder();
  const t0 = performance.now();
  let bytes = 0, ttfb: number | null = null, text = "";
  try {
    for await (const e of backend.decode(request, running.signal)) {
      const now = performance.now() - t0;
      if (e.type === "bytes") {
        ttfb ??= now;
        bytes += e.bytes.length;
        const piece = utf8.decode(e.bytes, { stream: true });
        text += piece;
        if (piece) { out.append(piece); exposed.outputUpdates++; }
        showStats(bytes, now, ttfb, null);
      } else if (e.type === "error") {
        const where = e.param ? ` (${e.param})` : "";
        throw new Error(e.code === "cancelled" ? "stopped" : `${e.code}${where}: ${e.message}`);
      } else {
        text += utf8.decode();
        out.textContent = text;
        const bps = showStats(bytes, now, ttfb, e.stats);
        exposed.last = { text, stats: e.stats, ms: now, ttfbMs: ttfb, bytesPerSecond: bps };
        status(`${e.finishReason === "stop" ? "stopped at a stop sequence" : "done"} · ${bytes} bytes in ${Math.round(now)} ms`);
        setState("done");
      }
    }
  } catch (e) {
    const msg = (e as Error).message;
    if (msg === "stopped") { status("stopped"); setState("idle"); }
    else { showError(msg); status(""); setState("error"); }
  } finally {
    running = undefined;
  }
}

// ---- start ----
function preset(): void {
  const set = (id: string, key: string) => { const v = params.get(key); if (v !== null) ($(id) as HTMLInputElement).value = v; };
  set("prompt", "prompt"); set("mode", "mode"); set("block-size", "block_size"); set("threshold", "threshold");
  set("draft-length", "draft_length"); set("max-bytes", "max_bytes"); set("temperature", "temperature"); set("seed", "seed");
}

function start(): void {
  preset();
  $("model-name").textContent = MODEL;
  for (const kind of ["server", "browser"] as const) $(`backend-${kind}`).addEventListener("change", () => selectBackend(kind));
  $("controls").addEventListener("submit", (e) => { e.preventDefault(); if (!$<HTMLButtonElement>("generate").disabled) void generate(); });
  $("stop").addEventListener("click", () => running?.abort());
  $("prompt").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && !$<HTMLButtonElement>("generate").disabled) void generate();
  });
  fetch("/health").then((r) => r.json()).then((h: { kernels?: string }) => { serverKernels = h.kernels ?? null; if (exposed.backend === "server") showKernels(); }).catch(() => {});
  setState("idle");
  selectBackend(params.get("backend") === "browser" ? "browser" : "server");
}

start();
