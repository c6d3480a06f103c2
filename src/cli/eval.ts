// `npm run eval -- --model models/blt-d-small [--windows N] [--q8] [--json]`: held-out test bits per byte computed
// by the TypeScript engine, on the same windows as scripts/train/export.py (non-overlapping, BOS + seq_len−1 bytes
// in, seq_len targets), compared with the PyTorch figure in the manifest.
import { readFile } from "node:fs/promises";
import { BOS } from "../config.ts";
import { bitsOf } from "../engine/score.ts";
import { loadNodeEngine, parseFlags } from "./node-engine.ts";

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const dir = flags.get("model") ?? "models/blt-d-small";
  const { engine, checkpoint } = await loadNodeEngine(dir, 1024, flags.has("q8") ? "q8" : "f32");
  const evaluation = checkpoint.manifest.evaluation ?? {};
  const L = Number(evaluation.window_bytes ?? 512);
  let test: Uint8Array;
  try {
    test = new Uint8Array(await readFile("data/test.txt"));
  } catch {
    throw new Error("data/test.txt is missing: rebuild the corpus with `/usr/bin/python3 -m scripts.train.data` (see docs/training.md)");
  }
  const all = Math.floor((test.length - 1) / L);
  const windows = Math.min(all, Number(flags.get("windows") ?? all));
  const t0 = performance.now();
  let bits = 0, count = 0;
  for (let w = 0; w < windows; w++) {
    const o = w * L;
    bits += await bitsOf(engine.model, [BOS], test.subarray(o, o + L));
    count += L;
  }
  const bpb = bits / count;
  const torchBpb = windows === all ? evaluation.test_bits_per_byte_ar : undefined;
  const result = { model: dir, variant: checkpoint.variant, windows, bytes: count, bitsPerByte: Math.round(bpb * 1e4) / 1e4,
    torchBitsPerByte: torchBpb ?? null, difference: torchBpb === undefined ? null : Math.round((bpb - torchBpb) * 1e4) / 1e4,
    seconds: Math.round((performance.now() - t0) / 100) / 10 };
  if (flags.has("json")) console.log(JSON.stringify(result));
  else console.log(`${dir} (${checkpoint.variant}): ${result.bitsPerByte} bits/byte over ${windows} windows (${count} bytes)` +
    (torchBpb === undefined ? "" : `; PyTorch ${torchBpb}, difference ${result.difference}`) + ` in ${result.seconds} s`);
}

main().catch((e) => { console.error(`eval: ${(e as Error).message}`); process.exit(1); });
