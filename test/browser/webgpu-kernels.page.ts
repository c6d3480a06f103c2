// Browser side of the WebGPU kernel tests: every op runs through WebGpuKernels and RefKernels on the same random,
// ragged inputs; each check returns its worst error as a multiple of the tolerance Node passes in (≤ 1 passes).
import { fillCausalRanges } from "../../src/kernels/attention-ranges.ts";
import type { Ptr } from "../../src/kernels/arena.ts";
import type { Kernels } from "../../src/kernels/kernels.ts";
import { WasmKernels } from "../../src/kernels/wasm/wasm-kernels.ts";
import { WebGpuKernels } from "../../src/kernels/webgpu/webgpu-kernels.ts";
import { TwinKernels, attentionMasks, rng, ropeTable, worstError } from "../support/twin-kernels.ts";

export interface Tol { atol: number; rtol: number }
/** One comparison: worst = max |gpu − ref| / (atol + rtol·|ref|) under op's tolerance; ≤ 1 passes. */
export interface Check { op: string; what: string; worst: number; maxAbs: number }
export interface Counts { buffers: number; bindGroups: number }
export type Tolerances = Record<string, Tol>;
export interface KernelTestApi {
  init(): Promise<string>;
  groups: Record<string, (tol: Tolerances) => Promise<Check[]>>;
  steadyState(): Promise<{ before: Counts; after: Counts }>;
  errors(): string[];
}

const R = rng(4321);
const ROWS = [1, 2, 3, 4, 5, 8, 9];
const DIMS = [1, 3, 4, 7, 16, 17, 33, 64, 130];
let gpu: WebGpuKernels, wasm: WasmKernels, t: TwinKernels, checks: Check[] = [], tols: Tolerances = {};
const counts: Counts = { buffers: 0, bindGroups: 0 };
const deviceErrors: string[] = [];

// Uploads every input allocated since the last reset, runs op on both implementations, reads back outs (floats).
async function exec(op: (k: Kernels) => void, outs: Array<[Ptr, number]>): Promise<void> {
  gpu.upload(0, gpu.arena.usedBytes);
  t.run(op);
  await gpu.sync(outs.map(([p, n]) => [p, n * 4] as [number, number]));
}

function close(ptr: Ptr, n: number, op: string, what: string): void {
  const { fast, ref } = t.read(ptr, n);
  close2(fast, ref, op, what);
}

function close2(fast: Float32Array, other: Float32Array, op: string, what: string): void {
  const tol = tols[op];
  if (!tol) throw new Error(`no tolerance for ${op}`);
  let maxAbs = 0;
  for (let i = 0; i < fast.length; i++) maxAbs = Math.max(maxAbs, Math.abs(fast[i] - other[i]) || 0);
  checks.push({ op, what, worst: worstError(fast, other, tol.atol, tol.rtol), maxAbs });
}

const groups: Record<string, () => Promise<void>> = {
  async matmulF32() {
    for (const m of [1, 2, 3, 4, 5, 8, 13]) for (const k of [...DIMS, 257]) for (const n of [1, 3, 5, 16, 31, 64, 65, 130]) {
      t.reset();
      const x = t.f32(R.normals(m * k)), w = t.f32(R.normals(n * k, 0.1)), out = t.zeros(m * n);
      await exec((K) => K.matmulF32(out, x, w, m, k, n), [[out, m * n]]);
      close(out, m * n, "matmulF32", `matmulF32 m=${m} k=${k} n=${n}`);
    }
  },
  async matmulRowsAlone() {
    for (const k of [1, 5, 64, 130]) for (const n of [3, 16, 33, 70]) {
      t.reset();
      const m = 9;
      const x = t.f32(R.normals(m * k)), w = t.f32(R.normals(n * k, 0.1)), all = t.zeros(m * n), one = t.zeros(m * n);
      gpu.upload(0, gpu.arena.usedBytes);
      gpu.matmulF32(all, x, w, m, k, n);
      for (let i = 0; i < m; i++) gpu.matmulF32(one + i * n * 4, x + i * k * 4, w, 1, k, n);
      await gpu.sync([[all, m * n * 4], [one, m * n * 4]]);
      const a = gpu.arena.f32(all, m * n), b = gpu.arena.f32(one, m * n);
      checks.push({ op: "matmulF32", what: `matmulF32 m=9 vs 9×(m=1) k=${k} n=${n}`, worst: worstError(a, b, 0, 0), maxAbs: 0 });
    }
  },
  async matmulQ8() {
    const { atol, rtol } = tols.matmulQ8;
    for (const m of [1, 2, 5, 6]) for (const k of [1, 3, 15, 16, 17, 64, 65, 250, 8192]) for (const [n, off] of [[1, 0], [3, 1], [4, 0], [9, 2], [65, 3], [130, 0]]) {
      t.reset();
      const xs = R.normals(m * k), ws = Int8Array.from({ length: n * k }, () => R.int(-128, 128));
      const scales = Float32Array.from({ length: n }, () => 0.001 + R.next() * 0.02);
      const padded = new Int8Array(off + n * k);
      padded.set(ws, off);
      const x = t.f32(xs), w = t.i8(padded) + off, s = t.f32(scales), xq = t.zeros(2 * k), out = t.zeros(m * n);
      await exec((K) => K.matmulQ8(out, x, w, s, xq, m, k, n), [[out, m * n]]);
      // |error| ≤ Σ_k |w|·scale·(amax/8191)/2: the rounding of x to 14 bits, plus f32 rounding of the result.
      const { fast, ref } = t.read(out, m * n);
      let worst = 0, maxAbs = 0;
      for (let i = 0; i < m; i++) {
        let amax = 0;
        for (let c = 0; c < k; c++) amax = Math.max(amax, Math.abs(xs[i * k + c]));
        for (let j = 0; j < n; j++) {
          let wabs = 0;
          for (let c = 0; c < k; c++) wabs += Math.abs(ws[j * k + c]);
          const bound = wabs * scales[j] * (amax / 8191) / 2 * 1.01 + atol + rtol * Math.abs(ref[i * n + j]);
          const err = Math.abs(fast[i * n + j] - ref[i * n + j]);
          worst = Math.max(worst, Number.isNaN(err) ? Infinity : err / bound);
          maxAbs = Math.max(maxAbs, err);
        }
      }
      checks.push({ op: "matmulQ8", what: `matmulQ8 m=${m} k=${k} n=${n} w+${off}`, worst, maxAbs });
      // The Wasm kernel quantises x the same way (x / (amax/8191), round half to even) and sums exactly too.
      const W = wasm.arena, mark = W.mark();
      const wx = W.allocF32(m * k), ww = W.alloc(n * k), wsc = W.allocF32(n), wxq = W.alloc(8 * k), wout = W.allocF32(m * n);
      W.f32(wx, m * k).set(xs); W.i8(ww, n * k).set(ws); W.f32(wsc, n).set(scales);
      wasm.matmulQ8(wout, wx, ww, wsc, wxq, m, k, n);
      close2(fast, W.f32(wout, m * n), "matmulQ8 vs wasm", `matmulQ8 m=${m} k=${k} n=${n} against the Wasm kernel`);
      W.release(mark);
    }
  },
  async norms() {
    for (const m of ROWS) for (const d of [...DIMS, 1000]) {
      t.reset();
      const x = t.f32(R.normals(m * d, 3)), w = t.f32(R.normals(d)), b = t.f32(R.normals(d));
      const o1 = t.zeros(m * d), o2 = t.zeros(m * d), o3 = t.f32(R.normals(m * d, 3));
      await exec((K) => { K.rmsNormF32(o1, x, w, m, d, 1e-5); K.layerNormF32(o2, x, w, b, m, d, 1e-5); K.rmsNormF32(o3, o3, w, m, d, 1e-6); },
        [[o1, m * d], [o2, m * d], [o3, m * d]]);
      close(o1, m * d, "rmsNormF32", `rmsNorm m=${m} d=${d}`);
      close(o2, m * d, "layerNormF32", `layerNorm m=${m} d=${d}`);
      close(o3, m * d, "rmsNormF32", `rmsNorm in place m=${m} d=${d}`);
    }
  },
  async rope() {
    for (const headDim of [2, 6, 8, 32, 34, 128]) for (const nHeads of [1, 3]) for (const m of [1, 5]) {
      t.reset();
      const rowStride = nHeads * headDim + 5;
      const x = t.f32(R.normals(m * rowStride)), table = t.f32(ropeTable(64, headDim));
      const pos = t.i32(Array.from({ length: m }, () => R.int(0, 64)));
      await exec((K) => K.ropeF32(x, pos, table, m, nHeads, headDim, rowStride), [[x, m * rowStride]]);
      close(x, m * rowStride, "ropeF32", `rope hd=${headDim} heads=${nHeads} m=${m}`);
    }
  },
  async softmax() {
    for (const m of ROWS) for (const n of [1, 2, 3, 5, 8, 17, 256, 259, 1000]) {
      t.reset();
      const data = R.normals(m * n, 8);
      if (n > 2) { data[0] = 80; data[1] = 80; }
      const x = t.f32(data);
      await exec((K) => K.softmaxF32(x, m, n), [[x, m * n]]);
      close(x, m * n, "softmaxF32", `softmax m=${m} n=${n}`);
    }
  },
  async elementwise() {
    for (const n of [1, 3, 4, 5, 16, 127, 1000, 70_001]) {
      t.reset();
      const a = t.f32(R.normals(n, 4)), b = t.f32(R.normals(n, 4));
      const o1 = t.zeros(n), o2 = t.zeros(n), o3 = t.zeros(n), o4 = t.zeros(n);
      await exec((K) => { K.siluF32(o1, a, n); K.geluF32(o2, a, n); K.swigluF32(o3, a, b, n); K.addF32(o4, a, b, n); },
        [[o1, n], [o2, n], [o3, n], [o4, n]]);
      close(o1, n, "siluF32", `silu n=${n}`);
      close(o2, n, "geluF32", `gelu n=${n}`);
      close(o3, n, "swigluF32", `swiglu n=${n}`);
      close(o4, n, "addF32", `add n=${n}`);
    }
  },
  // copyF32 is exact and keeps the order of the ops around it: an add reads what the copy before it wrote, and a
  // copy reads what the add before it wrote.
  async copy() {
    for (const n of [1, 3, 4, 5, 127, 1000, 70_001]) {
      t.reset();
      const a = t.f32(R.normals(n, 4)), b = t.f32(R.normals(n, 4)), c1 = t.zeros(n), s = t.zeros(n), c2 = t.zeros(n);
      await exec((K) => { K.copyF32(c1, a, n); K.addF32(s, c1, b, n); K.copyF32(c2, s, n); K.addF32(c1, c1, b, n); },
        [[c1, n], [s, n], [c2, n]]);
      close(c1, n, "copyF32", `copy then add in place n=${n}`);
      close(s, n, "copyF32", `add reading a copy n=${n}`);
      close(c2, n, "copyF32", `copy of an add's result n=${n}`);
    }
  },
  async maxPool() {
    for (const m of [1, 2, 7, 300]) for (const d of DIMS) {
      t.reset();
      const x = t.f32(R.normals(m * d)), out = t.zeros(d);
      await exec((K) => K.maxPoolF32(out, x, m, d), [[out, d]]);
      close(out, d, "maxPoolF32", `maxPool m=${m} d=${d}`);
    }
  },
  async attention() {
    for (const nKeys of [23, 200]) for (const headDim of [1, 5, 8, 32, 65, 128]) for (const [nHeads, nKvHeads] of [[1, 1], [4, 4], [4, 2], [3, 1]]) {
      for (const [mask, m, fill] of attentionMasks(nKeys)) {
        t.reset();
        const lo = new Int32Array(m), hi = new Int32Array(m);
        fill(lo, hi);
        const q = t.f32(R.normals(m * nHeads * headDim));
        const k = t.f32(R.normals(nKeys * nKvHeads * headDim)), v = t.f32(R.normals(nKeys * nKvHeads * headDim));
        const pLo = t.i32(lo), pHi = t.i32(hi), scores = t.zeros(nKeys), out = t.zeros(m * nHeads * headDim);
        await exec((K) => K.attentionF32(out, q, k, v, pLo, pHi, scores, m, nHeads, nKvHeads, headDim), [[out, m * nHeads * headDim]]);
        close(out, m * nHeads * headDim, "attentionF32", `attention ${mask} keys=${nKeys} hd=${headDim} heads=${nHeads}/${nKvHeads}`);
      }
    }
  },
  async embed() {
    for (const d of [1, 3, 8, 17, 300]) for (const [pos0, m] of [[0, 1], [0, 9], [6, 1], [5, 11]]) {
      t.reset();
      const vocab = 259, ns = [3, 4, 5, 6, 7, 8], rows = [31, 64, 17, 100, 3, 50];
      const tokens = [256, ...Array.from({ length: pos0 + m - 1 }, () => R.int(0, 256))];
      const table = t.f32(R.normals(vocab * d)), tables = t.f32(R.normals(rows.reduce((a, b) => a + b) * d));
      const ids = t.i32(tokens.slice(pos0, pos0 + m)), tok = t.i32(tokens);
      const pNs = t.i32(ns), pRows = t.i32(rows), o1 = t.zeros(m * d), o2 = t.zeros(m * d);
      await exec((K) => {
        K.embedGatherF32(o1, table, ids, m, d);
        K.embedGatherF32(o2, table, ids, m, d);
        K.ngramEmbedSumF32(o2, tok, tables, pNs, pRows, pos0, m, ns.length, d);
      }, [[o1, m * d], [o2, m * d]]);
      close(o1, m * d, "embedGatherF32", `embedGather d=${d} m=${m}`);
      close(o2, m * d, "ngramEmbedSumF32", `embed + ngram d=${d} pos0=${pos0} m=${m}`);
    }
  },
  // More dispatches than the parameter ring holds in one sync: the ring is submitted and reused midway.
  async ringOverflow() {
    t.reset();
    const n = 1000, x = t.zeros(n), one = t.f32(new Float32Array(n).fill(1));
    await exec((K) => { for (let r = 0; r < 2500; r++) K.addF32(x, x, one, n); }, [[x, n]]);
    close(x, n, "addF32", "2500 chained addF32 in one sync");
  },
  // An upload after recorded ops must not reach the GPU before them; sync copies back only the bytes asked for.
  async ordering() {
    t.reset();
    const d = 5, table = t.f32(R.normals(259 * d)), ids = t.i32([7, 8, 9]), o1 = t.zeros(3 * d), o2 = t.zeros(3 * d);
    gpu.upload(0, gpu.arena.usedBytes);
    t.run((K) => K.embedGatherF32(o1, table, ids, 3, d));
    for (const a of [gpu.arena, t.ref.arena]) a.i32(ids, 3).set([200, 1, 258]);
    gpu.upload(ids, 12);
    t.run((K) => K.embedGatherF32(o2, table, ids, 3, d));
    await gpu.sync([[o1, 3 * d * 4], [o2, 3 * d * 4]]);
    close(o1, 3 * d, "embedGatherF32", "gather recorded before an upload reads the old ids");
    close(o2, 3 * d, "embedGatherF32", "gather recorded after it reads the new ids");
    const bytes = new Uint8Array(gpu.arena.buffer, o1, 8);
    bytes.fill(0xab);
    await gpu.sync([[o1 + 1, 2]]);
    const want = new Uint8Array(t.ref.arena.buffer, o1, 8);
    const ok = bytes[0] === 0xab && bytes[1] === want[1] && bytes[2] === want[2] && bytes[3] === 0xab && bytes[4] === 0xab;
    checks.push({ op: "sync", what: "sync([ptr+1, 2 bytes]) writes exactly those bytes", worst: ok ? 0 : Infinity, maxAbs: 0 });
    // sync reads the ranges as the ops recorded before it left them; overlapping syncs each get their bytes.
    t.reset();
    const n = 37, x = t.f32(R.normals(n)), one = t.f32(new Float32Array(n).fill(1)), y = t.f32(R.normals(n));
    gpu.upload(0, gpu.arena.usedBytes);
    const early = gpu.sync([[x, n * 4]]);
    gpu.addF32(x, x, one, n);
    await early;
    close(x, n, "addF32", "sync, then an op writing its range: the sync reads the value before the op");
    t.ref.addF32(x, x, one, n);
    gpu.addF32(y, y, one, n);
    t.ref.addF32(y, y, one, n);
    await Promise.all([gpu.sync([[x, n * 4]]), gpu.sync([[y, n * 4]])]);
    close(x, n, "addF32", "two syncs in flight at once: the first");
    close(y, n, "addF32", "two syncs in flight at once: the second");
  },
  // An arena past the default 128 MiB binding limit: refused on a default device, fine on one requested with
  // requiredLimits, including ops on its last bytes.
  async limits() {
    const bytes = 130 << 20;
    let refused = "";
    await WebGpuKernels.create(gpu.device, bytes).catch((e: Error) => { refused = e.message; });
    checks.push({ op: "limits", what: `create(${bytes}) on a default device: ${refused || "not refused"}`,
      worst: /requiredLimits/.test(refused) ? 0 : Infinity, maxAbs: 0 });
    const adapter = (await navigator.gpu.requestAdapter())!; // an adapter gives one device
    const device = await adapter.requestDevice({ requiredLimits: WebGpuKernels.requiredLimits(adapter, bytes) });
    const big = await WebGpuKernels.create(device, bytes);
    const n = 1000, a = big.arena, x = bytes - 3 * n * 4, y = x + n * 4, out = y + n * 4;
    const xs = R.normals(n), ys = R.normals(n);
    a.f32(x, n).set(xs);
    a.f32(y, n).set(ys);
    big.upload(x, 2 * n * 4);
    big.addF32(out, x, y, n);
    await big.sync([[out, n * 4]]);
    const want = Float32Array.from(xs, (v, i) => v + ys[i]);
    checks.push({ op: "limits", what: "addF32 at the end of a 130 MiB arena", worst: worstError(a.f32(out, n), want, 0, 0), maxAbs: 0 });
    big.destroy();
    device.destroy();
  },
};

const api: KernelTestApi = {
  async init() {
    const nav = navigator as Navigator & { gpu?: GPU };
    if (!nav.gpu) throw new Error("navigator.gpu is missing: this browser exposes no WebGPU");
    const adapter = await nav.gpu.requestAdapter();
    if (!adapter) throw new Error("navigator.gpu.requestAdapter() gave no adapter");
    const device = await adapter.requestDevice();
    device.addEventListener("uncapturederror", (e) => deviceErrors.push((e as GPUUncapturedErrorEvent).error.message));
    const createBuffer = device.createBuffer.bind(device), createBindGroup = device.createBindGroup.bind(device);
    device.createBuffer = (d) => { counts.buffers++; return createBuffer(d); };
    device.createBindGroup = (d) => { counts.bindGroups++; return createBindGroup(d); };
    gpu = await WebGpuKernels.create(device, 32 << 20);
    const res = await fetch("/kernels.wasm");
    if (!res.ok) throw new Error(`GET /kernels.wasm: HTTP ${res.status}`);
    wasm = await WasmKernels.create(await WebAssembly.compile(await res.arrayBuffer()), 8 << 20);
    t = new TwinKernels(gpu);
    return `${adapter.info.vendor} / ${adapter.info.architecture}`;
  },
  groups: Object.fromEntries(Object.entries(groups).map(([name, run]) => [name, async (tol: Tolerances) => {
    checks = [];
    tols = tol;
    await run();
    return checks;
  }])),
  // A decoder-like pass (norm, matmuls, attention, activations, logits readback) repeated: no buffer or bind
  // group may be created once it has run a few times.
  async steadyState() {
    t.reset();
    const a = gpu.arena, d = 96, m = 4, hd = 24, nKeys = 40;
    const x = a.allocF32(m * d), w = a.allocF32(d * d), s = a.allocF32(d), h = a.allocF32(m * d), kv = a.allocF32(nKeys * d);
    const lo = a.allocI32(m), hi = a.allocI32(m), att = a.allocF32(m * d), q = a.allocF32(m * d);
    const logits = a.allocF32(m * 259), wq = a.alloc(259 * d), sq = a.allocF32(259);
    a.f32(x, m * d).set(R.normals(m * d));
    a.f32(w, d * d).set(R.normals(d * d, 0.1));
    a.f32(s, d).fill(1);
    a.f32(sq, 259).fill(0.01);
    a.i8(wq, 259 * d).set(Int8Array.from({ length: 259 * d }, () => R.int(-128, 128)));
    a.f32(kv, nKeys * d).set(R.normals(nKeys * d));
    fillCausalRanges(a.i32(lo, m), a.i32(hi, m), nKeys - m, m);
    gpu.upload(0, a.usedBytes);
    const pass = async () => {
      gpu.rmsNormF32(h, x, s, m, d, 1e-5);
      gpu.matmulF32(q, h, w, m, d, d);
      gpu.attentionF32(att, q, kv, kv, lo, hi, 0, m, 4, 4, hd);
      gpu.swigluF32(att, att, h, m * d);
      gpu.addF32(x, x, att, m * d);
      gpu.softmaxF32(x, m, d);
      gpu.matmulQ8(logits, x, wq, sq, 0, m, d, 259);
      await gpu.sync([[logits, m * 259 * 4]]);
    };
    for (let r = 0; r < 3; r++) await pass();
    const before = { ...counts };
    for (let r = 0; r < 30; r++) await pass();
    return { before, after: { ...counts } };
  },
  errors: () => deviceErrors.slice(),
};

(globalThis as unknown as { kernelTests: KernelTestApi }).kernelTests = api;
