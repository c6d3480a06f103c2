// `npm run bench:oracle:workerd`: scripts/bench/oracle-drafts.ts inside workerd (vitest's Workers pool, the project
// bench-workerd), on the int8 weights of the default model as the Worker serves them: greedy AR, BLT-S and BLT-S with
// oracle drafts (every drafted byte forced to AR's, so every draft is accepted) at k = 8, 16, 32, 64, 7 repeats.
// Prints speeds against AR (medians of same-round ratios) and whether every output equals AR's. A benchmark run
// through vitest only to get inside workerd: it prints figures and asserts nothing.
import { it } from "vitest";
import kernelsModule from "../../../wasm/kernels.wasm";
import weights from "../../../models/blt-v2/model.q8.safetensors";
import manifest from "../../../models/blt-v2/manifest.json";
import prompts from "./prompts.json";
import { readCheckpoint } from "../../../src/checkpoint/reader.ts";
import { Engine } from "../../../src/engine/engine.ts";
import { loadModel } from "../../../src/engine/load.ts";
import { WasmKernels } from "../../../src/kernels/wasm/wasm-kernels.ts";
import type { DecodeMode } from "../../../src/protocol.ts";
import { request } from "../../../test/support/engine-requests.ts";
import { installOracle, oracleRounds, type OracleRun } from "../oracle-hooks.ts";

const REPEATS = 7, N_BYTES = 128;

it("oracle drafts in workerd", async () => {
  const files: Record<string, Uint8Array> = {
    "manifest.json": new TextEncoder().encode(JSON.stringify(manifest)), "model.q8.safetensors": new Uint8Array(weights),
  };
  const ck = await readCheckpoint("models/blt-v2", async (name) => files[name], "q8");
  const engine = new Engine(await loadModel(ck, (bytes) => WasmKernels.create(kernelsModule, bytes)));
  const oracle = installOracle(engine.model);
  const ps = (prompts as number[][]).map((p) => Uint8Array.from(p));
  async function decode([mode, k]: [DecodeMode, number], i: number) {
    const out: number[] = [];
    let ms = 0;
    for await (const e of engine.decode(request("", { prompt: ps[i], mode, maxNewBytes: N_BYTES, knobs: { draftLength: k } }))) {
      if (e.type === "bytes") out.push(...e.bytes);
      else if (e.type === "done") ms = e.stats.wallMs - e.stats.prefillMs;
    }
    return { bytes: Uint8Array.from(out), ms };
  }
  const runs: OracleRun<[DecodeMode, number]>[] = [{ name: "ar", config: ["ar", 8], oracle: false }];
  for (const k of [8, 16, 32, 64]) runs.push({ name: `blt-s k=${k}`, config: ["blt-s", k], oracle: false }, { name: `oracle k=${k}`, config: ["blt-s", k], oracle: true });
  const { times, identical } = await oracleRounds(runs, ps, REPEATS, oracle, decode);
  const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; };
  const base = times.get("ar")!;
  console.log(`workerd, int8 weights, ${ps.length} prompts × ${N_BYTES} bytes, ${REPEATS} repeats; every output equal to AR's: ${identical}; ` +
    `AR ${(ps.length * N_BYTES * 1000 / median(base)).toFixed(0)} B/s\n` +
    runs.slice(1).map(({ name: n }) => `${n.padEnd(13)} ${median(times.get(n)!.map((v, i) => base[i] / v)).toFixed(3)}× AR`).join("\n"));
}, 900_000);
