// A safetensors parser that checks everything it reads: header bounds, dtypes, that each tensor's bytes
// match its shape and lie inside the file, and that the file is not truncated. Errors name the file and tensor.
import { DTYPE_BYTES, type DType } from "./format.ts";

/** A checkpoint that cannot be used; the message names the file, the tensor when there is one, and a fix. */
export class CheckpointError extends Error {
  override name = "CheckpointError";
  constructor(readonly file: string, readonly problem: string, readonly tensor?: string) {
    super(`${file}${tensor ? ` (tensor ${tensor})` : ""}: ${problem}`);
  }
}

export interface TensorView {
  name: string;
  dtype: DType;
  shape: number[];
  /** The tensor's raw bytes (a view into the file). */
  bytes: Uint8Array;
}

export interface SafetensorsFile {
  metadata: Record<string, string>;
  tensors: Map<string, TensorView>;
}

const MAX_HEADER_BYTES = 64 << 20;
const REEXPORT = "re-export it with `npm run export` (or copy it again: it may be truncated or corrupt)";

export function parseSafetensors(file: string, data: Uint8Array): SafetensorsFile {
  if (data.byteLength < 8) throw new CheckpointError(file, `only ${data.byteLength} bytes, shorter than the 8-byte header length; ${REEXPORT}`);
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const headerLen = Number(dv.getBigUint64(0, true));
  if (headerLen > MAX_HEADER_BYTES || 8 + headerLen > data.byteLength) {
    throw new CheckpointError(file, `header length ${headerLen} does not fit in the ${data.byteLength}-byte file; ${REEXPORT}`);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(data.subarray(8, 8 + headerLen)));
  } catch (e) {
    throw new CheckpointError(file, `header is not valid JSON (${(e as Error).message}); ${REEXPORT}`);
  }
  const dataStart = 8 + headerLen;
  const dataLen = data.byteLength - dataStart;
  const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
  const tensors = new Map<string, TensorView>();
  let maxEnd = 0;
  for (const [name, raw] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const t = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof t.dtype !== "string" || !(t.dtype in DTYPE_BYTES)) {
      throw new CheckpointError(file, `dtype ${JSON.stringify(t.dtype)} is not one of ${Object.keys(DTYPE_BYTES).join(", ")}`, name);
    }
    const dtype = t.dtype as DType;
    const shape = t.shape as number[];
    const offs = t.data_offsets as number[];
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) throw new CheckpointError(file, "shape is not a list of sizes", name);
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every(Number.isInteger) || offs[0] > offs[1]) {
      throw new CheckpointError(file, `data_offsets ${JSON.stringify(offs)} are invalid`, name);
    }
    const want = shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype];
    if (offs[1] - offs[0] !== want) throw new CheckpointError(file, `holds ${offs[1] - offs[0]} bytes but ${dtype}${JSON.stringify(shape)} needs ${want}`, name);
    if (offs[1] > dataLen) throw new CheckpointError(file, `data ends at byte ${offs[1]} of a ${dataLen}-byte data section: the file is truncated; ${REEXPORT}`, name);
    maxEnd = Math.max(maxEnd, offs[1]);
    tensors.set(name, { name, dtype, shape, bytes: data.subarray(dataStart + offs[0], dataStart + offs[1]) });
  }
  if (maxEnd !== dataLen) throw new CheckpointError(file, `${dataLen - maxEnd} bytes after the last tensor; ${REEXPORT}`);
  return { metadata, tensors };
}

/** The tensor's values as f32; copies only when the bytes are not 4-byte aligned. */
export function f32Values(t: TensorView): Float32Array {
  const b = t.bytes;
  if (b.byteOffset % 4 === 0) return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  return new Float32Array(b.slice().buffer);
}

export function i32Values(t: TensorView): Int32Array {
  const b = t.bytes;
  if (b.byteOffset % 4 === 0) return new Int32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  return new Int32Array(b.slice().buffer);
}
