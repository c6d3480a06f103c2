// Node-side helpers for tests: a ReadFile over a directory on disk.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { ReadFile } from "../../src/checkpoint/reader.ts";

export const TINY = "models/blt-d-tiny";

export function dirReader(dir: string): ReadFile {
  return async (name) => new Uint8Array(await readFile(join(dir, name)));
}
