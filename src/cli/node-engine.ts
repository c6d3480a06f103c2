// Node composition root shared by the CLIs: a model directory on disk, on the Wasm SIMD kernels (the build KERNELS
// or `--kernels simd128|relaxed|auto` names; auto: wasm/node.ts's choice).
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { readCheckpoint, type Checkpoint } from "../checkpoint/reader.ts";
import type { WeightVariant } from "../checkpoint/format.ts";
import { Engine, type EngineOptions } from "../engine/engine.ts";
import { loadModel } from "../engine/load.ts";
import { WasmKernels } from "../kernels/wasm/wasm-kernels.ts";
import { parseKernelsSetting, type KernelChoice, type KernelsSetting } from "../../wasm/loader.ts";
import { chooseKernelsNode, kernelsSettingFromEnv } from "../../wasm/node.ts";

/**
 * ctx: the most bytes a prompt may fill with BOS (default and cap: the model's max_seq_len); kernels: which build
 * (default: the KERNELS environment variable, else auto).
 */
export async function loadNodeEngine(dir: string, ctx?: number, variant: WeightVariant = "f32", options: EngineOptions = {},
    kernels: KernelsSetting = kernelsSettingFromEnv()): Promise<{ engine: Engine; checkpoint: Checkpoint; kernels: KernelChoice }> {
  const checkpoint = await readCheckpoint(dir, async (name) => new Uint8Array(await readFile(join(dir, name))), variant);
  const choice = await chooseKernelsNode(kernels);
  const model = await loadModel(checkpoint, (bytes) => WasmKernels.create(choice.module, bytes), ctx);
  return { engine: new Engine(model, options), checkpoint, kernels: choice };
}

/** `--kernels simd128|relaxed|auto`, else the KERNELS environment variable, else auto. */
export function kernelsFlag(flags: Map<string, string>): KernelsSetting {
  return flags.has("kernels") ? parseKernelsSetting(flags.get("kernels")) : kernelsSettingFromEnv();
}

/**
 * The held-out test split a model was trained apart from: data/test.txt for the v1 corpus, data/<set>/test.txt
 * otherwise (manifest corpus.source_set; scripts/train/data.py builds it with `--set <set>`).
 */
export function testSplitOf(dir: string): { set: string; file: string } {
  const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as { corpus?: { source_set?: string } };
  const set = manifest.corpus?.source_set ?? "v1";
  return { set, file: set === "v1" ? "data/test.txt" : `data/${set}/test.txt` };
}

/** --name value flags; bare --flag is "true". */
export function parseFlags(argv: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) throw new Error(`unexpected argument ${JSON.stringify(a)}`);
    const next = argv[i + 1];
    if (next === undefined || next.startsWith("--")) m.set(a.slice(2), "true");
    else { m.set(a.slice(2), next); i++; }
  }
  return m;
}
