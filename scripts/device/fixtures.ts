// `npm run fixtures:device`: the TypeScript engine's greedy outputs for the device run's parity step, written to
// scripts/device/fixtures/parity.json so that the GPU machine (Python only, no Node) can compare the PyTorch pool
// worker's bytes and passes with them. Cases: every mode on the default model (blt-v2, the paper's latent rule) and on
// blt-d-tiny (v1), both block-prefix variants (states, tokens) of BLT-D and BLT-DV, and BLT-D's block commit "block".
//   npm run fixtures:device [-- --check]      (--check: fail if the committed file differs from what the engine makes)
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";

const OUT = "scripts/device/fixtures/parity.json";
const MODELS = ["models/blt-v2", "models/blt-d-tiny"];
const MODES = ["ar", "blt-d", "blt-s", "blt-dv"] as const;
const PROMPTS = ["It recommended that Fulton legislators act ", "Once upon a time, in a small town by the sea, "];
const BYTES = 48;

const knobs = (mode: string, extra: object = {}) => ({
  blockSize: 8, threshold: mode === "blt-dv" ? 0.3 : 0.9, entropyBound: null, maxStepsPerBlock: 8, draftLength: 8,
  blockCommit: "entropy", blockPrefix: "states", ...extra,
});
const cases: { model: string; mode: string; prompt: string; maxNewBytes: number; knobs: object }[] = [];
for (const model of MODELS) {
  for (const mode of MODES) for (const prompt of PROMPTS) cases.push({ model, mode, prompt, maxNewBytes: BYTES, knobs: knobs(mode) });
  for (const mode of ["blt-d", "blt-dv"]) cases.push({ model, mode, prompt: PROMPTS[0], maxNewBytes: BYTES, knobs: knobs(mode, { blockPrefix: "tokens" }) });
  cases.push({ model, mode: "blt-d", prompt: PROMPTS[1], maxNewBytes: BYTES, knobs: knobs("blt-d", { blockCommit: "block" }) });
}
const got = JSON.parse(execFileSync(process.execPath, ["--import", "tsx", "test/support/ts-greedy.ts"],
  { input: JSON.stringify(cases), maxBuffer: 1 << 26 }).toString()) as { bytes: string; passes: Record<string, number> }[];
const text = JSON.stringify({
  description: "greedy (T = 0) bytes (base64) and passes per component of the TypeScript engine (f32), one per case; " +
    "made by `npm run fixtures:device` (scripts/device/fixtures.ts), checked by scripts/device/parity.py",
  cases: cases.map((c, i) => ({ ...c, expected: got[i] })),
}, null, 1) + "\n";
if (process.argv.includes("--check")) {
  if (readFileSync(OUT, "utf8") !== text) { console.error(`${OUT} differs from the engine's output: run npm run fixtures:device`); process.exit(1); }
  console.log(`${OUT}: ${cases.length} cases, as the engine makes them`);
} else {
  writeFileSync(OUT, text);
  console.log(`${OUT}: ${cases.length} cases`);
}
