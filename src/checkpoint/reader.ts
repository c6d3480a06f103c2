// Reads a checkpoint directory through a caller-supplied file reader (fs in Node, fetch or bundled assets in
// Workers and browsers): checks the manifest's size and sha256 of the weight file, the format version, the
// config, and every tensor's presence, dtype and shape. Any problem is a CheckpointError naming file and tensor.
import { ConfigError, parseModelConfig, type ModelConfig } from "../config.ts";
import { expectedTensors, expectedTensorsQ8, FORMAT_VERSION, WEIGHT_FILES, type WeightVariant } from "./format.ts";
import { CheckpointError, parseSafetensors, type TensorView } from "./safetensors.ts";

export { CheckpointError };

/** Returns a file of the checkpoint directory by name, e.g. "manifest.json". */
export type ReadFile = (name: string) => Promise<Uint8Array>;

export interface Manifest {
  name: string;
  format_version: string;
  files: Record<string, { bytes: number; sha256: string }>;
  evaluation?: Record<string, number>;
  [key: string]: unknown;
}

export interface Checkpoint {
  /** The directory label used in messages, e.g. "models/blt-d-small". */
  dir: string;
  variant: WeightVariant;
  config: ModelConfig;
  manifest: Manifest;
  tensors: Map<string, TensorView>;
}

async function readOrFail(dir: string, name: string, read: ReadFile): Promise<Uint8Array> {
  try {
    return await read(name);
  } catch (e) {
    throw new CheckpointError(`${dir}/${name}`, `cannot be read (${(e as Error).message}); export the model with \`npm run export\``);
  }
}

export async function sha256Hex(data: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Loads and verifies `<dir>/manifest.json` and the weight file of the chosen variant. */
export async function readCheckpoint(dir: string, read: ReadFile, variant: WeightVariant = "f32"): Promise<Checkpoint> {
  const manifestFile = `${dir}/manifest.json`;
  let manifest: Manifest;
  try {
    manifest = JSON.parse(new TextDecoder().decode(await readOrFail(dir, "manifest.json", read)));
  } catch (e) {
    if (e instanceof CheckpointError) throw e;
    throw new CheckpointError(manifestFile, `is not valid JSON (${(e as Error).message})`);
  }
  if (manifest.format_version !== FORMAT_VERSION) {
    throw new CheckpointError(manifestFile, `format_version ${JSON.stringify(manifest.format_version)}; this engine reads "${FORMAT_VERSION}"`);
  }

  const weightName = WEIGHT_FILES[variant];
  const file = `${dir}/${weightName}`;
  const entry = manifest.files?.[weightName];
  if (!entry) throw new CheckpointError(manifestFile, `lists no ${weightName}; re-export the model`);
  const data = await readOrFail(dir, weightName, read);
  if (data.byteLength !== entry.bytes) {
    throw new CheckpointError(file, `is ${data.byteLength} bytes but the manifest says ${entry.bytes}: truncated or replaced; copy it again or re-export`);
  }
  const hash = await sha256Hex(data);
  if (hash !== entry.sha256) {
    throw new CheckpointError(file, `sha256 ${hash} does not match the manifest's ${entry.sha256}: the file is corrupt; copy it again or re-export`);
  }

  const st = parseSafetensors(file, data);
  if (st.metadata.format_version !== FORMAT_VERSION) {
    throw new CheckpointError(file, `__metadata__.format_version is ${JSON.stringify(st.metadata.format_version)}; this engine reads "${FORMAT_VERSION}"`);
  }
  let config: ModelConfig;
  try {
    config = parseModelConfig(JSON.parse(st.metadata.config ?? "null"));
  } catch (e) {
    const why = e instanceof ConfigError ? e.message : `__metadata__.config is not valid JSON (${(e as Error).message})`;
    throw new CheckpointError(file, why);
  }

  const expected = variant === "f32" ? expectedTensors(config) : expectedTensorsQ8(config, st.metadata.embeddings === "int8");
  for (const [name, spec] of expected) {
    const t = st.tensors.get(name);
    if (!t) throw new CheckpointError(file, `is missing; the checkpoint does not match its own config`, name);
    if (t.dtype !== spec.dtype || t.shape.join() !== spec.shape.join()) {
      throw new CheckpointError(file, `is ${t.dtype}[${t.shape}] but the config needs ${spec.dtype}[${spec.shape}]`, name);
    }
  }
  for (const name of st.tensors.keys()) {
    if (!expected.has(name)) throw new CheckpointError(file, "is not part of the model this config describes", name);
  }
  return { dir, variant, config, manifest, tensors: st.tensors };
}
