// Node-side helpers for tests: a ReadFile over a directory on disk.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { ReadFile } from "../../src/checkpoint/reader.ts";

export const TINY = "models/blt-d-tiny";

export function dirReader(dir: string): ReadFile {
  return async (name) => new Uint8Array(await readFile(join(dir, name)));
}

/** The default model: the paper's latent rule, 2,048 bytes of context (docs/model.md). */
export const V2 = "models/blt-v2";
