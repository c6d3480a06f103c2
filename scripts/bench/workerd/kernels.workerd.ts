// `npm run bench:kernels` runs this inside workerd (vitest's Workers pool, the project bench-workerd): both kernel
// builds on the default model's shapes, and the register-only peak loops, as imported precompiled modules the way
// the Worker loads them. Prints one `BENCH {json}` line per (round, build, shape) and per (round, peak loop); a
// benchmark run through vitest only to get inside workerd: it asserts nothing.
import { it } from "vitest";
import kernelsModule from "../../../wasm/kernels.wasm";
import kernelsRelaxedModule from "../../../wasm/kernels-relaxed.wasm";
import peakModule from "../../../wasm/peak.wasm";
import { asmCall, buildShapes, medianSeconds, peakRates } from "../kernel-timing.ts";

const ROUNDS = 3;

it("kernel builds in workerd", async () => {
  const builds = [["simd128", kernelsModule], ["relaxed", kernelsRelaxedModule]] as const;
  for (let round = 0; round < ROUNDS; round++) {
    for (const p of await peakRates(peakModule)) console.log(`BENCH ${JSON.stringify({ round, impl: "peak", ...p })}`);
    for (const s of buildShapes()) {
      // both builds back to back on each shape, so a ratio compares runs of the same moment
      for (const [build, module] of builds) {
        const seconds = await medianSeconds(await asmCall(module, s));
        console.log(`BENCH ${JSON.stringify({ round, impl: "asm", build, ...s, seconds })}`);
      }
    }
  }
}, 1_800_000);
