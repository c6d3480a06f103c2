// `npm run bench`: every decoding mode of the default model and the peers on the same weights, prompts and
// machine, side by side in one run: speed (bytes/s, time to first byte, passes and estimated traffic per byte)
// and quality (agreement with AR, bits per byte under the AR model, byte accuracy against the held-out text,
// distinct n-grams when sampling). A benchmark, not a test: it prints figures and asserts nothing.
//   npm run bench -- [--json] [--quick] [--repeats 3] [--prompts 6] [--bytes 128] [--no-workerd] [--no-peers] [--chart docs/bench.svg]
import { cpus } from "node:os";
import { writeFileSync } from "node:fs";
import { loadNodeEngine, parseFlags } from "../../src/cli/node-engine.ts";
import type { DecodeStats } from "../../src/protocol.ts";
import { renderChart } from "./chart.ts";
import { CONFIGS, agreement, bitsPerByte, distinctN, heldOutCases, label, median, request, type Case, type Config } from "./decode-cases.ts";
import { runPeers, runWorkerd, type Run } from "./decode-peers.ts";

export interface Row {
  impl: "wasm" | "workerd" | "ort-web" | "ort-node" | "torch";
  mode: string; blockSize: number | null; threshold: number | null; draft: number | null; temperature: number; weights: "f32" | "q8";
  bytesPerSec: number; ttfbMs: number; passesPerByte: DecodeStats["passes"] | null; estBytesMovedPerByte: number | null;
  agreeWithAR: number | null; bpb: number; byteAccuracy: number; distinct2?: number; distinct3?: number;
}

const flags = parseFlags(process.argv.slice(2));
const quick = flags.has("quick");
const repeats = Number(flags.get("repeats") ?? (quick ? 1 : 3));
const nPrompts = Number(flags.get("prompts") ?? (quick ? 2 : 6));
const nBytes = Number(flags.get("bytes") ?? (quick ? 32 : 128));
const json = flags.has("json");
const log = (s: string) => { if (!json) console.log(s); else console.error(s); };

const { engine } = await loadNodeEngine("models/blt-d-small", 512, "f32");
const cases = heldOutCases(nPrompts, 128, nBytes);
const configs = quick ? CONFIGS.filter((c) => c.mode !== "blt-d" || (c.blockSize === 8 && c.threshold === 0.9)) : CONFIGS;
log(`bench: models/blt-d-small, ${cases.length} held-out prompts × ${nBytes} bytes, ${repeats} repeats; ${cpus()[0]?.model}, ${cpus().length} cores, Node ${process.version}`);
log(`command: npm run bench -- ${process.argv.slice(2).join(" ")}`);

/** One implementation's runs of one configuration, scored. */
async function score(impl: Row["impl"], c: Config, weights: Row["weights"], runs: Run[][], arOut: Uint8Array[] | null, cs: Case[]): Promise<Row> {
  const perRep = runs.map((rep) => rep.reduce((n, r) => n + r.bytes.length, 0) / (rep.reduce((t, r) => t + r.wallMs, 0) / 1000));
  const first = runs[0];
  const gen = first.reduce((n, r) => n + r.bytes.length, 0);
  const stats = first.map((r) => r.stats).filter((s): s is DecodeStats => s !== null);
  const sum = (f: (s: DecodeStats) => number) => stats.reduce((a, s) => a + f(s), 0) / gen;
  const texts = first.map((r) => new TextDecoder().decode(r.bytes));
  const bpbs: number[] = [];
  for (const [i, r] of first.entries()) bpbs.push(await bitsPerByte(engine, cs[i].prompt, r.bytes));
  return {
    impl, mode: c.mode, blockSize: c.blockSize, threshold: c.threshold, draft: c.draft, temperature: c.temperature, weights,
    bytesPerSec: Math.round(median(perRep) * 10) / 10,
    ttfbMs: Math.round(median(runs.flat().map((r) => r.ttfbMs)) * 10) / 10,
    passesPerByte: stats.length === first.length ? {
      entropy: round3(sum((s) => s.passes.entropy)), encoder: round3(sum((s) => s.passes.encoder)),
      global: round3(sum((s) => s.passes.global)), decoder: round3(sum((s) => s.passes.decoder)) } : null,
    estBytesMovedPerByte: stats.length === first.length ? Math.round(sum((s) => s.estBytesMoved)) : null,
    agreeWithAR: c.temperature === 0 && arOut ? round3(mean(first.map((r, i) => agreement(r.bytes, arOut[i])))) : null,
    bpb: round3(mean(bpbs)),
    byteAccuracy: round3(mean(first.map((r, i) => agreement(r.bytes, cs[i].reference)))),
    ...(c.temperature > 0 ? { distinct2: round3(distinctN(texts, 2)), distinct3: round3(distinctN(texts, 3)) } : {}),
  };
}
const round3 = (x: number) => Math.round(x * 1000) / 1000;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

async function runWasm(c: Config): Promise<Run[][]> {
  const reps: Run[][] = [];
  for (let rep = 0; rep < repeats; rep++) {
    const runs: Run[] = [];
    for (let i = 0; i < cases.length; i++) {
      const t0 = performance.now();
      let ttfbMs = 0, stats: DecodeStats | null = null;
      const parts: number[] = [];
      for await (const e of engine.decode(request(c, cases[i].prompt, nBytes, i + 1))) {
        if (e.type === "bytes") { if (!ttfbMs) ttfbMs = performance.now() - t0; parts.push(...e.bytes); }
        else if (e.type === "done") stats = e.stats;
        else throw new Error(e.message);
      }
      runs.push({ bytes: Uint8Array.from(parts), ttfbMs, wallMs: stats!.wallMs, stats });
    }
    reps.push(runs);
  }
  return reps;
}

const rows: Row[] = [];
const emit = (r: Row) => { rows.push(r); if (json) console.log(JSON.stringify(r)); else log(line(r)); };
const line = (r: Row) => `${r.impl.padEnd(8)} ${label(r as unknown as Config).padEnd(22)} ${String(r.bytesPerSec).padStart(8)} B/s  ttfb ${String(r.ttfbMs).padStart(6)} ms  ` +
  `${r.passesPerByte ? `passes/B ${r.passesPerByte.entropy}/${r.passesPerByte.encoder}/${r.passesPerByte.global}/${r.passesPerByte.decoder}` : ""}  ` +
  `${r.estBytesMovedPerByte ? `${(r.estBytesMovedPerByte / 1e6).toFixed(2)} MB/B` : ""}  agree ${r.agreeWithAR ?? "—"}  bpb ${r.bpb}  acc ${r.byteAccuracy}` +
  (r.distinct2 !== undefined ? `  distinct-2/3 ${r.distinct2}/${r.distinct3}` : "");

// warm up the engine (Wasm tier-up) as the peers are warmed up
for (const t0 = performance.now(); performance.now() - t0 < (quick ? 500 : 3000);) {
  for await (const _ of engine.decode(request(configs[0], cases[0].prompt, 32, 1))) { /* discard */ }
}
let arOut: Uint8Array[] | null = null;
for (const c of configs) {
  const runs = await runWasm(c);
  if (c.mode === "ar" && c.temperature === 0) arOut = runs[0].map((r) => r.bytes);
  emit(await score("wasm", c, "f32", runs, arOut, cases));
}
if (!flags.has("no-workerd")) {
  for (const [c, runs] of await runWorkerd(configs, cases, nBytes, repeats, log)) emit(await score("workerd", c, "q8", runs, arOut, cases));
}
if (!flags.has("no-peers")) {
  const arConfig = configs[0];
  for (const [impl, c, runs] of await runPeers(arConfig, configs, cases, nBytes, repeats, quick, log)) emit(await score(impl, c, "f32", runs, arOut, cases.slice(0, runs[0].length)));
}

// the issue's targets, as ratios measured in this run
const find = (impl: string, pred: (r: Row) => boolean) => rows.find((r) => r.impl === impl && pred(r));
const ar = find("wasm", (r) => r.mode === "ar" && r.temperature === 0)!;
const ortWeb = find("ort-web", (r) => r.mode === "ar");
const bltS = find("wasm", (r) => r.mode === "blt-s" && r.draft === 8)!;
const bltD8 = rows.filter((r) => r.impl === "wasm" && r.mode === "blt-d" && r.blockSize === 8 && r.temperature === 0);
const targets = {
  op: "targets",
  ar_wasm_vs_ortWeb: ortWeb ? round3(ar.bytesPerSec / ortWeb.bytesPerSec) : null,
  bltS_k8_vs_ar: round3(bltS.bytesPerSec / ar.bytesPerSec), bltS_k8_agreeWithAR: bltS.agreeWithAR,
  bltD_B8_vs_ar: bltD8.map((r) => ({ threshold: r.threshold, speed: round3(r.bytesPerSec / ar.bytesPerSec),
    traffic: round3(r.estBytesMovedPerByte! / ar.estBytesMovedPerByte!), bpb: r.bpb, arBpb: ar.bpb, agreeWithAR: r.agreeWithAR })),
};
if (json) console.log(JSON.stringify(targets));
else {
  log(`\ntargets: AR wasm / ort-web ${targets.ar_wasm_vs_ortWeb ?? "n/a"}×; BLT-S k=8 / AR ${targets.bltS_k8_vs_ar}× (agreement ${bltS.agreeWithAR})`);
  for (const t of targets.bltD_B8_vs_ar) log(`BLT-D B=8 α=${t.threshold}: ${t.speed}× AR bytes/s, traffic ${t.traffic}× AR's, bpb ${t.bpb} vs AR ${t.arBpb}`);
}
const chartPath = flags.get("chart");
if (chartPath) {
  writeFileSync(chartPath, renderChart(rows.filter((r) => r.temperature === 0).map((r) => ({ impl: r.impl, label: label(r as unknown as Config), bytesPerSec: r.bytesPerSec, bpb: r.bpb })),
    `bltedge decoding, models/blt-d-small, greedy, ${cases.length} held-out prompts × ${nBytes} bytes`));
  log(`chart written to ${chartPath}`);
}
