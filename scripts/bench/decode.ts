// `npm run bench`: every decoding mode of a model (default: DEFAULT_MODEL_DIR) and, on blt-d-small, the peers on
// the same weights, prompts and machine, side by side in one run: speed (bytes/s, time to first byte, passes and
// estimated traffic per byte) and quality (agreement with AR, bits per byte under the AR model, byte accuracy
// against the held-out text, distinct n-grams when sampling). A benchmark, not a test: it prints figures and asserts nothing.
//   npm run bench -- [--json] [--quick] [--repeats 5] [--prompts 6] [--bytes 128] [--model models/blt-v2] [--no-workerd]
//   [--no-peers] [--modes ar,blt-s,blt-dv,blt-d] [--constrained] [--chart docs/bench-blt-v2.svg]   (workerd runs the model the Worker bundles under that name: blt-v2 or
//   blt-d-tiny, so models/blt-d-small needs --no-workerd; the peers run blt-d-small only)
// Both kernel builds run, side by side in the same rounds: workerd runs every configuration on a Worker per build
// (KERNELS=simd128, KERNELS=relaxed); Node runs the configurations on f32 weights on the build KERNELS picks, and
// AR and the fast modes on int8 weights on each build. Each row's `kernels` names the build.
import { cpus } from "node:os";
import { readFileSync, writeFileSync } from "node:fs";
import { loadNodeEngine, parseFlags } from "../../src/cli/node-engine.ts";
import type { Engine } from "../../src/engine/engine.ts";
import type { KernelBuild } from "../../wasm/loader.ts";
import { DEFAULT_MODEL_DIR } from "../../src/config.ts";
import type { DecodeStats } from "../../src/protocol.ts";
import { renderChart } from "./chart.ts";
import { CONFIGS, agreement, bitsPerByte, distinctN, heldOutCases, label, median, request, type Case, type Config } from "./decode-cases.ts";
import { roundRobin, runPeers, runWorkerd, type Run } from "./decode-peers.ts";
import { benchConstrained } from "./constrained.ts";

export interface Row {
  impl: "wasm" | "workerd" | "ort-web" | "ort-node" | "torch";
  /** The Wasm kernel build that ran it (wasm, workerd); null for the peers. */
  kernels: KernelBuild | null;
  mode: string; blockSize: number | null; threshold: number | null; steps: number | null; draft: number | null; temperature: number; weights: "f32" | "q8";
  /** A named variant of the mode ("block-commit", "prefix-states", "prefix-tokens"); absent: the mode's default. */
  variant?: string;
  /** Median over repeats; bytesPerSecByRepeat[i] is repeat i's (Node and workerd: repeat i of every configuration ran in one round). */
  bytesPerSec: number; bytesPerSecByRepeat: number[]; ttfbMs: number; passesPerByte: DecodeStats["passes"] | null; estBytesMovedPerByte: number | null;
  /** The paper's estimate (docs/design.md §4): 2 bytes × (decoder passes × decoder parameters + global passes × (encoder + global parameters)). */
  paperBytesPerByte: number | null;
  agreeWithAR: number | null; bpb: number; byteAccuracy: number; distinct2?: number; distinct3?: number;
}

const flags = parseFlags(process.argv.slice(2));
const quick = flags.has("quick");
const repeats = Number(flags.get("repeats") ?? (quick ? 1 : 5));
const nPrompts = Number(flags.get("prompts") ?? (quick ? 2 : 6));
const nBytes = Number(flags.get("bytes") ?? (quick ? 32 : 128));
const json = flags.has("json");
const log = (s: string) => { if (!json) console.log(s); else console.error(s); };

const modelDir = flags.get("model") ?? DEFAULT_MODEL_DIR, modelId = modelDir.split("/").filter(Boolean).pop()!;
const { engine, kernels: nodeKernels } = await loadNodeEngine(modelDir, undefined, "f32");
const params = JSON.parse(readFileSync(`${modelDir}/manifest.json`, "utf8")).parameters as Record<string, number>;
const cases = heldOutCases(modelDir, nPrompts, 128, nBytes);
// --modes ar,blt-s: only those modes' configurations (the `auto` table and the targets need the full set)
const modes = flags.get("modes")?.split(",") ?? null;
const configs = (quick ? CONFIGS.filter((c) => c.mode !== "blt-d" || (c.blockSize === 8 && c.threshold === 0.9)) : CONFIGS)
  .filter((c) => !modes || modes.includes(c.mode));
log(`bench: ${modelDir}, ${cases.length} held-out prompts × ${nBytes} bytes, ${repeats} repeats; ${cpus()[0]?.model}, ${cpus().length} cores, Node ${process.version}`);
log(`command: npm run bench -- ${process.argv.slice(2).join(" ")}`);
// --constrained: greedy AR with and without a JSON schema (scripts/bench/constrained.ts), then nothing else
if (flags.has("constrained")) {
  const rows = await benchConstrained(engine, cases, nBytes, repeats, log);
  if (json) console.log(JSON.stringify({ model: modelId, bytes: nBytes, prompts: cases.length, repeats, rows }));
  process.exit(0);
}

// int8 weights on each build, for AR and the fast modes (the builds differ only in matmulQ8)
const q8Engines = new Map<KernelBuild, Engine>();
for (const b of ["simd128", "relaxed"] as const) q8Engines.set(b, (await loadNodeEngine(modelDir, undefined, "q8", {}, b)).engine);

/** One implementation's runs of one configuration, scored. */
async function score(impl: Row["impl"], c: Config, weights: Row["weights"], runs: Run[][], arOut: Uint8Array[] | null, cs: Case[], kernels: KernelBuild | null = null): Promise<Row> {
  // decoding speed: generated bytes over the time after the prompt was read (the prompt's cost is in ttfbMs)
  const perRep = runs.map((rep) => rep.reduce((n, r) => n + r.bytes.length, 0) / (rep.reduce((t, r) => t + r.wallMs - r.prefillMs, 0) / 1000));
  const first = runs[0];
  const gen = first.reduce((n, r) => n + r.bytes.length, 0);
  const stats = first.map((r) => r.stats).filter((s): s is DecodeStats => s !== null);
  const sum = (f: (s: DecodeStats) => number) => stats.reduce((a, s) => a + f(s), 0) / gen;
  const texts = first.map((r) => new TextDecoder().decode(r.bytes));
  const bpbs: number[] = [];
  for (const [i, r] of first.entries()) bpbs.push(await bitsPerByte(engine, cs[i].prompt, r.bytes));
  return {
    impl, kernels, mode: c.mode, blockSize: c.blockSize, threshold: c.threshold, steps: c.steps, draft: c.draft, temperature: c.temperature, weights,
    ...(c.commit === "block" ? { variant: "block-commit" } : c.prefix ? { variant: `prefix-${c.prefix}` } : {}),
    bytesPerSec: Math.round(median(perRep) * 10) / 10,
    bytesPerSecByRepeat: perRep.map((v) => Math.round(v * 10) / 10),
    ttfbMs: Math.round(median(runs.flat().map((r) => r.ttfbMs)) * 10) / 10,
    passesPerByte: stats.length === first.length ? {
      entropy: round3(sum((s) => s.passes.entropy)), encoder: round3(sum((s) => s.passes.encoder)),
      global: round3(sum((s) => s.passes.global)), decoder: round3(sum((s) => s.passes.decoder)) } : null,
    estBytesMovedPerByte: stats.length === first.length ? Math.round(sum((s) => s.estBytesMoved)) : null,
    paperBytesPerByte: stats.length === first.length ? Math.round(2 * (sum((s) => s.passes.decoder) * params.local_decoder +
      sum((s) => s.passes.global) * (params.local_encoder + params.global_transformer))) : null,
    agreeWithAR: c.temperature === 0 && arOut ? round3(mean(first.map((r, i) => agreement(r.bytes, arOut[i])))) : null,
    bpb: round3(mean(bpbs)),
    byteAccuracy: round3(mean(first.map((r, i) => agreement(r.bytes, cs[i].reference)))),
    ...(c.temperature > 0 ? { distinct2: round3(distinctN(texts, 2)), distinct3: round3(distinctN(texts, 3)) } : {}),
  };
}
const round3 = (x: number) => Math.round(x * 1000) / 1000;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** One generation by an engine in this process (default: the f32 one). */
async function engineOnce(c: Config, k: Case, maxBytes: number, seed: number, on: Engine = engine): Promise<Run> {
  const t0 = performance.now();
  let ttfbMs = 0, stats: DecodeStats | null = null;
  const parts: number[] = [];
  for await (const e of on.decode(request(c, k.prompt, maxBytes, seed))) {
    if (e.type === "bytes") { if (!ttfbMs) ttfbMs = performance.now() - t0; parts.push(...e.bytes); }
    else if (e.type === "done") stats = e.stats;
    else throw new Error(e.message);
  }
  return { bytes: Uint8Array.from(parts), ttfbMs, wallMs: stats!.wallMs, prefillMs: stats!.prefillMs, stats };
}

const rows: Row[] = [];
const emit = (r: Row) => { rows.push(r); if (json) console.log(JSON.stringify(r)); else log(line(r)); };
/** A row's configuration as label() writes it, with its named variant (rows keep the variant, not the knob). */
const rowLabel = (r: Row) => label(r as unknown as Config) + (r.variant ? ` ${r.variant}` : "");
const line = (r: Row) => `${r.impl.padEnd(8)} ${(r.kernels ?? "").padEnd(8)} ${r.weights} ${rowLabel(r).padEnd(22)} ${String(r.bytesPerSec).padStart(8)} B/s  ttfb ${String(r.ttfbMs).padStart(6)} ms  ` +
  `${r.passesPerByte ? `passes/B ${r.passesPerByte.entropy}/${r.passesPerByte.encoder}/${r.passesPerByte.global}/${r.passesPerByte.decoder}` : ""}  ` +
  `${r.estBytesMovedPerByte ? `${(r.estBytesMovedPerByte / 1e6).toFixed(2)} MB/B (paper's ${(r.paperBytesPerByte! / 1e6).toFixed(2)})` : ""}  agree ${r.agreeWithAR ?? "—"}  bpb ${r.bpb}  acc ${r.byteAccuracy}` +
  (r.distinct2 !== undefined ? `  distinct-2/3 ${r.distinct2}/${r.distinct3}` : "");

// warmed up (Wasm tier-up) in every configuration, as the peers are
let arOut: Uint8Array[] | null = null;
const wasmRuns = await roundRobin(configs, cases, nBytes, repeats, quick ? 500 : 3000, (c, k, n, seed) => engineOnce(c, k, n, seed));
for (const [j, c] of configs.entries()) {
  if (c.mode === "ar" && c.temperature === 0) arOut = wasmRuns[j][0].map((r) => r.bytes);
  emit(await score("wasm", c, "f32", wasmRuns[j], arOut, cases, nodeKernels.build));
}
{
  // int8 on both builds in Node: greedy AR, BLT-S k=8, BLT-DV, BLT-D B=8 α=0.9, each pair of builds in the same round
  const fast = configs.filter((c) => c.temperature === 0 && !c.commit && !c.prefix && !c.steps &&
    (c.mode === "ar" || c.mode === "blt-dv" || (c.mode === "blt-s" && c.draft === 8) || (c.mode === "blt-d" && c.blockSize === 8 && c.threshold === 0.9)));
  const pairs = fast.flatMap((c) => (["simd128", "relaxed"] as const).map((b) => ({ ...c, kernels: b })));
  const runs = await roundRobin(pairs, cases, nBytes, repeats, quick ? 500 : 3000, (c, k, n, seed) => engineOnce(c, k, n, seed, q8Engines.get(c.kernels)!));
  for (const b of ["simd128", "relaxed"] as const) {
    const arQ8 = runs[pairs.findIndex((c) => c.kernels === b && c.mode === "ar")][0].map((r) => r.bytes);
    for (const [j, c] of pairs.entries()) if (c.kernels === b) emit(await score("wasm", fast[Math.floor(j / 2)], "q8", runs[j], arQ8, cases, b));
  }
}
if (!flags.has("no-workerd")) {
  // the API has no knob for BLT-D's one-patch block commit (a variant measured in Node only)
  const workerd = await runWorkerd(configs.filter((c) => c.commit !== "block"), cases, nBytes, repeats, log, modelId);
  // agreement in workerd is with workerd's own greedy AR on the same build (int8 weights), as in Node with Node's
  for (const b of ["simd128", "relaxed"] as const) {
    const workerdAr = workerd.find(([c, kb]) => kb === b && c.mode === "ar" && c.temperature === 0)?.[2][0].map((r) => r.bytes) ?? null;
    for (const [c, kb, runs] of workerd) if (kb === b) emit(await score("workerd", c, "q8", runs, workerdAr, cases, b));
  }
}
if (!flags.has("no-peers") && modelId === "blt-d-small") {
  const arConfig = configs[0];
  for (const [impl, c, runs] of await runPeers(arConfig, configs, cases, nBytes, repeats, quick, log)) emit(await score(impl, c, "f32", runs, arOut, cases.slice(0, runs[0].length)));
}

// the issue's targets, as ratios measured in this run, for the engine in Node and in workerd
const find = (impl: string, pred: (r: Row) => boolean) => rows.find((r) => r.impl === impl && pred(r));
const ortWeb = find("ort-web", (r) => r.mode === "ar");
// Node: its f32 rows; workerd: the relaxed build's rows, the build the Worker picks
const targetsOf = (impl: "wasm" | "workerd") => {
  const mine = (r: Row) => r.impl === impl && (impl === "wasm" ? r.weights === "f32" : r.kernels === "relaxed");
  const ar = rows.find((r) => mine(r) && r.mode === "ar" && r.temperature === 0);
  if (!ar) return null;
  const bltS = rows.filter((r) => mine(r) && r.mode === "blt-s");
  const bltD8 = rows.filter((r) => mine(r) && r.mode === "blt-d" && r.blockSize === 8 && r.temperature === 0);
  // speed ratios pair each repeat with AR's from the same round, then take the median: drift cancels
  const vsAr = (r: Row) => round3(median(r.bytesPerSecByRepeat.map((v, i) => v / ar.bytesPerSecByRepeat[i])));
  return {
    ar_vs_ortWeb: ortWeb ? round3(ar.bytesPerSec / ortWeb.bytesPerSec) : null,
    bltS_vs_ar: bltS.map((r) => ({ draft: r.draft, speed: vsAr(r), agreeWithAR: r.agreeWithAR })),
    bltD_B8_vs_ar: bltD8.map((r) => ({ threshold: r.threshold, steps: r.steps, variant: r.variant, speed: vsAr(r),
      traffic: round3(r.estBytesMovedPerByte! / ar.estBytesMovedPerByte!), paperTraffic: round3(r.paperBytesPerByte! / ar.paperBytesPerByte!), bpb: r.bpb, arBpb: ar.bpb, agreeWithAR: r.agreeWithAR })),
  };
};
// relaxed ÷ SIMD128 bytes/s on int8 weights, per runtime and greedy configuration: medians of same-round ratios
const buildGain = (impl: "wasm" | "workerd") => rows.filter((r) => r.impl === impl && r.weights === "q8" && r.kernels === "relaxed" && r.temperature === 0).flatMap((r) => {
  const s = rows.find((x) => x.impl === impl && x.weights === "q8" && x.kernels === "simd128" && rowLabel(x) === rowLabel(r));
  return s ? [{ config: rowLabel(r), simd128: s.bytesPerSec, relaxed: r.bytesPerSec, ratio: round3(median(r.bytesPerSecByRepeat.map((v, i) => v / s.bytesPerSecByRepeat[i]))) }] : [];
});
const targets = { op: "targets", wasm: targetsOf("wasm"), workerd: targetsOf("workerd"), relaxedOverSimd128: { node: buildGain("wasm"), workerd: buildGain("workerd") } };
if (json) console.log(JSON.stringify(targets));
else {
  for (const impl of ["wasm", "workerd"] as const) {
    const t = targets[impl];
    if (!t) continue;
    log(`\ntargets (${impl}): AR / ort-web ${t.ar_vs_ortWeb ?? "n/a"}×; ` + t.bltS_vs_ar.map((b) => `BLT-S k=${b.draft} ${b.speed}× AR (agreement ${b.agreeWithAR})`).join("; "));
    for (const b of t.bltD_B8_vs_ar) log(`  BLT-D B=8 α=${b.threshold}${b.steps ? ` ≤${b.steps} passes` : ""}${b.variant ? ` ${b.variant}` : ""}: ${b.speed}× AR bytes/s, traffic ${b.traffic}× AR's (paper's measure ${b.paperTraffic}×), bpb ${b.bpb} vs AR ${b.arBpb}`);
  }
  for (const [rt, gains] of Object.entries(targets.relaxedOverSimd128)) {
    for (const g of gains) log(`relaxed ÷ SIMD128 (${rt}, int8) ${g.config}: ${g.simd128} → ${g.relaxed} B/s, ${g.ratio}×`);
  }
}
const chartPath = flags.get("chart");
if (chartPath) {
  writeFileSync(chartPath, renderChart(rows.filter((r) => r.temperature === 0).map((r) => ({ impl: r.impl, label: rowLabel(r), bytesPerSec: r.bytesPerSec, bpb: r.bpb })),
    `bltedge decoding, ${modelDir}, greedy, ${cases.length} held-out prompts × ${nBytes} bytes`));
  log(`chart written to ${chartPath}`);
}
