// One implementation of the matmul benchmark, run in its own process by scripts/bench/kernels.ts.
// Usage: tsx scripts/bench/kernels-peer.ts <asm|asm-relaxed|js|ort-web|ort-node|peak> '<shapes JSON>'
// Prints one JSON line per (op, shape): the median seconds per call over timed samples (peak: one per loop).
import { chooseKernelsNode, compileKernelsModuleNode } from "../../wasm/node.ts";
import { asmCall, kernelsFor, medianSeconds, peakRates, randoms, type Call, type Shape } from "./kernel-timing.ts";
import { matmulModel, transpose } from "./onnx-matmul.ts";
import { loadOrt, type Ort } from "./ort.ts";

export type { Shape } from "./kernel-timing.ts";

/** asm: the SIMD128 build; asm-relaxed: the relaxed-SIMD build; peak: the register-only loops (no shapes). */
type Impl = "asm" | "asm-relaxed" | "js" | "ort-web" | "ort-node" | "peak";

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
  // the relaxed build and the peak loops need relaxed SIMD (Node 20: turned on here, with the optimizing tier only)
  const relaxed = impl === "asm-relaxed" || impl === "peak" ? (await chooseKernelsNode("relaxed")).module : undefined;
  if (impl === "peak") {
    const { readFileSync } = await import("node:fs");
    for (const p of await peakRates(new WebAssembly.Module(readFileSync(new URL("../../wasm/peak.wasm", import.meta.url))))) console.log(JSON.stringify({ impl, ...p }));
    return;
  }
  const module = impl === "asm" ? compileKernelsModuleNode("simd128") : relaxed;
  const ortPeer = impl === "ort-web" || impl === "ort-node" ? await loadOrt(impl) : undefined;
  const K = module ? await kernelsFor(module, shapes) : undefined;
  for (const s of shapes) {
    if ((ortPeer && s.op !== "matmulF32") || (s.cold && !K)) continue;
    const call = K ? asmCall(K, s) : impl === "js" ? jsCall(s) : await ortCall(ortPeer!.ort, s, ortPeer!.options);
    const seconds = await medianSeconds(call);
    console.log(JSON.stringify({ ...s, impl, seconds }));
  }
}

await main();
