// `npm run bench:kernels [-- --json] [-- --rounds N]`: matmul throughput of the AssemblyScript kernels beside a
// plain JS loop, onnxruntime-web (wasm, 1 thread) and onnxruntime-node (native, 1 thread), same shapes, one run.
// Each peer runs in its own process; every (impl, shape) figure is the median over rounds of per-process medians.
// A benchmark, not a test: it prints figures and the target ratios, and asserts nothing.
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Shape } from "./kernels-peer.ts";

const IMPLS = ["asm", "js", "ort-web", "ort-node"] as const;
const here = fileURLToPath(new URL(".", import.meta.url));

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

function runPeer(impl: string, list: Shape[]): Row[] {
  const out = execFileSync(process.execPath, ["--import", "tsx", join(here, "kernels-peer.ts"), impl, JSON.stringify(list)],
    { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 1 << 24 });
  return out.trim().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Row);
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

function main(): void {
  const json = process.argv.includes("--json");
  const roundsArg = process.argv.indexOf("--rounds");
  const rounds = roundsArg > 0 ? Number(process.argv[roundsArg + 1]) : 3;
  const list = shapes();
  const log = (s: string) => { if (!json) console.log(s); };
  log(`bench:kernels — ${cpus()[0]?.model ?? "cpu"} × ${cpus().length}, Node ${process.version}, ${rounds} rounds`);

  const readGBps = readBandwidthGBps();
  const samples = new Map<string, number[]>();
  for (let r = 0; r < rounds; r++) {
    for (const impl of IMPLS) {
      for (const row of runPeer(impl, list)) {
        const key = JSON.stringify([row.op, row.impl, row.m, row.k, row.n, row.label ?? ""]);
        samples.set(key, [...(samples.get(key) ?? []), row.seconds]);
      }
      log(`  round ${r + 1}: ${impl} done`);
    }
  }

  const rows = [...samples].map(([key, secs]) => {
    const [op, impl, m, k, n, label] = JSON.parse(key) as [Shape["op"], string, number, number, number, string];
    const s: Shape = { op, m, k, n };
    const seconds = median(secs);
    return { op, impl, m, k, n, label, gflops: (2 * m * k * n) / seconds / 1e9, gbps: weightBytes(s) / seconds / 1e9, seconds };
  });
  const find = (op: string, impl: string, m: number, k: number, n: number, cold = false) =>
    rows.find((r) => r.op === op && r.impl === impl && r.m === m && r.k === k && r.n === n && r.label.endsWith("cold") === cold);

  const asm64 = find("matmulF32", "asm", 64, 256, 256), web64 = find("matmulF32", "ort-web", 64, 256, 256);
  const node64 = find("matmulF32", "ort-node", 64, 256, 256), stream = find("matmulF32", "asm", 1, 4096, 16384);
  const m1 = rows.filter((r) => r.op === "matmulF32" && r.impl === "asm" && r.m === 1).map((f) => {
    const q = rows.find((r) => r.op === "matmulQ8" && r.impl === "asm" && r.m === 1 && r.k === f.k && r.n === f.n && r.label === f.label)!;
    return { k: f.k, n: f.n, label: f.label, ratio: (q.n * q.k / q.seconds) / (f.n * f.k / f.seconds) };
  });
  const targets = {
    readGBps,
    f32_64x256x256_vs_ortWeb: asm64 && web64 ? asm64.gflops / web64.gflops : null,
    f32_64x256x256_vs_ortNode: asm64 && node64 ? asm64.gflops / node64.gflops : null,
    f32_m1_stream_vs_readBandwidth: stream && readGBps ? stream.gbps / readGBps : null,
    q8_vs_f32_m1_weightsPerSec: m1,
  };

  if (json) {
    for (const r of rows) {
      console.log(JSON.stringify({ op: r.op, impl: r.impl, m: r.m, k: r.k, n: r.n, gflops: round(r.gflops), gbps: round(r.gbps), ...(r.label ? { label: r.label } : {}) }));
    }
    console.log(JSON.stringify({ op: "readBandwidth", impl: "native-c", gbps: readGBps }));
    console.log(JSON.stringify({ op: "targets", ...targets }));
    return;
  }
  log("\n| op | m×k×n | layer | asm GFLOP/s (GB/s) | js | ort-web | ort-node |\n|---|---|---|---|---|---|---|");
  for (const r of rows.filter((x) => x.impl === "asm")) {
    const cold = r.label.endsWith("cold");
    const cell = (impl: string) => { const p = find(r.op, impl, r.m, r.k, r.n, cold); return p ? `${p.gflops.toFixed(1)} (${p.gbps.toFixed(1)})` : "—"; };
    log(`| ${r.op} | ${r.m}×${r.k}×${r.n} | ${r.label || ""} | ${cell("asm")} | ${cell("js")} | ${cell("ort-web")} | ${cell("ort-node")} |`);
  }
  log(`\nsingle-core read bandwidth (native C, 256 MiB): ${readGBps?.toFixed(1) ?? "n/a"} GB/s`);
  log(`matmulF32 64×256×256: ${targets.f32_64x256x256_vs_ortWeb?.toFixed(2)}× ort-web, ${targets.f32_64x256x256_vs_ortNode?.toFixed(2)}× ort-node`);
  log(`matmulF32 M=1 streaming 4096×16384: ${stream?.gbps.toFixed(1)} GB/s = ${targets.f32_m1_stream_vs_readBandwidth?.toFixed(2)}× read bandwidth`);
  for (const q of m1) log(`matmulQ8 / matmulF32 weights per second, M=1 ${q.k}×${q.n} ${q.label}: ${q.ratio.toFixed(2)}×`);
}

function round(x: number): number { return Math.round(x * 100) / 100; }

main();
