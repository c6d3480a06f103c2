// The demo page's controller: reads the knobs into a DecodeRequest, runs it on the chosen backend (this Worker's
// SSE API, or the engine in a Web Worker of this page), streams the bytes into #output and shows live stats.
// ?backend=server|browser picks the backend (and ?kernels=, ?model=, ?mode=, ?prompt=, … preset the rest); errors are
// shown in #error, and a new run or another backend clears them and the stats. The model picker lists GET /v1/models;
// mode "auto" (the default, as in the API) lets the server pick on the server backend, and a ModePicker of the page's
// own on the browser backend. `window.bltedge` exposes the page's state for tests and the curious.
import { DEFAULT_MODEL } from "../config.ts";
import type { ByteLogprob, DecodeBackend, DecodeMode, DecodeRequest, DecodeStats } from "../protocol.ts";
import { ModePicker } from "../server/mode-picker.ts";
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
  /** The models GET /v1/models listed (`backend`: "local" ones can also run in this browser). */
  models: { id: string; backend: string }[];
  /** The browser model once loaded: fromCache tells whether the weights came from the Cache API. */
  model: LoadedInfo | null;
  progress: { file: string; loaded: number; total: number; fromCache: boolean }[];
  /** How many times #output grew during the last generation. */
  outputUpdates: number;
  last: { text: string; stats: DecodeStats | null; ms: number; ttfbMs: number | null; bytesPerSecond: number } | null;
  error: string | null;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const exposed: Exposed = { state: "starting", runs: 0, backend: "server", kernels: null, models: [], model: null, progress: [], outputUpdates: 0, last: null, error: null };
const currentModel = () => $<HTMLSelectElement>("model").value || DEFAULT_MODEL;
/** Mode "auto" on the browser backend: the page measures the lossless modes as the server does. */
const picker = new ModePicker();
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

// ---- the browser backend: each model loaded once, when first asked for ----
const loads = new Map<string, { loading?: Promise<WorkerBackend>; ready?: WorkerBackend }>();
const browser = { get ready(): WorkerBackend | undefined { return loads.get(currentModel())?.ready; } };

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

function loadBrowser(model = currentModel()): Promise<WorkerBackend> {
  const entry = loads.get(model) ?? {};
  loads.set(model, entry);
  if (entry.ready && exposed.model !== entry.ready.info) { // back to a model loaded before
    exposed.model = entry.ready.info;
    $<HTMLProgressElement>("progress").value = 1;
    $("progress-text").textContent = `${model} loaded (${(entry.ready.info.weightBytes / 1e6).toFixed(1)} MB int8)`;
  }
  if (entry.loading) return entry.loading;
  $("model-status").hidden = false;
  $<HTMLProgressElement>("progress").value = 0;
  $("progress-text").textContent = `fetching ${model}…`;
  setState("loading");
  status("loading the model in this browser…");
  const t0 = performance.now();
  entry.loading = WorkerBackend.load(new URL("engine-worker.js", import.meta.url), { origin: location.origin, model, preferKernels: params.get("kernels") }, onProgress)
    .then((b) => {
      entry.ready = b;
      exposed.model = b.info;
      exposed.kernels = b.info.kernels;
      $<HTMLProgressElement>("progress").value = 1;
      $("progress-text").textContent = `${model} loaded (${(b.info.weightBytes / 1e6).toFixed(1)} MB int8, ${b.info.fromCache ? "from the Cache API" : "downloaded, now cached"}) in ${Math.round(performance.now() - t0)} ms`;
      if (exposed.backend === "browser") showKernels();
      setState("idle");
      status("");
      return b;
    }, (e: Error) => {
      entry.loading = undefined;
      showError(`loading ${model} in this browser failed: ${e.message}`);
      $("progress-text").textContent = "load failed";
      setState("error");
      throw e;
    });
  return entry.loading;
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

/** Clears the stats, the output's figures and any error (a new run, another backend or model). */
function resetResult(): void {
  showError(null);
  for (const id of ["stat-bytes", "stat-bps", "stat-ttfb", "stat-ppb", "stat-drafts", "stat-backend"]) $(id).textContent = "–";
  $("stat-ppb-all").textContent = "";
  $("stat-ppb").title = "";
  exposed.last = null;
  exposed.outputUpdates = 0;
}

function selectBackend(kind: BackendKind): void {
  resetResult();
  exposed.backend = kind;
  $<HTMLInputElement>(`backend-${kind}`).checked = true;
  params.set("backend", kind);
  history.replaceState(null, "", `${location.pathname}?${params}`);
  $("model-status").hidden = kind !== "browser";
  showKernels();
  if (kind === "browser") loadBrowser().catch(() => {});
  else if (exposed.state !== "running") setState("idle");
}

// ---- the model picker: GET /v1/models ----
async function listModels(): Promise<void> {
  const key = $<HTMLInputElement>("api-key").value.trim();
  const res = await fetch("/v1/models", { headers: key ? { authorization: `Bearer ${key}` } : {} });
  if (!res.ok) return; // e.g. 401 until the API key is entered: the default model stays listed
  const body = (await res.json()) as { data?: { id: string; bltedge?: { backend?: string } }[] };
  exposed.models = (body.data ?? []).map((m) => ({ id: m.id, backend: m.bltedge?.backend ?? "local" }));
  if (!exposed.models.length) return;
  const select = $<HTMLSelectElement>("model"), was = select.value;
  select.replaceChildren(...exposed.models.map((m) => {
    const o = document.createElement("option");
    o.value = m.id;
    o.textContent = m.backend === "pool" ? `${m.id} (GPU pool)` : m.id;
    return o;
  }));
  select.value = exposed.models.some((m) => m.id === was) ? was : exposed.models[0].id;
  updateModelChoices();
  if (select.value !== was) selectModel();
}

/** On the browser backend only the models the Worker itself serves (their files at /models/<id>/) can run. */
function updateModelChoices(): void {
  for (const o of Array.from($<HTMLSelectElement>("model").options)) o.disabled = exposed.backend === "browser" && exposed.models.find((m) => m.id === o.value)?.backend === "pool";
}

function selectModel(): void {
  resetResult();
  $("model-name").textContent = currentModel();
  params.set("model", currentModel());
  history.replaceState(null, "", `${location.pathname}?${params}`);
  if (exposed.backend === "browser") loadBrowser().catch(() => {});
}

// ---- a request from the knobs ----
function numberOf(id: string, label: string, fallback?: number): number {
  const raw = $<HTMLInputElement>(id).value.trim();
  if (raw === "" && fallback !== undefined) return fallback;
  const n = Number(raw);
  if (raw === "" || !Number.isFinite(n)) throw new Error(`${label}: ${JSON.stringify(raw)} is not a number`);
  return n;
}

/** The request of the knobs; mode "auto" is left as "ar" here and resolved by the backend (generate). */
function requestFromKnobs(): DecodeRequest {
  const blockSize = numberOf("block-size", "block size");
  const mode = $<HTMLSelectElement>("mode").value as DecodeMode | "auto";
  return {
    model: currentModel(),
    prompt: new TextEncoder().encode($<HTMLTextAreaElement>("prompt").value),
    maxNewBytes: numberOf("max-bytes", "max bytes"),
    mode: mode === "auto" ? "ar" : mode,
    sampling: { temperature: numberOf("temperature", "temperature"), topP: 1, topK: 0, seed: numberOf("seed", "seed", crypto.getRandomValues(new Uint32Array(1))[0]) },
    knobs: { blockSize, threshold: numberOf("threshold", "threshold"), entropyBound: null, maxStepsPerBlock: blockSize, draftLength: numberOf("draft-length", "draft length") },
    stop: [],
    ...(structured() ? { responseFormat: { type: "json_schema", json_schema: { name: "page", schema: schemaOf() } } } : {}),
    ...($<HTMLInputElement>("show-logprobs").checked ? { logprobs: 5 } : {}),
  };
}

const structured = () => $<HTMLInputElement>("structured").checked;
function schemaOf(): unknown {
  try { return JSON.parse($<HTMLTextAreaElement>("schema").value); } catch (e) { throw new Error(`JSON schema: ${(e as Error).message}`); }
}

/**
 * Appends bytes with their log-probabilities: one span per character, shaded by its bytes' summed log-probability
 * (a heat map), its title listing each byte's figure and the most likely bytes there.
 */
function appendWithLogprobs(out: HTMLElement, bytes: Uint8Array, records: ByteLogprob[]): void {
  const show = (b: number) => (b >= 0x20 && b < 0x7f ? JSON.stringify(String.fromCharCode(b)) : `0x${b.toString(16).padStart(2, "0")}`);
  for (let i = 0; i < bytes.length;) {
    const lead = bytes[i], n = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
    const span = document.createElement("span"), rs = records.slice(i, i + n);
    span.className = "lp";
    span.textContent = new TextDecoder().decode(bytes.subarray(i, i + n));
    const lp = rs.reduce((a, r) => a + r.logprob, 0);
    span.style.background = `rgba(220, 80, 40, ${Math.min(0.6, (1 - Math.exp(lp)) * 0.6).toFixed(2)})`;
    span.title = rs.map((r) => `${show(r.byte)}: ${r.logprob.toFixed(3)} (p ${Math.exp(r.logprob).toFixed(3)}); top ${r.top.map((t) => `${show(t.byte)} ${t.logprob.toFixed(2)}`).join(", ")}`).join("\n");
    out.append(span);
    i += n;
  }
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
  resetResult();
  $("output").textContent = "";
  let request: DecodeRequest;
  try {
    request = requestFromKnobs();
  } catch (e) {
    showError((e as Error).message);
    setState("error");
    return;
  }
  const auto = $<HTMLSelectElement>("mode").value === "auto", greedy = request.sampling.temperature === 0;
  let backend: DecodeBackend;
  try {
    backend = exposed.backend === "browser" ? await loadBrowser(request.model)
      : new ServerBackend(location.origin, $<HTMLInputElement>("api-key").value.trim(), [request.model], auto ? { mode: "auto" } : {});
  } catch {
    return; // the load's error is shown
  }
  if (auto && exposed.backend === "browser") request.mode = picker.choose("browser", request.model, greedy);
  const out = $("output");
  out.textContent = "";
  $("echo").textContent = new TextDecoder().decode(request.prompt);
  $("stat-backend").textContent = exposed.backend === "browser" ? `browser · ${exposed.kernels}` : "server · SSE";
  running = new AbortController();
  setState("running");
  status(`generating (${auto && exposed.backend === "server" ? "auto" : request.mode})…`);
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
        if (piece && e.logprobs) { appendWithLogprobs(out, e.bytes, e.logprobs); exposed.outputUpdates++; }
        else if (piece) { out.append(piece); exposed.outputUpdates++; }
        showStats(bytes, now, ttfb, null);
      } else if (e.type === "error") {
        const where = e.param ? ` (${e.param})` : "";
        throw new Error(e.code === "cancelled" ? "stopped" : `${e.code}${where}: ${e.message}`);
      } else {
        text += utf8.decode();
        if (request.logprobs == null) out.textContent = text; // (with log-probabilities the spans stay)
        const bps = showStats(bytes, now, ttfb, e.stats);
        exposed.last = { text, stats: e.stats, ms: now, ttfbMs: ttfb, bytesPerSecond: bps };
        if (auto && exposed.backend === "browser") picker.record("browser", request.model, greedy, e.stats);
        const how = auto ? ` · mode auto chose ${e.stats.mode}` : "";
        status(`${e.finishReason === "stop" ? "stopped at a stop sequence" : "done"} · ${bytes} bytes in ${Math.round(now)} ms${how}`);
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
  set("prompt", "prompt"); set("mode", "mode");
  const model = params.get("model");
  if (model) { const o = $<HTMLSelectElement>("model").options[0]; o.value = model; o.textContent = model; } set("block-size", "block_size"); set("threshold", "threshold");
  set("draft-length", "draft_length"); set("max-bytes", "max_bytes"); set("temperature", "temperature"); set("seed", "seed");
  set("schema", "schema");
  if (params.get("structured") === "1") $<HTMLInputElement>("structured").checked = true;
  if (params.get("logprobs") === "1") $<HTMLInputElement>("show-logprobs").checked = true;
  if (params.has("structured") || params.has("logprobs") || params.has("schema")) $<HTMLDetailsElement>("structured-options").open = true;
}

function start(): void {
  preset();
  $("model-name").textContent = currentModel();
  for (const kind of ["server", "browser"] as const) $(`backend-${kind}`).addEventListener("change", () => { selectBackend(kind); updateModelChoices(); });
  $("model").addEventListener("change", selectModel);
  $("api-key").addEventListener("change", () => { listModels().catch(() => {}); });
  listModels().catch(() => {});
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
