// The ONNX peer's parity check: greedy AR bytes from onnxruntime-web and onnxruntime-node running the
// exported graphs (scripts/bench/onnx_export.py) must equal the TS engine's greedy AR output with f32 weights
// (src/cli/generate.ts --mode ar --temperature 0), and their patches must equal the engine's (its Sequence over
// the same bytes). Exits 1 on any mismatch, printing where the streams part.
//   npx tsx scripts/bench/onnx-check.ts [--dir .cache/onnx/blt-d-small] [--model models/blt-d-small] [--max-bytes 128]
import { execFileSync } from "node:child_process";
import { loadNodeEngine } from "../../src/cli/node-engine.ts";
import { Sequence } from "../../src/engine/decode/sequence.ts";
import { createOnnxDecoder, type OrtImpl } from "./onnx-decode.ts";

const PROMPTS = [
  "The quick brown fox ",
  "It recommended that Fulton legislators act ",
  "Once upon a time, there was a",
  "",
  "Café, naïve résumé — ",
];

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

function engineGreedy(model: string, prompt: string, maxBytes: number): Uint8Array {
  const out = execFileSync("npx", ["tsx", "src/cli/generate.ts", "--model", model, "--mode", "ar", "--prompt", prompt,
    "--max-bytes", String(maxBytes), "--temperature", "0", "--json"], { encoding: "utf8" });
  return new Uint8Array(Buffer.from(JSON.parse(out.trim().split("\n").pop()!).bytesBase64, "base64"));
}

const show = (b: Uint8Array) => JSON.stringify(Buffer.from(b).toString("utf8"));

async function main(): Promise<void> {
  const dir = flag("dir", ".cache/onnx/blt-d-small"), model = flag("model", "models/blt-d-small");
  const maxBytes = Number(flag("max-bytes", "128"));
  const refs = PROMPTS.map((p) => engineGreedy(model, p, maxBytes));
  const { engine } = await loadNodeEngine(model, 512, "f32");
  const refStarts: string[] = [];
  for (const [k, p] of PROMPTS.entries()) {
    const seq = new Sequence(engine.model);
    await seq.prefill(new Uint8Array([...new TextEncoder().encode(p), ...refs[k]]));
    refStarts.push(seq.starts.join(","));
  }
  let failures = 0;
  for (const impl of ["ort-web", "ort-node"] as OrtImpl[]) {
    const dec = await createOnnxDecoder(dir, impl);
    for (let k = 0; k < PROMPTS.length; k++) {
      const prompt = new TextEncoder().encode(PROMPTS[k]), ref = refs[k];
      const r = await dec.generate(prompt, maxBytes), got = r.bytes;
      let at = 0;
      while (at < Math.min(got.length, ref.length) && got[at] === ref[at]) at++;
      const same = at === got.length && got.length === ref.length;
      const samePatches = !same || r.starts.join(",") === refStarts[k];
      console.log(`${impl} prompt ${JSON.stringify(PROMPTS[k])}: ${same ? `identical (${got.length} bytes, ${r.starts.length} patches` +
        `${samePatches ? " as the engine's" : `; PATCHES DIFFER: ${r.starts} vs engine ${refStarts[k]}`})` : `DIFFERS at byte ${at} of ${ref.length}`}`);
      if (!samePatches) failures++;
      if (!same) {
        failures++;
        console.log(`  engine: ${show(ref.subarray(at))}\n  ${impl}: ${show(got.subarray(at))}`);
      }
    }
  }
  console.log(failures ? `onnx-check: ${failures} mismatch(es)` : `onnx-check: ort-web and ort-node equal the TS engine on ${PROMPTS.length} prompts × ${maxBytes} bytes`);
  process.exit(failures ? 1 : 0);
}

main().catch((e) => { console.error(`onnx-check: ${(e as Error).stack}`); process.exit(1); });
