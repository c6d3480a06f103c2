// `npm run bench:agreement -- [--model models/blt-v2] [--prompts 6] [--bytes 128] [--p 0.8,0.86,0.9,0.95,0.97,0.99]
//  [--seeds 8] [--json]`: what per-byte agreement with AR a decoder needs for its greedy text to agree with greedy AR
// on a given share of positions (the bench's `agreeWithAR`, its BLT-D measure). A *perturbed AR* stands in for
// any decoder that picks AR's argmax with probability p at each byte: greedy AR, except that with probability 1 - p
// a byte is AR's second-ranked byte instead. Its positional agreement with plain greedy AR on the bench's held-out
// prompts is printed per p (mean over prompts × seeds). A benchmark aid: it patches the greedy sampler for the whole
// process, prints figures and asserts nothing.
import { loadNodeEngine, parseFlags } from "../../src/cli/node-engine.ts";
import { DEFAULT_MODEL_DIR } from "../../src/config.ts";
import { Rng, Sampler } from "../../src/engine/decode/sampler.ts";
import { agreement, heldOutCases, request, type Config } from "./decode-cases.ts";

const flags = parseFlags(process.argv.slice(2));
const dir = flags.get("model") ?? DEFAULT_MODEL_DIR, nBytes = Number(flags.get("bytes") ?? 128);
const ps = (flags.get("p") ?? "0.8,0.86,0.9,0.95,0.97,0.99").split(",").map(Number), seeds = Number(flags.get("seeds") ?? 8);
const cases = heldOutCases(dir, Number(flags.get("prompts") ?? 6), 128, nBytes);
const { engine } = await loadNodeEngine(dir, undefined, "f32");

let perturb: { p: number; rng: Rng } | null = null;
const pick = Sampler.prototype.pick;
Sampler.prototype.pick = function (this: Sampler, logits, scratch, offset = 0) {
  const best = pick.call(this, logits, scratch, offset);
  if (!perturb || !this.greedy || perturb.rng.next() < perturb.p) return best;
  let second = -1;
  for (let i = 0; i < 256; i++) if (i !== best && (second < 0 || logits[offset + i] > logits[offset + second])) second = i;
  return second;
};

const ar: Config = { mode: "ar", temperature: 0 } as Config;
async function decode(prompt: Uint8Array): Promise<Uint8Array> {
  const out: number[] = [];
  for await (const e of engine.decode(request(ar, prompt, nBytes, 1))) {
    if (e.type === "bytes") out.push(...e.bytes);
    else if (e.type === "error") throw new Error(e.message);
  }
  return Uint8Array.from(out);
}

const reference: Uint8Array[] = [];
for (const c of cases) reference.push(await decode(c.prompt));
const rows: { p: number; agreement: number; min: number; max: number; runs: number }[] = [];
for (const p of ps) {
  const shares: number[] = [];
  for (let s = 0; s < seeds; s++) {
    for (const [i, c] of cases.entries()) {
      perturb = { p, rng: new Rng(1000 * s + i + 1) }; // the same perturbations on every run
      shares.push(agreement(await decode(c.prompt), reference[i]));
      perturb = null;
    }
  }
  const mean = shares.reduce((a, b) => a + b, 0) / shares.length, r3 = (x: number) => Math.round(x * 1000) / 1000;
  rows.push({ p, agreement: r3(mean), min: r3(Math.min(...shares)), max: r3(Math.max(...shares)), runs: shares.length });
}
if (flags.has("json")) console.log(JSON.stringify({ model: dir, prompts: cases.length, bytes: nBytes, rows }));
else {
  console.log(`${dir}: ${cases.length} held-out prompts × ${nBytes} bytes, ${seeds} seeds; greedy AR with each byte AR's second choice with probability 1 - p`);
  for (const r of rows) console.log(`per-byte agreement p ${r.p.toFixed(2)}: positional agreement with greedy AR ${r.agreement.toFixed(3)} (runs ${r.min}..${r.max})`);
}
