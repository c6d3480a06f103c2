// `npm run bench:kernels [-- --json] [-- --rounds N] [-- --no-workerd] [-- --no-node] [-- --no-peers]`: matmul throughput of the
// AssemblyScript kernels, both builds (SIMD128 and relaxed SIMD), beside a plain JS loop, onnxruntime-web (wasm,
// 1 thread) and onnxruntime-node (native, 1 thread), same shapes, one run; and each build against a register-only
// peak loop per instruction kind (wasm/peak.wasm: the ceiling of the engine and CPU it runs on), in Node and inside
// workerd (scripts/bench/workerd/kernels.workerd.ts). Each Node peer runs in its own process; every (impl, shape)
// figure is the median over rounds of per-process medians; build ratios are medians of same-round ratios.
// A benchmark, not a test: it prints figures and the target ratios, and asserts nothing.
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildShapes, type PeakRow, type Shape } from "./kernel-timing.ts";

const PEERS = ["js", "ort-web", "ort-node"] as const;
const here = fileURLToPath(new URL(".", import.meta.url));
const root = fileURLToPath(new URL("../..", import.meta.url));

/** The grid the issue names, the BLT model's own layer shapes, and one shape far larger than any cache. */
function shapes(): Shape[] {
  const out: Shape[] = [];
  for (const op of ["matmulF32", "matmulQ8"] as const) {
    for (const m of [1, 8, 64]) for (const kn of [256, 512]) out.push({ op, m, k: kn, n: kn });
    for (const [m, k, n, label] of MODEL_SHAPES) out.push({ op, m, k, n, label });
    out.push({ op, m: 1, k: 4096, n: 16384, label: "streaming, 64 M weights" });
    for (const kn of [256, 512]) out.push({ op, m: 1, k: kn, n: kn, label: "cold", cold: true });
    for (const [m, k, n, label] of MODEL_SHAPES) if (m === 1) out.push({ op, m, k, n, label: `${label}, cold`, cold: true });
  }
  return out;
}

// Layer shapes of the `small` BLT-D config (docs/model.md §2): local width 128 (4 heads, SwiGLU 384),
// global width 256 (SwiGLU 768); one byte or one patch per call, and a BLT-D block of 8 bytes.
const MODEL_SHAPES: Array<[number, number, number, string]> = [
  [1, 128, 128, "local wq/wk/wv/wo"], [1, 128, 384, "local ffn w1/w3"], [1, 384, 128, "local ffn w2"],
  [1, 256, 128, "decoder cross wk/wv"], [1, 128, 256, "decoder head"], [1, 256, 256, "global wq/wk/wv/wo"],
  [1, 256, 768, "global ffn w1/w3"], [1, 768, 256, "global ffn w2"], [8, 128, 384, "BLT-D block ffn w1/w3"],
];

interface Row extends Shape { impl: string; seconds: number }
type Runtime = "node" | "workerd";
type Build = "simd128" | "relaxed";

function runPeer<T = Row>(impl: string, list: Shape[]): T[] {
  const out = execFileSync(process.execPath, ["--import", "tsx", join(here, "kernels-peer.ts"), impl, JSON.stringify(list)],
    { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 1 << 24 });
  return out.trim().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as T);
}

/** scripts/bench/workerd/kernels.workerd.ts inside workerd: its BENCH lines (3 rounds of both builds and the peaks). */
function runWorkerd(): Array<{ round: number; impl: string; build?: Build; seconds?: number } & Partial<Shape> & Partial<PeakRow>> {
  const out = execFileSync(process.execPath, [join(root, "node_modules/vitest/vitest.mjs"), "run", "--project", "bench-workerd",
    "scripts/bench/workerd/kernels.workerd.ts"], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 1 << 26 });
  // vitest prints each test's output after a colour code: take the JSON after "BENCH " wherever the line has it
  return out.split("\n").map((l) => l.replace(/\x1b\[[0-9;]*m/g, "")).filter((l) => l.includes("BENCH {"))
    .map((l) => JSON.parse(l.slice(l.indexOf("BENCH {") + 6).trim()));
}

/** Single-core read bandwidth of this machine: a vectorised C sum over 256 MiB, median pass, median of 3 runs. */
function readBandwidthGBps(): number | null {
  try {
    const exe = join(mkdtempSync(join(tmpdir(), "readbw-")), "readbw");
    execFileSync("cc", ["-O3", "-march=native", "-ffast-math", "-o", exe, join(here, "readbw.c")], { stdio: "ignore" });
    const runs = [0, 1, 2].map(() => JSON.parse(execFileSync(exe, ["256"], { encoding: "utf8" })).readGBps as number);
    return median(runs);
  } catch {
    return null;
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

function weightBytes(s: Shape): number {
  return s.op === "matmulF32" ? 4 * s.n * s.k : s.n * s.k + 4 * s.n;
}

const key = (o: { runtime: Runtime; build: Build; op: string; m: number; k: number; n: number; label?: string }) =>
  JSON.stringify([o.runtime, o.build, o.op, o.m, o.k, o.n, o.label ?? ""]);

function main(): void {
  const json = process.argv.includes("--json");
  const roundsArg = process.argv.indexOf("--rounds");
  const rounds = roundsArg > 0 ? Number(process.argv[roundsArg + 1]) : 3;
  const withWorkerd = !process.argv.includes("--no-workerd"), withPeers = !process.argv.includes("--no-peers");
  const withNode = !process.argv.includes("--no-node");
  const list = [...shapes(), ...buildShapes()];
  const peerList = shapes();
  const log = (s: string) => { if (!json) console.log(s); else console.error(s); };
  log(`bench:kernels — ${cpus()[0]?.model ?? "cpu"} × ${cpus().length}, Node ${process.version}, ${rounds} rounds`);

  const readGBps = readBandwidthGBps();
  const samples = new Map<string, number[]>();
  // per round, per (runtime, build, shape): seconds, for same-round ratios between the builds
  const perRound = new Map<string, number[]>();
  const peaks = new Map<string, number[]>(); // runtime|kind → G multiply-adds/s per round
  const add = <K, V>(m: Map<K, V[]>, k: K, v: V) => m.set(k, [...(m.get(k) ?? []), v]);
  for (let r = 0; r < (withNode ? rounds : 0); r++) {
    for (const [impl, build] of [["asm", "simd128"], ["asm-relaxed", "relaxed"]] as const) {
      for (const row of runPeer(impl, list)) {
        add(samples, JSON.stringify([row.op, impl, row.m, row.k, row.n, row.label ?? ""]), row.seconds);
        add(perRound, key({ runtime: "node", build, ...row }), row.seconds);
      }
      log(`  round ${r + 1}: ${impl} done`);
    }
    for (const p of runPeer<PeakRow>("peak", [])) add(peaks, `node|${p.kind}`, p.gMacPerSec);
    if (withPeers) {
      for (const impl of PEERS) {
        for (const row of runPeer(impl, peerList)) add(samples, JSON.stringify([row.op, row.impl, row.m, row.k, row.n, row.label ?? ""]), row.seconds);
        log(`  round ${r + 1}: ${impl} done`);
      }
    }
  }
  if (withWorkerd) {
    log("  workerd: both builds and the peak loops, 3 rounds (vitest's Workers pool)…");
    for (const b of runWorkerd()) {
      if (b.impl === "peak") add(peaks, `workerd|${b.kind}`, b.gMacPerSec!);
      else add(perRound, key({ runtime: "workerd", build: b.build!, op: b.op!, m: b.m!, k: b.k!, n: b.n!, label: b.label }), b.seconds!);
    }
  }

  const rows = [...samples].map(([key, secs]) => {
    const [op, impl, m, k, n, label] = JSON.parse(key) as [Shape["op"], string, number, number, number, string];
    const s: Shape = { op, m, k, n };
    const seconds = median(secs);
    return { op, impl, m, k, n, label, gflops: (2 * m * k * n) / seconds / 1e9, gbps: weightBytes(s) / seconds / 1e9, seconds };
  });
  const find = (op: string, impl: string, m: number, k: number, n: number, cold = false) =>
    rows.find((r) => r.op === op && r.impl === impl && r.m === m && r.k === k && r.n === n && r.label.endsWith("cold") === cold && r.label !== "blt-v2");

  // the builds on the default model's shapes, per runtime: G multiply-adds/s, fraction of the matching peak loop,
  // and relaxed ÷ SIMD128 (median over rounds of the same round's ratio)
  const peakOf = new Map([...peaks].map(([k, v]) => [k, median(v)]));
  const PEAK_FOR: Record<string, string> = { "matmulQ8|simd128": "i32x4.dot_i16x8_s+add", "matmulQ8|relaxed": "i32x4.relaxed_dot_i8x16_i7x16_add_s",
    "matmulF32|simd128": "f32x4.mul+add", "matmulF32|relaxed": "f32x4.mul+add" };
  const buildRows: Array<{ op: string; m: number; k: number; n: number; runtime: Runtime; build: Build; gMacPerSec: number; peakKind: string; fractionOfPeak: number | null; relaxedOverSimd128?: number }> = [];
  for (const runtime of ["node", "workerd"] as const) {
    for (const s of buildShapes()) {
      const a = perRound.get(key({ runtime, build: "simd128", ...s })), b = perRound.get(key({ runtime, build: "relaxed", ...s }));
      if (!a || !b) continue;
      const ratio = median(a.map((t, i) => t / b[i]).filter(Number.isFinite));
      for (const [build, secs] of [["simd128", a], ["relaxed", b]] as const) {
        const g = (s.m * s.k * s.n) / median(secs) / 1e9, kind = PEAK_FOR[`${s.op}|${build}`], peak = peakOf.get(`${runtime}|${kind}`);
        buildRows.push({ op: s.op, m: s.m, k: s.k, n: s.n, runtime, build, gMacPerSec: round(g), peakKind: kind, fractionOfPeak: peak ? round(g / peak) : null,
          ...(build === "relaxed" ? { relaxedOverSimd128: round(ratio) } : {}) });
      }
    }
  }
  const buildRatio = (runtime: Runtime, m: number) => {
    const rs = buildRows.filter((r) => r.runtime === runtime && r.op === "matmulQ8" && r.m === m && r.relaxedOverSimd128 !== undefined).map((r) => r.relaxedOverSimd128!);
    return rs.length ? { median: round(median(rs)), min: round(Math.min(...rs)), max: round(Math.max(...rs)), shapes: rs.length } : null;
  };

  const asm64 = find("matmulF32", "asm", 64, 256, 256), web64 = find("matmulF32", "ort-web", 64, 256, 256);
  const node64 = find("matmulF32", "ort-node", 64, 256, 256), stream = find("matmulF32", "asm", 1, 4096, 16384);
  const m1 = rows.filter((r) => r.op === "matmulF32" && r.impl === "asm" && r.m === 1 && r.label !== "blt-v2").map((f) => {
    const q = rows.find((r) => r.op === "matmulQ8" && r.impl === "asm" && r.m === 1 && r.k === f.k && r.n === f.n && r.label === f.label)!;
    return { k: f.k, n: f.n, label: f.label, ratio: (q.n * q.k / q.seconds) / (f.n * f.k / f.seconds) };
  });
  const targets = {
    readGBps,
    f32_64x256x256_vs_ortWeb: asm64 && web64 ? asm64.gflops / web64.gflops : null,
    f32_64x256x256_vs_ortNode: asm64 && node64 ? asm64.gflops / node64.gflops : null,
    f32_m1_stream_vs_readBandwidth: stream && readGBps ? stream.gbps / readGBps : null,
    q8_vs_f32_m1_weightsPerSec: m1,
    q8_relaxed_over_simd128: {
      workerd_m1: buildRatio("workerd", 1), workerd_m8: buildRatio("workerd", 8), node_m1: buildRatio("node", 1), node_m8: buildRatio("node", 8),
    },
  };

  if (json) {
    for (const r of rows) {
      const build = r.impl === "asm-relaxed" ? "relaxed" : r.impl === "asm" ? "simd128" : null;
      console.log(JSON.stringify({ op: r.op, impl: r.impl, m: r.m, k: r.k, n: r.n, runtime: "node", ...(build ? { build } : {}),
        gMacPerSec: round(r.gflops / 2), gflops: round(r.gflops), gbps: round(r.gbps), ...(r.label ? { label: r.label } : {}) }));
    }
    for (const r of buildRows) console.log(JSON.stringify({ ...r, impl: "asm", label: "blt-v2 build comparison" }));
    for (const [k, v] of peakOf) { const [runtime, kind] = k.split("|"); console.log(JSON.stringify({ op: "peak", kind, runtime, gMacPerSec: round(v) })); }
    console.log(JSON.stringify({ op: "readBandwidth", impl: "native-c", gbps: readGBps }));
    console.log(JSON.stringify({ op: "targets", ...targets }));
    return;
  }
  log("\n| op | m×k×n | layer | asm GFLOP/s (GB/s) | asm relaxed | js | ort-web | ort-node |\n|---|---|---|---|---|---|---|---|");
  for (const r of rows.filter((x) => x.impl === "asm" && x.label !== "blt-v2")) {
    const cold = r.label.endsWith("cold");
    const cell = (impl: string) => { const p = find(r.op, impl, r.m, r.k, r.n, cold); return p ? `${p.gflops.toFixed(1)} (${p.gbps.toFixed(1)})` : "—"; };
    log(`| ${r.op} | ${r.m}×${r.k}×${r.n} | ${r.label || ""} | ${cell("asm")} | ${cell("asm-relaxed")} | ${cell("js")} | ${cell("ort-web")} | ${cell("ort-node")} |`);
  }
  log("\npeak loops (G multiply-adds/s, register-only):");
  for (const [k, v] of peakOf) log(`  ${k.replace("|", ": ")} ${v.toFixed(1)}`);
  log("\nthe default model's shapes (blt-v2), G multiply-adds/s and fraction of the peak loop, relaxed ÷ SIMD128 (same-round median):");
  log("| runtime | op | m×k×n | simd128 | relaxed | relaxed ÷ simd128 |\n|---|---|---|---|---|---|");
  for (const r of buildRows.filter((x) => x.build === "relaxed")) {
    const a = buildRows.find((x) => x.runtime === r.runtime && x.op === r.op && x.m === r.m && x.k === r.k && x.n === r.n && x.build === "simd128")!;
    const f = (x: typeof r) => `${x.gMacPerSec.toFixed(1)}${x.fractionOfPeak !== null ? ` (${(100 * x.fractionOfPeak).toFixed(0)}%)` : ""}`;
    log(`| ${r.runtime} | ${r.op} | ${r.m}×${r.k}×${r.n} | ${f(a)} | ${f(r)} | ${r.relaxedOverSimd128!.toFixed(2)}× |`);
  }
  log(`\nsingle-core read bandwidth (native C, 256 MiB): ${readGBps?.toFixed(1) ?? "n/a"} GB/s`);
  log(`matmulF32 64×256×256: ${targets.f32_64x256x256_vs_ortWeb?.toFixed(2)}× ort-web, ${targets.f32_64x256x256_vs_ortNode?.toFixed(2)}× ort-node`);
  log(`matmulF32 M=1 streaming 4096×16384: ${stream?.gbps.toFixed(1)} GB/s = ${targets.f32_m1_stream_vs_readBandwidth?.toFixed(2)}× read bandwidth`);
  for (const q of m1) log(`matmulQ8 / matmulF32 weights per second, M=1 ${q.k}×${q.n} ${q.label}: ${q.ratio.toFixed(2)}×`);
  for (const [k, v] of Object.entries(targets.q8_relaxed_over_simd128)) {
    if (v) log(`matmulQ8 relaxed ÷ SIMD128, ${k.replace("_", " ")}: median ${v.median}× (${v.min}–${v.max}× over ${v.shapes} shapes)`);
  }
}

function round(x: number): number { return Math.round(x * 100) / 100; }

main();
