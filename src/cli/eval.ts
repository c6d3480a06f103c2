// `npm run eval -- --model models/blt-v2 [--windows N] [--q8] [--json]`: held-out test bits per byte computed
// by the TypeScript engine, on the same windows as scripts/train/export.py (non-overlapping, BOS + seq_len−1 bytes
// in, seq_len targets), with and without the latents (the global model's contribution, fast-blt.md §1), compared
// with the PyTorch figures in the manifest.
import { readFile } from "node:fs/promises";
import { BOS } from "../config.ts";
import { bitsOf } from "../engine/score.ts";
import { loadNodeEngine, parseFlags } from "./node-engine.ts";

const round4 = (x: number) => Math.round(x * 1e4) / 1e4;

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const dir = flags.get("model") ?? "models/blt-v2";
  const manifest = JSON.parse(await readFile(`${dir}/manifest.json`, "utf8")) as { evaluation?: Record<string, number>; corpus?: { source_set?: string } };
  const evaluation = manifest.evaluation ?? {};
  const L = Number(evaluation.window_bytes ?? 512);
  const { engine, checkpoint } = await loadNodeEngine(dir, L + 1, flags.has("q8") ? "q8" : "f32");
  // the split the model was evaluated on: data/ (v1 corpus) or data/<set>/ (scripts/train/data.py)
  const set = manifest.corpus?.source_set ?? "v1";
  const file = set === "v1" ? "data/test.txt" : `data/${set}/test.txt`;
  let test: Uint8Array;
  try {
    test = new Uint8Array(await readFile(file));
  } catch {
    throw new Error(`${file} is missing: rebuild the corpus with \`/usr/bin/python3 -m scripts.train.data --set ${set}\` (see docs/training.md)`);
  }
  const all = Math.floor((test.length - 1) / L);
  const windows = Math.min(all, Number(flags.get("windows") ?? all));
  const t0 = performance.now();
  let bits = 0, bitsAblated = 0, count = 0;
  for (let w = 0; w < windows; w++) {
    const text = test.subarray(w * L, w * L + L);
    engine.model.ablateLatents = false;
    bits += await bitsOf(engine.model, [BOS], text);
    engine.model.ablateLatents = true;
    bitsAblated += await bitsOf(engine.model, [BOS], text);
    count += L;
  }
  engine.model.ablateLatents = false;
  const bpb = bits / count, bpbAblated = bitsAblated / count;
  const full = windows === all;
  const torchBpb: number | undefined = full ? evaluation.test_bits_per_byte_ar : undefined;
  const torchAblated: number | undefined = full ? evaluation.test_bits_per_byte_without_latents : undefined;
  const result = {
    model: dir, variant: checkpoint.variant, windows, bytes: count,
    bitsPerByte: round4(bpb), bitsPerByteWithoutLatents: round4(bpbAblated), latentGap: round4(bpbAblated - bpb),
    torchBitsPerByte: torchBpb ?? null, difference: torchBpb === undefined ? null : round4(bpb - torchBpb),
    torchBitsPerByteWithoutLatents: torchAblated ?? null,
    differenceWithoutLatents: torchAblated === undefined ? null : round4(bpbAblated - torchAblated),
    seconds: Math.round((performance.now() - t0) / 100) / 10,
  };
  if (flags.has("json")) console.log(JSON.stringify(result));
  else console.log(`${dir} (${checkpoint.variant}): ${result.bitsPerByte} bits/byte over ${windows} windows (${count} bytes), ` +
    `${result.bitsPerByteWithoutLatents} without latents (+${result.latentGap})` +
    (torchBpb === undefined ? "" : `; PyTorch ${torchBpb} / ${torchAblated ?? "?"}, difference ${result.difference}`) + ` in ${result.seconds} s`);
}

main().catch((e) => { console.error(`eval: ${(e as Error).message}`); process.exit(1); });
