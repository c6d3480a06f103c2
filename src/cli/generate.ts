// `npm run generate -- [--model models/blt-v2] --mode blt-d --prompt "…" --max-bytes 200 [--temperature 0]
//  [--top-p 1] [--top-k 0] [--block-size 8] [--threshold 0.9] [--entropy-bound γ] [--block-prefix tokens|states] [--draft 8] [--seed 1]
//  [--stop "…"] [--q8] [--json] [--kernels simd128|relaxed|auto]`. Streams text to the terminal, or prints one JSON object with --json.
import { DEFAULT_MODEL_DIR } from "../config.ts";
import { DECODE_MODES, type BlockPrefix, type DecodeMode, type DecodeRequest, type DecodeStats } from "../protocol.ts";
import { MAX_NEW_BYTES } from "../engine/engine.ts";
import { kernelsFlag, loadNodeEngine, parseFlags } from "./node-engine.ts";

function num(flags: Map<string, string>, name: string, fallback: number): number {
  const v = flags.get(name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`--${name} must be a number, got ${JSON.stringify(v)}`);
  return n;
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const mode = (flags.get("mode") ?? "blt-d") as DecodeMode;
  if (!DECODE_MODES.includes(mode)) throw new Error(`--mode must be one of ${DECODE_MODES.join(", ")}`);
  const dir = flags.get("model") ?? DEFAULT_MODEL_DIR;
  const prompt = new TextEncoder().encode(flags.get("prompt") ?? "");
  const maxNewBytes = num(flags, "max-bytes", 200);
  // the prompt must fit the model's window; generation runs past it (the caches slide)
  const { engine, kernels } = await loadNodeEngine(dir, undefined, flags.has("q8") ? "q8" : "f32", { maxNewBytes: Math.max(MAX_NEW_BYTES, maxNewBytes) }, kernelsFlag(flags));
  const blockSize = num(flags, "block-size", 8);
  const request: DecodeRequest = {
    model: dir, prompt, maxNewBytes, mode,
    sampling: { temperature: num(flags, "temperature", 0), topP: num(flags, "top-p", 1), topK: num(flags, "top-k", 0), seed: num(flags, "seed", 1) },
    knobs: {
      blockSize, threshold: num(flags, "threshold", mode === "blt-dv" ? 0.3 : 0.9),
      entropyBound: flags.has("entropy-bound") ? num(flags, "entropy-bound", 1) : null,
      maxStepsPerBlock: num(flags, "max-steps", blockSize), draftLength: num(flags, "draft", 8),
      blockPrefix: flags.get("block-prefix") as BlockPrefix | undefined, // checked by the engine (block_prefix)
    },
    stop: flags.has("stop") ? [new TextEncoder().encode(flags.get("stop"))] : [],
  };
  const json = flags.has("json");
  const chunks: Uint8Array[] = [];
  const decoder = new TextDecoder();
  for await (const e of engine.decode(request)) {
    if (e.type === "bytes") {
      chunks.push(e.bytes);
      if (!json) process.stdout.write(decoder.decode(e.bytes, { stream: true }));
    } else if (e.type === "error") {
      throw new Error(`${e.code}: ${e.message}`);
    } else {
      const bytes = Buffer.concat(chunks);
      if (json) console.log(JSON.stringify({ text: bytes.toString("utf8"), bytesBase64: bytes.toString("base64"), finishReason: e.finishReason, kernels: kernels.build, stats: statsJson(e.stats) }));
      else process.stdout.write(`\n\n[${e.finishReason}] ${summary(e.stats)}; ${kernels.build} kernels\n`);
    }
  }
}

function statsJson(s: DecodeStats) {
  return { generatedBytes: s.generatedBytes, passes: s.passes, draftedBytes: s.draftedBytes, acceptedBytes: s.acceptedBytes,
           estBytesMoved: s.estBytesMoved, wallMs: Math.round(s.wallMs * 10) / 10, prefillMs: Math.round(s.prefillMs * 10) / 10 };
}

function summary(s: DecodeStats): string {
  const per = (x: number) => (x / Math.max(1, s.generatedBytes)).toFixed(3);
  return `${s.generatedBytes} bytes in ${s.wallMs.toFixed(0)} ms; passes per byte: entropy ${per(s.passes.entropy)}, encoder ${per(s.passes.encoder)}, ` +
    `global ${per(s.passes.global)}, decoder ${per(s.passes.decoder)}; drafted ${s.draftedBytes}, accepted ${s.acceptedBytes}; ` +
    `est. traffic ${(s.estBytesMoved / Math.max(1, s.generatedBytes) / 1e6).toFixed(2)} MB/byte`;
}

main().catch((e) => { console.error(`generate: ${(e as Error).message}`); process.exit(1); });
