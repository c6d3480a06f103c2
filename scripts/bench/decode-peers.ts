// The benchmark's other implementations: the real Worker in workerd (over loopback HTTP; the engine's own wall
// time, the client's time to first byte), the PyTorch model (the reference pool worker, CPU, one thread) and the
// ONNX export run by onnxruntime-web (wasm, 1 thread) and onnxruntime-node (1 thread).
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { decodeEvent, encodeRequest, sseData } from "../../src/backends/wire.ts";
import type { DecodeStats } from "../../src/protocol.ts";
import type { KernelBuild } from "../../wasm/loader.ts";
import { startWorker } from "../dev-worker.ts";
import { request, type Case, type Config } from "./decode-cases.ts";

/** One generation: wallMs from the request's start to its last byte, prefillMs of it spent reading the prompt. */
export interface Run { bytes: Uint8Array; ttfbMs: number; wallMs: number; prefillMs: number; stats: DecodeStats | null }

/**
 * Warms every configuration up (each at least once, and for warmMs in all), then runs each on every case `repeats`
 * times, the repeats going round the configurations so that drift on this shared machine falls on all of them
 * alike. Returns runs[configuration][repeat][case].
 */
export async function roundRobin<C extends Config>(configs: C[], cases: Case[], nBytes: number, repeats: number, warmMs: number,
                                 once: (c: C, k: Case, maxBytes: number, seed: number) => Promise<Run>): Promise<Run[][][]> {
  for (let t0 = performance.now(), i = 0; i < configs.length || performance.now() - t0 < warmMs; i++) {
    await once(configs[i % configs.length], cases[0], 32, 1);
  }
  const reps: Run[][][] = configs.map(() => []);
  for (let rep = 0; rep < repeats; rep++) {
    for (const [j, c] of configs.entries()) {
      const runs: Run[] = [];
      for (const [i, k] of cases.entries()) runs.push(await once(c, k, nBytes, i + 1));
      reps[j].push(runs);
    }
  }
  return reps;
}

/**
 * The configurations on one Worker per kernel build (KERNELS=simd128 and KERNELS=relaxed, both running), the
 * repeats going round every (configuration, build) pair so that both builds' runs of a round share its moment.
 */
export async function runWorkerd(configs: Config[], cases: Case[], nBytes: number, repeats: number, log: (s: string) => void,
  model = "blt-d-small", builds: readonly KernelBuild[] = ["simd128", "relaxed"]): Promise<[Config, KernelBuild, Run[][]][]> {
  const workers = new Map<KernelBuild, Awaited<ReturnType<typeof startWorker>>>();
  const out: [Config, KernelBuild, Run[][]][] = [];
  try {
    for (const b of builds) {
      const w = await startWorker({ KERNELS: b });
      workers.set(b, w);
      const health = await (await fetch(`${w.url}/health`)).json() as { kernels: string };
      if (health.kernels !== `wasm-${b}`) throw new Error(`the Worker started with KERNELS=${b} runs ${health.kernels}`);
      log(`workerd: the Worker under wrangler dev at ${w.url} (int8 weights, as deployed; ${health.kernels})`);
    }
    const pairs = configs.flatMap((c) => builds.map((b) => ({ ...c, kernels: b })));
    // 5 s of warm-up: wrangler's own start-up work settles too
    const reps = await roundRobin(pairs, cases, nBytes, repeats, 5000, (c, k, maxBytes, seed) => streamOnce(workers.get(c.kernels)!.url, c, k, maxBytes, seed, model));
    for (const [j, c] of pairs.entries()) out.push([configs[Math.floor(j / builds.length)], c.kernels, reps[j]]);
  } finally {
    for (const w of workers.values()) await w.stop();
  }
  return out;
}

async function streamOnce(url: string, c: Config, k: Case, nBytes: number, seed: number, model: string): Promise<Run> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({
    model, prompt: new TextDecoder().decode(k.prompt), max_tokens: nBytes, temperature: c.temperature, seed, stream: true,
    stream_options: { include_usage: true }, mode: c.mode, block_size: c.blockSize ?? 8, threshold: c.threshold ?? 0.9,
    max_steps_per_block: c.steps ?? c.blockSize ?? 8, draft_length: c.draft ?? 8, block_prefix: c.prefix }) });
  if (!res.ok || !res.body) throw new Error(`workerd answered HTTP ${res.status}: ${await res.text()}`);
  let text = "", ttfbMs = 0, usage: any = null;
  for await (const data of sseData(res.body)) {
    if (data === "[DONE]") break;
    const o = JSON.parse(data);
    if (o.error) throw new Error(o.error.message);
    const t = o.choices[0]?.text;
    if (t) { if (!ttfbMs) ttfbMs = performance.now() - t0; text += t; }
    if (o.usage) usage = o.usage;
  }
  const b = usage.bltedge;
  const stats: DecodeStats = { mode: c.mode, promptBytes: usage.prompt_tokens, generatedBytes: usage.completion_tokens, passes: b.passes,
    draftedBytes: b.drafted_bytes, acceptedBytes: b.accepted_bytes, estBytesMoved: b.est_bytes_moved, wallMs: b.wall_ms, prefillMs: b.prefill_ms };
  return { bytes: new TextEncoder().encode(text), ttfbMs, wallMs: b.wall_ms, prefillMs: b.prefill_ms, stats };
}

/** PyTorch (the pool worker, full recomputation per pass) and the ONNX peers, on fewer prompts: they are slow. */
export async function runPeers(ar: Config, configs: Config[], cases: Case[], nBytes: number, repeats: number, quick: boolean,
  log: (s: string) => void): Promise<["torch" | "ort-web" | "ort-node", Config, Run[][]][]> {
  const out: ["torch" | "ort-web" | "ort-node", Config, Run[][]][] = [];
  const few = cases.slice(0, quick ? 1 : 3);
  const onnxDir = ".cache/onnx/blt-d-small";
  if (!existsSync(`${onnxDir}/meta.json`)) {
    log("ort: exporting the model to ONNX (scripts/bench/onnx_export.py)…");
    await run("/usr/bin/python3", ["-m", "scripts.bench.onnx_export", "--model", "models/blt-d-small", "--out", onnxDir]).catch((e) => log(`ort: export failed (${e.message}); ONNX peers skipped`));
  }
  if (existsSync(`${onnxDir}/meta.json`)) {
    const modulePath = "./onnx-decode.ts";
    const { createOnnxDecoder } = await import(modulePath);
    for (const impl of ["ort-web", "ort-node"] as const) {
      const dec = await createOnnxDecoder(onnxDir, impl);
      // warm up: V8 tiers ort-web's wasm up over the first thousands of calls (measured: cold runs 3–5× slower)
      for (const t0 = performance.now(); performance.now() - t0 < (quick ? 1000 : 5000);) await dec.generate(few[0].prompt, 32);
      const reps: Run[][] = [];
      for (let rep = 0; rep < repeats; rep++) {
        const runs: Run[] = [];
        for (const k of few) {
          const r = await dec.generate(k.prompt, nBytes);
          runs.push({ bytes: r.bytes, ttfbMs: r.ttfbMs, wallMs: r.wallMs, prefillMs: r.prefillMs, stats: null });
        }
        reps.push(runs);
      }
      out.push([impl, ar, reps]);
    }
  }
  const torchConfigs = [ar, ...configs.filter((c) => c.mode === "blt-d" && c.blockSize === 8 && c.threshold === 0.9 && !c.steps && c.temperature === 0)];
  const worker = await startPoolWorker();
  try {
    for (const c of torchConfigs) {
      const runs: Run[] = [];
      for (let i = 0; i < few.length; i++) runs.push(await poolOnce(worker.url, c, few[i], nBytes, i + 1));
      out.push(["torch", c, [runs]]);
    }
  } finally {
    worker.stop();
  }
  return out;
}

async function poolOnce(url: string, c: Config, k: Case, nBytes: number, seed: number): Promise<Run> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/decode`, { method: "POST", headers: { "content-type": "application/json" }, body: encodeRequest(request(c, k.prompt, nBytes, seed, "blt-d-small")) });
  if (!res.ok || !res.body) throw new Error(`pool worker answered HTTP ${res.status}: ${await res.text()}`);
  const parts: number[] = [];
  let ttfbMs = 0;
  for await (const data of sseData(res.body)) {
    const e = decodeEvent(data);
    if (e.type === "bytes") { if (!ttfbMs) ttfbMs = performance.now() - t0; parts.push(...e.bytes); }
    else if (e.type === "done") return { bytes: Uint8Array.from(parts), ttfbMs, wallMs: e.stats.wallMs, prefillMs: e.stats.prefillMs, stats: e.stats };
    else throw new Error(e.message);
  }
  throw new Error("pool stream ended early");
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: "inherit" });
    p.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited with ${code}`))));
  });
}

async function startPoolWorker(): Promise<{ url: string; stop: () => void }> {
  const child = spawn("/usr/bin/python3", ["-m", "scripts.pool.worker", "--models", "models/blt-d-small", "--port", "0", "--threads", "1"], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on("data", (d) => { out += d; const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(out); if (m) resolve(m[1]); });
    child.once("exit", (code) => reject(new Error(`pool worker exited (${code})`)));
  });
  return { url, stop: () => child.kill("SIGTERM") };
}
