// What the decoding benchmark runs and how it scores it: prompts and reference continuations from the
// held-out split, the mode configurations, and the quality measures (agreement with AR, bits per byte under
// the AR model, byte accuracy against the reference, distinct n-grams of sampled text).
import { existsSync, readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { BOS } from "../../src/config.ts";
import { testSplitOf } from "../../src/cli/node-engine.ts";
import { bitsOf } from "../../src/engine/score.ts";
import type { Engine } from "../../src/engine/engine.ts";
import type { BlockCommit, BlockPrefix, DecodeMode, DecodeRequest } from "../../src/protocol.ts";

export interface Case { prompt: Uint8Array; reference: Uint8Array }

export interface Config {
  mode: DecodeMode;
  blockSize: number | null;
  threshold: number | null;
  /** BLT-D: at most this many decoder passes per block (the last pass unmasks every position left); null = B. */
  steps: number | null;
  draft: number | null;
  temperature: number;
  /** BLT-D: "block" commits each block as one patch (the variant measured beside the paper's Algorithm 1). */
  commit?: BlockCommit;
  /** BLT-D / BLT-DV: what a block's filled prefix gives the decoder (ModeKnobs.blockPrefix); absent: the mode's default. */
  prefix?: BlockPrefix;
}

export const label = (c: Config) =>
  c.mode + (c.blockSize ? ` B=${c.blockSize}` : "") + (c.threshold && c.mode === "blt-d" ? ` α=${c.threshold}` : "") + (c.steps ? ` ≤${c.steps} passes` : "") +
  (c.draft ? ` k=${c.draft}` : "") + (c.temperature ? ` T=${c.temperature}` : "") + (c.commit === "block" ? " block-commit" : "") +
  (c.prefix ? ` prefix-${c.prefix}` : "");

const greedy = (mode: DecodeMode, o: Partial<Config> = {}): Config => ({ mode, blockSize: null, threshold: null, steps: null, draft: null, temperature: 0, ...o });

export const CONFIGS: Config[] = [
  greedy("ar"),
  greedy("blt-s", { draft: 8 }),
  greedy("blt-s", { draft: 16 }),
  greedy("blt-s", { draft: 32 }),
  greedy("blt-s", { draft: 64 }),
  greedy("blt-dv", { blockSize: 8, threshold: 0.3 }),
  ...[4, 8, 16].flatMap((B) => [0.5, 0.7, 0.9].map((a) => greedy("blt-d", { blockSize: B, threshold: a }))),
  // a pass budget per block: the speed end of BLT-D's speed/quality trade-off
  ...[4, 2, 1].map((s) => greedy("blt-d", { blockSize: 8, threshold: 0.9, steps: s })),
  // the one-patch-per-block commit, beside Algorithm 1's re-patching (the rows above)
  greedy("blt-d", { blockSize: 8, threshold: 0.9, commit: "block" }),
  // the paper's token inputs for a block's filled prefix, beside the default prefix states (the rows above)
  greedy("blt-d", { blockSize: 8, threshold: 0.9, prefix: "tokens" }),
  greedy("blt-dv", { blockSize: 8, threshold: 0.3, prefix: "tokens" }),
  greedy("ar", { temperature: 0.8 }),
  greedy("blt-d", { blockSize: 8, threshold: 0.9, temperature: 0.8 }),
];

/**
 * Held-out prompts: `n` windows spread over the test split of the model in `modelDir` (the split it was trained
 * apart from; testSplitOf), each cut at a space, with the bytes that follow.
 */
export function heldOutCases(modelDir: string, n: number, promptBytes: number, refBytes: number): Case[] {
  const { set, file } = testSplitOf(modelDir);
  if (!existsSync(file)) execFileSync("/usr/bin/python3", ["-m", "scripts.train.data", "--set", set], { stdio: "inherit" });
  const test = new Uint8Array(readFileSync(file));
  const cases: Case[] = [];
  for (let i = 0; i < n; i++) {
    let o = Math.floor(((i + 0.5) / n) * (test.length - 2 * (promptBytes + refBytes)));
    while (test[o] !== 0x20) o++;
    const start = o + 1;
    let end = start + promptBytes;
    while (test[end - 1] !== 0x20) end--; // a prompt ends after a space, never inside a UTF-8 character
    cases.push({ prompt: test.slice(start, end), reference: test.slice(end, end + refBytes) });
  }
  return cases;
}

export function request(c: Config, prompt: Uint8Array, maxNewBytes: number, seed: number, model = "bench"): DecodeRequest {
  return {
    model, prompt, maxNewBytes, mode: c.mode, stop: [],
    sampling: { temperature: c.temperature, topP: 1, topK: 0, seed },
    knobs: { blockSize: c.blockSize ?? 8, threshold: c.threshold ?? 0.9, entropyBound: null, maxStepsPerBlock: c.steps ?? c.blockSize ?? 8, draftLength: c.draft ?? 8, blockCommit: c.commit ?? "entropy", blockPrefix: c.prefix },
  };
}

/** Fraction of positions where two outputs hold the same byte (over the reference's length). */
export function agreement(a: Uint8Array, ref: Uint8Array): number {
  let same = 0;
  for (let i = 0; i < ref.length; i++) if (a[i] === ref[i]) same++;
  return ref.length ? same / ref.length : 1;
}

/** Bits per byte of `text` after `prompt` under the engine's model (teacher-forced, one batched pass). */
export async function bitsPerByte(engine: Engine, prompt: Uint8Array, text: Uint8Array): Promise<number> {
  return (await bitsOf(engine.model, [BOS, ...prompt], text)) / text.length;
}

/** Distinct word n-grams over all samples / all word n-grams (Li et al. 2016's distinct-n). */
export function distinctN(texts: string[], n: number): number {
  const seen = new Set<string>();
  let total = 0;
  for (const t of texts) {
    const w = t.split(/\s+/).filter(Boolean);
    for (let i = 0; i + n <= w.length; i++) { seen.add(w.slice(i, i + n).join(" ")); total++; }
  }
  return total ? seen.size / total : 0;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
