// q8 files may store the embedding tables (byte and hashed n-gram) as int8 + one scale per row
// (`__metadata__.embeddings = "int8"`, scripts/train/export.py q8_state): the reader expects exactly that layout,
// and the engine expands each table to f32 at load, so the model scores text as with the f32 tables, up to rounding.
import { describe, expect, it } from "vitest";
import { BOS } from "../../src/config.ts";
import { expectedTensorsQ8, isEmbedding } from "../../src/checkpoint/format.ts";
import { readCheckpoint, type Checkpoint } from "../../src/checkpoint/reader.ts";
import type { TensorView } from "../../src/checkpoint/safetensors.ts";
import { loadModel } from "../../src/engine/load.ts";
import { bitsOf } from "../../src/engine/score.ts";
import { WasmKernels } from "../../src/kernels/wasm/wasm-kernels.ts";
import { compileKernelsModuleNode } from "../../wasm/node.ts";
import { dirReader, TINY } from "../support/node-files.ts";

/** export.py's quantize_rows: scale = max|row| / 127, q = round(w / scale) clamped to ±127. */
function quantizeRows(t: TensorView, scaleOf?: (s: number) => number): TensorView[] {
  const [rows, cols] = t.shape;
  const w = new Float32Array(t.bytes.slice().buffer), q = new Int8Array(rows * cols), scale = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let max = 0;
    for (let j = 0; j < cols; j++) max = Math.max(max, Math.abs(w[r * cols + j]));
    const s = max > 0 ? max / 127 : 1;
    scale[r] = scaleOf ? scaleOf(s) : s;
    for (let j = 0; j < cols; j++) q[r * cols + j] = Math.max(-127, Math.min(127, Math.round(w[r * cols + j] / s)));
  }
  return [{ name: t.name, dtype: "I8", shape: [rows, cols], bytes: new Uint8Array(q.buffer) },
          { name: t.name + ".scale", dtype: "F32", shape: [rows], bytes: new Uint8Array(scale.buffer) }];
}

/** The tiny model's q8 checkpoint with its embedding tables turned int8 (as a newer export writes them). */
function withInt8Embeddings(ck: Checkpoint, scaleOf?: (s: number) => number): Checkpoint {
  const tensors = new Map<string, TensorView>();
  for (const t of ck.tensors.values()) for (const u of isEmbedding(t.name) ? quantizeRows(t, scaleOf) : [t]) tensors.set(u.name, u);
  return { ...ck, tensors };
}

const TEXT = new TextEncoder().encode("It recommended that Fulton legislators act to have these laws studied and revised.");

async function bitsPerByte(ck: Checkpoint): Promise<number> {
  const module = compileKernelsModuleNode();
  const model = await loadModel(ck, (bytes) => WasmKernels.create(module, bytes), 256);
  return (await bitsOf(model, [BOS], TEXT)) / TEXT.length;
}

describe("int8 embedding tables in q8 checkpoints", () => {
  it("are the layout the reader expects when the metadata says so, and only then", async () => {
    const ck = await readCheckpoint(TINY, dirReader(TINY), "q8");
    const int8 = withInt8Embeddings(ck);
    const want = expectedTensorsQ8(ck.config, true);
    expect([...int8.tensors.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [name, spec] of want) expect([int8.tensors.get(name)!.dtype, int8.tensors.get(name)!.shape]).toEqual([spec.dtype, spec.shape]);
    const tables = [...want.keys()].filter((n) => isEmbedding(n));
    expect(tables.filter((n) => n.includes(".ngram_emb.")).length).toBe(ck.config.ngram.sizes.length);
    for (const n of tables) expect([want.get(n)!.dtype, want.get(n + ".scale")?.dtype]).toEqual(["I8", "F32"]);
    expect(expectedTensorsQ8(ck.config, false).get("local_encoder.tok_emb.weight")!.dtype).toBe("F32");
  });

  it("are expanded to f32 at load: the model scores text as with f32 tables, up to rounding", async () => {
    const ck = await readCheckpoint(TINY, dirReader(TINY), "q8");
    const ref = await bitsPerByte(ck), int8 = await bitsPerByte(withInt8Embeddings(ck));
    expect(Math.abs(int8 - ref)).toBeLessThan(0.02 * ref);
    // the scale is applied: tables expanded with the wrong scale score the text differently
    const wrong = await bitsPerByte(withInt8Embeddings(ck, (s) => s * 2));
    expect(Math.abs(wrong - ref)).toBeGreaterThan(10 * Math.abs(int8 - ref));
  });
});
