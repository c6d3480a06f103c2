// The checkpoint reader accepts the committed tiny model and refuses truncated, corrupt and mismatched files
// with an error that names the file and the tensor.
import { describe, expect, it } from "vitest";
import { readFile } from "node:fs/promises";
import { CheckpointError, readCheckpoint, sha256Hex, type ReadFile } from "../../src/checkpoint/reader.ts";
import { parseSafetensors } from "../../src/checkpoint/safetensors.ts";
import { dirReader, TINY } from "../support/node-files.ts";

/** A reader over the tiny model with one file replaced, and the manifest optionally updated to match it. */
async function withFile(name: string, data: Uint8Array, updateManifest: boolean): Promise<ReadFile> {
  const base = dirReader(TINY);
  const manifest = JSON.parse(new TextDecoder().decode(await base("manifest.json")));
  if (updateManifest) manifest.files[name] = { bytes: data.byteLength, sha256: await sha256Hex(data) };
  const manifestBytes = new TextEncoder().encode(JSON.stringify(manifest));
  return async (n) => (n === name ? data : n === "manifest.json" ? manifestBytes : base(n));
}

/** Re-encodes a safetensors file with its header transformed. */
function rewriteHeader(data: Uint8Array, edit: (h: Record<string, any>) => void): Uint8Array {
  const n = Number(new DataView(data.buffer, data.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(data.subarray(8, 8 + n)));
  edit(header);
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + (data.length - 8 - n));
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data.subarray(8 + n), 8 + json.length);
  return out;
}

describe("checkpoint reader", () => {
  it("loads the tiny model in f32 and int8, with its config", async () => {
    const f32 = await readCheckpoint(TINY, dirReader(TINY), "f32");
    expect(f32.config.encoder.dim).toBeGreaterThan(0);
    expect(f32.config.patching.threshold).toBeGreaterThan(0);
    const q8 = await readCheckpoint(TINY, dirReader(TINY), "q8");
    const w = q8.tensors.get("local_decoder.head.weight")!;
    expect(w.dtype).toBe("I8");
    expect(q8.tensors.get("local_decoder.head.weight.scale")!.shape).toEqual([w.shape[0]]);
  });

  it("refuses a truncated weight file, naming it", async () => {
    const data = new Uint8Array(await readFile(`${TINY}/model.safetensors`));
    const cut = data.subarray(0, data.length - 1000);
    await expect(readCheckpoint(TINY, await withFile("model.safetensors", cut, false))).rejects.toThrow(/model\.safetensors.*manifest says/);
    // Even when the manifest agrees, the parser finds the last tensor short and names it.
    const err = await readCheckpoint(TINY, await withFile("model.safetensors", cut, true)).catch((e) => e);
    expect(err).toBeInstanceOf(CheckpointError);
    expect(err.message).toMatch(/model\.safetensors \(tensor [\w.]+\): .*truncated/);
  });

  it("refuses a corrupt weight file by its sha256", async () => {
    const data = new Uint8Array(await readFile(`${TINY}/model.safetensors`));
    data[data.length - 5] ^= 0xff;
    await expect(readCheckpoint(TINY, await withFile("model.safetensors", data, false))).rejects.toThrow(/model\.safetensors: sha256 .* corrupt/);
  });

  it("refuses a tensor whose shape or dtype does not match the config, naming the tensor", async () => {
    const data = new Uint8Array(await readFile(`${TINY}/model.safetensors`));
    const wrong = rewriteHeader(data, (h) => {
      const t = h["local_decoder.head.weight"];
      t.shape = [t.shape[1], t.shape[0]];
    });
    await expect(readCheckpoint(TINY, await withFile("model.safetensors", wrong, true)))
      .rejects.toThrow(/model\.safetensors \(tensor local_decoder\.head\.weight\): is F32\[\d+,\d+\] but the config needs F32/);
    const missing = rewriteHeader(data, (h) => { h["extra.weight"] = h["local_decoder.norm.weight"]; delete h["local_decoder.norm.weight"]; });
    await expect(readCheckpoint(TINY, await withFile("model.safetensors", missing, true)))
      .rejects.toThrow(/tensor local_decoder\.norm\.weight\): is missing/);
  });

  it("refuses garbage and a bad header with a message, not a crash", () => {
    expect(() => parseSafetensors("x.safetensors", new Uint8Array(4))).toThrow(/x\.safetensors: only 4 bytes/);
    const bad = new Uint8Array(17);
    new DataView(bad.buffer).setBigUint64(0, 9n, true);
    bad.set(new TextEncoder().encode("{not json"), 8);
    expect(() => parseSafetensors("x.safetensors", bad)).toThrow(/header is not valid JSON/);
  });
});
