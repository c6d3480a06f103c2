// One implementation of the matmul benchmark, run in its own process by scripts/bench/kernels.ts.
// Usage: tsx scripts/bench/kernels-peer.ts <asm|js|ort-web|ort-node> '<shapes JSON>'
// Prints one JSON line per (op, shape): the median seconds per call over timed samples.
import { WasmKernels } from "../../src/kernels/wasm/wasm-kernels.ts";
import { compileKernelsModuleNode } from "../../wasm/node.ts";
import { matmulModel, transpose } from "./onnx-matmul.ts";
import { loadOrt, type Ort } from "./ort.ts";

/** cold: each call reads a different copy of the weights from a pool larger than the caches (asm only), as a
 * model's forward pass does when it walks through all its layers. */
export interface Shape { op: "matmulF32" | "matmulQ8"; m: number; k: number; n: number; label?: string; cold?: boolean }

const COLD_POOL_BYTES = 96 << 20;
type Impl = "asm" | "js" | "ort-web" | "ort-node";
type Call = () => unknown;

const SAMPLES = 15;
const SAMPLE_SECONDS = 0.02;
const WARMUP_SECONDS = 0.3;

/**
 * Median seconds per call: calls are batched so each sample lasts about SAMPLE_SECONDS. The warm-up lets
 * V8 tier hot code up (Wasm starts in Liftoff, JS in the interpreter), so samples measure steady state.
 */
async function medianSeconds(call: Call): Promise<number> {
  const warmEnd = performance.now() + WARMUP_SECONDS * 1000;
  do await time(call, 1); while (performance.now() < warmEnd);
  let reps = 1;
  for (;;) {
    if ((await time(call, reps)) >= SAMPLE_SECONDS / 4 || reps > 1 << 20) break;
    reps *= 2;
  }
  reps = Math.max(1, Math.round(reps * SAMPLE_SECONDS / Math.max(1e-9, await time(call, reps))));
  const samples: number[] = [];
  for (let s = 0; s < SAMPLES; s++) samples.push((await time(call, reps)) / reps);
  samples.sort((a, b) => a - b);
  return samples[samples.length >> 1];
}

/** Seconds for reps calls; async calls (onnxruntime's run) are awaited, synchronous ones are not. */
async function time(call: Call, reps: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) {
    const r = call();
    if (r instanceof Promise) await r;
  }
  return (performance.now() - t0) / 1000;
}

function randoms(n: number, scale: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => { s = (s * 1664525 + 1013904223) >>> 0; return (s / 2 ** 32 - 0.5) * scale; });
}

let kernelsModule: WebAssembly.Module | undefined;

async function asmCall(s: Shape): Promise<Call> {
  const wBytes = s.op === "matmulF32" ? 4 * s.n * s.k : s.n * s.k;
  const copies = s.cold ? Math.ceil(COLD_POOL_BYTES / wBytes) : 1;
  const bytes = 4 * (s.m * s.k + s.m * s.n + s.n) + 2 * s.k + copies * (wBytes + 16);
  kernelsModule ??= compileKernelsModuleNode();
  const K = await WasmKernels.create(kernelsModule, bytes + 4096);
  const a = K.arena;
  const x = a.allocF32(s.m * s.k), out = a.allocF32(s.m * s.n);
  a.f32(x, s.m * s.k).set(randoms(s.m * s.k, 2, 1));
  const ws = Array.from({ length: copies }, () => a.alloc(wBytes));
  let next = 0;
  const w = () => { const p = ws[next]; next = (next + 1) % copies; return p; };
  if (s.op === "matmulF32") {
    const values = randoms(s.n * s.k, 0.2, 2);
    for (const p of ws) a.f32(p, s.n * s.k).set(values);
    return () => K.matmulF32(out, x, w(), s.m, s.k, s.n);
  }
  const scale = a.allocF32(s.n), xq = a.alloc(8 * s.k);
  for (const p of ws) {
    const wq = a.i8(p, s.n * s.k);
    for (let i = 0; i < wq.length; i++) wq[i] = ((i * 2654435761) >>> 24) - 128;
  }
  a.f32(scale, s.n).fill(0.01);
  return () => K.matmulQ8(out, x, w(), scale, xq, s.m, s.k, s.n);
}

function jsCall(s: Shape): Call {
  const { m, k, n } = s;
  const x = randoms(m * k, 2, 1), out = new Float32Array(m * n);
  if (s.op === "matmulF32") {
    const w = randoms(n * k, 0.2, 2);
    return () => {
      for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let kk = 0; kk < k; kk++) acc += x[i * k + kk] * w[j * k + kk];
        out[i * n + j] = acc;
      }
    };
  }
  const w = Int8Array.from({ length: n * k }, (_, i) => ((i * 2654435761) >>> 24) - 128), scale = new Float32Array(n).fill(0.01);
  return () => {
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let kk = 0; kk < k; kk++) acc += x[i * k + kk] * w[j * k + kk];
      out[i * n + j] = acc * scale[j];
    }
  };
}

async function ortCall(ort: Ort, s: Shape, options: object): Promise<Call> {
  const w = randoms(s.n * s.k, 0.2, 2);
  const session = await ort.InferenceSession.create(matmulModel(s.m, s.k, s.n, transpose(w, s.n, s.k)), options);
  const feeds = { x: new ort.Tensor("float32", randoms(s.m * s.k, 2, 1), [s.m, s.k]) };
  return () => session.run(feeds);
}

async function main(): Promise<void> {
  const impl = process.argv[2] as Impl;
  const shapes = JSON.parse(process.argv[3]) as Shape[];
  const ortPeer = impl === "ort-web" || impl === "ort-node" ? await loadOrt(impl) : undefined;
  for (const s of shapes) {
    if ((ortPeer && s.op !== "matmulF32") || (s.cold && impl !== "asm")) continue;
    const call = impl === "asm" ? await asmCall(s) : impl === "js" ? jsCall(s) : await ortCall(ortPeer!.ort, s, ortPeer!.options);
    const seconds = await medianSeconds(call);
    console.log(JSON.stringify({ ...s, impl, seconds }));
  }
}

await main();
