// `npm run eval -- --model models/blt-v2 [--windows N] [--q8] [--json] [--kernels simd128|relaxed|auto]`: held-out test bits per byte computed
// by the TypeScript engine, on the same windows as scripts/train/export.py (non-overlapping, BOS + seq_len−1 bytes
// in, seq_len next bytes), with and without the latents (the global model's contribution, docs/design.md §1), compared
// with the PyTorch figures in the manifest.
// `--long <bytes>`: past the training window instead: windows of that many bytes scored in one sliding pass,
// bits per byte of the bytes inside the first max_seq_len vs those beyond it (docs/engine.md, "Context and long
// answers").
import { readFile } from "node:fs/promises";
import { BOS, DEFAULT_MODEL_DIR } from "../config.ts";
import type { BltModel } from "../engine/model/blt-model.ts";
import { bitsOf } from "../engine/score.ts";
import { kernelsFlag, loadNodeEngine, parseFlags, testSplitOf } from "./node-engine.ts";

const round4 = (x: number) => Math.round(x * 1e4) / 1e4;

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const dir = flags.get("model") ?? DEFAULT_MODEL_DIR;
  const manifest = JSON.parse(await readFile(`${dir}/manifest.json`, "utf8")) as { evaluation?: Record<string, number> };
  const evaluation = manifest.evaluation ?? {};
  const L = Number(evaluation.window_bytes ?? 512);
  const { engine, checkpoint, kernels } = await loadNodeEngine(dir, L + 1, flags.has("q8") ? "q8" : "f32", {}, kernelsFlag(flags));
  // the split the model was evaluated on: data/ (v1 corpus) or data/<set>/ (scripts/train/data.py)
  const { set, file } = testSplitOf(dir);
  let test: Uint8Array;
  try {
    test = new Uint8Array(await readFile(file));
  } catch {
    throw new Error(`${file} is missing: rebuild the corpus with \`/usr/bin/python3 -m scripts.train.data --set ${set}\` (see docs/training.md)`);
  }
  if (flags.has("long")) return long(Number(flags.get("long")), test, engine.model, flags.has("json"), Number(flags.get("windows") ?? 8));
  const all = Math.floor((test.length - 1) / L);
  // by default the windows the export evaluated: all of the split, or --test-bytes' worth spread evenly over it
  // (window i of n is window floor(i·all/n), as scripts/train/export.py picks them); exports made before the
  // spread selection read the first n windows
  const exported = Number(evaluation.test_windows ?? all);
  const windows = Math.min(all, Number(flags.get("windows") ?? exported));
  const spread = (evaluation as Record<string, unknown>).test_window_selection === "spread";
  const t0 = performance.now();
  let bits = 0, bitsAblated = 0, count = 0;
  for (let w = 0; w < windows; w++) {
    const at = spread ? Math.floor((w * all) / windows) : w;
    const text = test.subarray(at * L, at * L + L);
    engine.model.ablateLatents = false;
    bits += await bitsOf(engine.model, [BOS], text);
    engine.model.ablateLatents = true;
    bitsAblated += await bitsOf(engine.model, [BOS], text);
    count += L;
  }
  engine.model.ablateLatents = false;
  const bpb = bits / count, bpbAblated = bitsAblated / count;
  const full = windows === exported;
  const torchBpb: number | undefined = full ? evaluation.test_bits_per_byte_ar : undefined;
  const torchAblated: number | undefined = full ? evaluation.test_bits_per_byte_without_latents : undefined;
  const result = {
    model: dir, variant: checkpoint.variant, kernels: kernels.build, windows, bytes: count,
    bitsPerByte: round4(bpb), bitsPerByteWithoutLatents: round4(bpbAblated), latentGap: round4(bpbAblated - bpb),
    torchBitsPerByte: torchBpb ?? null, difference: torchBpb === undefined ? null : round4(bpb - torchBpb),
    torchBitsPerByteWithoutLatents: torchAblated ?? null,
    differenceWithoutLatents: torchAblated === undefined ? null : round4(bpbAblated - torchAblated),
    seconds: Math.round((performance.now() - t0) / 100) / 10,
  };
  if (flags.has("json")) console.log(JSON.stringify(result));
  else console.log(`${dir} (${checkpoint.variant}, ${kernels.build} kernels): ${result.bitsPerByte} bits/byte over ${windows} windows (${count} bytes), ` +
    `${result.bitsPerByteWithoutLatents} without latents (+${result.latentGap})` +
    (torchBpb === undefined ? "" : `; PyTorch ${torchBpb} / ${torchAblated ?? "?"}, difference ${result.difference}`) + ` in ${result.seconds} s`);
}

/** Windows of n bytes spread over the test split, each scored in one sliding pass: bpb within vs past the window. */
async function long(n: number, test: Uint8Array, model: BltModel, json: boolean, windows: number): Promise<void> {
  const W = model.config.maxSeqLen - 1, t0 = performance.now();
  if (!(n > W)) throw new Error(`--long must exceed the model's window of ${W} bytes`);
  let inBits = 0, inBytes = 0, pastBits = 0, pastBytes = 0, shortBits = 0;
  const count = Math.min(windows, Math.floor(test.length / n));
  for (let w = 0; w < count; w++) {
    const text = test.subarray(w * n, w * n + n), per = new Float64Array(n);
    await bitsOf(model, [BOS], text, per);
    for (let i = 0; i < n; i++) if (i < W) { inBits += per[i]; inBytes++; } else { pastBits += per[i]; pastBytes++; }
    // the same bytes past the window, scored in fresh training-sized windows instead (BOS, then the C bytes before a
    // chunk of C = W/2 bytes, so each byte sees C..W−1 bytes before it): what the sliding pass is compared with
    const C = Math.floor(W / 2);
    for (let o = W; o < n; o += C) shortBits += await bitsOf(model, [BOS, ...text.subarray(o - C, o)], text.subarray(o, Math.min(n, o + C)));
  }
  const r = { windowBytes: W + 1, windows: count, bytesPerWindow: n,
    bitsPerByteWithinWindow: round4(inBits / inBytes), bitsPerBytePastWindow: round4(pastBits / pastBytes), pastSlidingMinusFresh: Math.round((pastBits - shortBits) / pastBytes * 1e6) / 1e6,
    bitsPerBytePastWindowFreshContext: round4(shortBits / pastBytes), seconds: Math.round((performance.now() - t0) / 100) / 10 };
  if (json) console.log(JSON.stringify(r));
  else console.log(`${count} windows of ${n} bytes: ${r.bitsPerByteWithinWindow} bits/byte within the ${W + 1}-byte window, ` +
    `${r.bitsPerBytePastWindow} past it (sliding); the bytes past it in fresh windows (${Math.floor(W / 2)}–${W - 1} bytes before each): ${r.bitsPerBytePastWindowFreshContext} (${r.seconds} s)`);
}

main().catch((e) => { console.error(`eval: ${(e as Error).message}`); process.exit(1); });
