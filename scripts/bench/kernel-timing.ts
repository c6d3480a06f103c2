// The kernel benchmark's parts that run anywhere (Node and workerd): timing, the matmul calls on a kernel build,
// and the register-only peak loops (wasm/peak.wasm, built from asm/peak/). scripts/bench/kernels.ts drives them in
// Node (scripts/bench/kernels-peer.ts) and inside workerd (scripts/bench/workerd/kernels.workerd.ts).
import { q8ScaleBytes, writeQ8RowSums } from "../../src/kernels/kernels.ts";
import { WasmKernels } from "../../src/kernels/wasm/wasm-kernels.ts";

/** cold: each call reads a different copy of the weights from a pool larger than the caches, as a model's forward
 * pass does when it walks through all its layers. */
export interface Shape { op: "matmulF32" | "matmulQ8"; m: number; k: number; n: number; label?: string; cold?: boolean }
export type Call = () => unknown;

const COLD_POOL_BYTES = 96 << 20;
const SAMPLES = 15;
const SAMPLE_SECONDS = 0.02;
const WARMUP_SECONDS = 0.3;

/**
 * Median seconds per call: calls are batched so each sample lasts about SAMPLE_SECONDS. The warm-up lets
 * V8 tier hot code up (Wasm starts in Liftoff, JS in the interpreter), so samples measure steady state.
 */
export async function medianSeconds(call: Call): Promise<number> {
  const warmEnd = performance.now() + WARMUP_SECONDS * 1000;
  do await time(call, 1); while (performance.now() < warmEnd);
  let reps = 1, t = 0;
  for (;;) {
    t = await time(call, reps);
    if (t >= SAMPLE_SECONDS / 4 || reps > 1 << 20) break;
    reps *= 2;
  }
  // scaled from the calibration's own reading (≥ 5 ms): workerd's clock ticks in whole milliseconds, and a second
  // reading of a fast batch may come back 0, which would ask for an endless batch
  reps = Math.max(1, Math.round(reps * SAMPLE_SECONDS / Math.max(t, SAMPLE_SECONDS / 4)));
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

export function randoms(n: number, scale: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => { s = (s * 1664525 + 1013904223) >>> 0; return (s / 2 ** 32 - 0.5) * scale; });
}

/** Arena bytes one shape's call needs (asmCall). */
export function shapeBytes(s: Shape): number {
  const wBytes = s.op === "matmulF32" ? 4 * s.n * s.k : s.n * s.k;
  const copies = s.cold ? Math.ceil(COLD_POOL_BYTES / wBytes) : 1;
  return 4 * (s.m * s.k + s.m * s.n) + q8ScaleBytes(s.n) + 8 * s.k + copies * (wBytes + 16) + 256;
}

/**
 * Kernels of one build with an arena for the largest of the shapes: one instance serves every shape (asmCall
 * releases the arena before each), so a run does not pile up Wasm memories (each reserves address space).
 */
export function kernelsFor(module: WebAssembly.Module, shapes: Shape[]): Promise<WasmKernels> {
  return WasmKernels.create(module, Math.max(4096, ...shapes.map(shapeBytes)) + 4096);
}

const marks = new WeakMap<WasmKernels, number>();

/** One matmul of shape s on the kernels K (everything K's arena held for the previous shape is released). */
export function asmCall(K: WasmKernels, s: Shape): Call {
  const a = K.arena;
  if (!marks.has(K)) marks.set(K, a.mark());
  a.release(marks.get(K)!);
  const wBytes = s.op === "matmulF32" ? 4 * s.n * s.k : s.n * s.k;
  const copies = s.cold ? Math.ceil(COLD_POOL_BYTES / wBytes) : 1;
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
  const scale = a.alloc(q8ScaleBytes(s.n)), xq = a.alloc(8 * s.k);
  for (const p of ws) {
    const wq = a.i8(p, s.n * s.k);
    for (let i = 0; i < wq.length; i++) wq[i] = ((i * 2654435761) >>> 24) - 128;
  }
  a.f32(scale, s.n).fill(0.01);
  writeQ8RowSums(a.buffer, ws[0], scale, s.k, s.n); // every copy holds the same weights
  return () => K.matmulQ8(out, x, w(), scale, xq, s.m, s.k, s.n);
}

/** The peak loops: name, the export, multiply-adds per instruction (or pair), and which kernels it bounds. */
export const PEAKS = [
  { kind: "i32x4.dot_i16x8_s+add", fn: "peakDotI16x8", macs: 8, bounds: { op: "matmulQ8", build: "simd128" } },
  { kind: "i32x4.relaxed_dot_i8x16_i7x16_add_s", fn: "peakRelaxedDotI8x16", macs: 16, bounds: { op: "matmulQ8", build: "relaxed" } },
  { kind: "f32x4.mul+add", fn: "peakF32MulAdd", macs: 4, bounds: { op: "matmulF32", build: "simd128" } },
  { kind: "f32x4.relaxed_madd", fn: "peakF32RelaxedMadd", macs: 4, bounds: null },
] as const;

export interface PeakRow { kind: string; gMacPerSec: number; bounds: { op: string; build: string } | null }

/** Each peak loop's multiply-adds per second on this engine and CPU (12 instructions per iteration). */
export async function peakRates(peakModule: WebAssembly.Module): Promise<PeakRow[]> {
  const inst = await WebAssembly.instantiate(peakModule, { env: { memory: new WebAssembly.Memory({ initial: 1, maximum: 1 }) } });
  const ex = inst.exports as Record<string, (iters: number, seed: number) => number>;
  const ITERS = 20_000;
  const out: PeakRow[] = [];
  for (const p of PEAKS) {
    const seconds = await medianSeconds(() => ex[p.fn](ITERS, 3));
    out.push({ kind: p.kind, gMacPerSec: (ITERS * 12 * p.macs) / seconds / 1e9, bounds: p.bounds });
  }
  return out;
}

/**
 * The default model's (blt-v2) int8 linear shapes, k × n, one token (M = 1) and a batch of 8 (a BLT-D block, a
 * BLT-S verification): entropy model 64-wide, local encoder/decoder 128, global 256, their FFNs and heads.
 */
export const DEFAULT_MODEL_KN: Array<[number, number]> = [
  [64, 64], [64, 192], [192, 64], [128, 128], [128, 384], [384, 128], [128, 1024], [128, 259],
  [256, 256], [256, 768], [768, 256], [256, 128], [128, 256],
];

/**
 * The shapes both runtimes measure on both builds: every default-model shape at M = 1 and 8 in int8, and four in
 * f32 (the builds share the f32 kernels: their two figures show the run's noise, and the f32 peak's fraction).
 */
export function buildShapes(): Shape[] {
  const out: Shape[] = [];
  for (const m of [1, 8]) for (const [k, n] of DEFAULT_MODEL_KN) out.push({ op: "matmulQ8", m, k, n, label: "blt-v2" });
  for (const [m, k, n] of [[1, 256, 256], [1, 256, 768], [8, 256, 256], [8, 128, 384]]) out.push({ op: "matmulF32", m, k, n, label: "blt-v2" });
  return out;
}
