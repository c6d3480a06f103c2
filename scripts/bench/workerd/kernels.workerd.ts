// `npm run bench:kernels` runs this inside workerd (vitest's Workers pool, the project bench-workerd): both kernel
// builds on the default model's shapes, and the register-only peak loops, as imported precompiled modules the way
// the Worker loads them. Prints one `BENCH {json}` line per (round, build, shape) and per (round, peak loop); a
// benchmark run through vitest only to get inside workerd: it asserts nothing. Each (round, shape) is a test of its
// own, so its lines come back as it ends (workerd's clock ticks in whole milliseconds: kernel-timing.ts times
// batches of at least 5 ms).
import { beforeAll, it } from "vitest";
import kernelsModule from "../../../wasm/kernels.wasm";
import kernelsRelaxedModule from "../../../wasm/kernels-relaxed.wasm";
import peakModule from "../../../wasm/peak.wasm";
import type { WasmKernels } from "../../../src/kernels/wasm/wasm-kernels.ts";
import { asmCall, buildShapes, kernelsFor, medianSeconds, peakRates } from "../kernel-timing.ts";

const ROUNDS = 3;
const shapes = buildShapes();
let builds: Array<[string, WasmKernels]>;

beforeAll(async () => {
  builds = [["simd128", await kernelsFor(kernelsModule, shapes)], ["relaxed", await kernelsFor(kernelsRelaxedModule, shapes)]];
});

for (let round = 0; round < ROUNDS; round++) {
  it(`round ${round}: peak loops`, async () => {
    for (const p of await peakRates(peakModule)) console.log(`BENCH ${JSON.stringify({ round, impl: "peak", ...p })}`);
  }, 120_000);
  for (const s of shapes) {
    it(`round ${round}: ${s.op} ${s.m}×${s.k}×${s.n}`, async () => {
      // both builds back to back on each shape, so a ratio compares runs of the same moment
      for (const [build, K] of builds) {
        const seconds = await medianSeconds(asmCall(K, s));
        console.log(`BENCH ${JSON.stringify({ round, impl: "asm", build, ...s, seconds })}`);
      }
    }, 120_000);
  }
}
