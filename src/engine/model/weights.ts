// Copies a checkpoint's tensors into the kernel arena once, at load, and groups them the way the forward
// passes use them. Linear weights are f32 or int8 + per-row scale; everything else is f32 (int8 embedding tables
// are expanded to f32 here).
import { isEmbedding } from "../../checkpoint/format.ts";
import type { Checkpoint } from "../../checkpoint/reader.ts";
import { f32Values, type TensorView } from "../../checkpoint/safetensors.ts";
import { alignUp, type Ptr } from "../../kernels/arena.ts";
import { q8ScaleBytes, writeQ8RowSums, type Kernels } from "../../kernels/kernels.ts";

/** y(m, nOut) = x(m, nIn) · Wᵀ, W f32 or int8 with one scale per output row. */
export type Linear =
  | { kind: "f32"; w: Ptr; nOut: number; nIn: number }
  | { kind: "q8"; w: Ptr; scale: Ptr; nOut: number; nIn: number };

export interface Attention { wq: Linear; wk: Linear; wv: Linear; wo: Linear }
export interface Layer { attnNorm: Ptr; attn: Attention; ffnNorm: Ptr; w1: Linear; w2: Linear; w3: Linear }
export interface DecoderLayer extends Layer { crossNorm: Ptr; cross: Attention }

/** An int8 embedding table (q8 files with `embeddings: "int8"`): expanded to f32 at load, as the lookups read f32. */
const expands = (t: TensorView) => t.dtype === "I8" && isEmbedding(t.name);

/**
 * The int8 matrix whose per-row scales t is (t named "<matrix>.scale", the matrix int8 and not an embedding table):
 * in the arena such scales are followed by the matrix's row sums, as matmulQ8 takes them (writeQ8RowSums).
 */
function scaledMatrix(ck: Checkpoint, t: TensorView): TensorView | undefined {
  if (!t.name.endsWith(".scale")) return undefined;
  const w = ck.tensors.get(t.name.slice(0, -".scale".length));
  return w && w.dtype === "I8" && !expands(w) && w.shape.length === 2 ? w : undefined;
}

/** Arena bytes of tensor t: int8 embedding tables as f32, a linear's scales with its row sums after them. */
function arenaBytesOf(ck: Checkpoint, t: TensorView): number {
  const w = scaledMatrix(ck, t);
  return w ? q8ScaleBytes(w.shape[0]) : t.bytes.byteLength * (expands(t) ? 4 : 1);
}

/** Bytes the arena needs to hold every tensor of the checkpoint (int8 embedding tables as f32). */
export function weightArenaBytes(ck: Checkpoint): number {
  let n = 0;
  for (const t of ck.tensors.values()) n += alignUp(arenaBytesOf(ck, t));
  return n;
}

export class Weights {
  private readonly ptrs = new Map<string, Ptr>();
  /** Bytes of weights per top-level component ("entropy_model", "local_encoder", …), for the cost model. */
  readonly componentBytes = new Map<string, number>();

  constructor(private readonly K: Kernels, private readonly ck: Checkpoint) {
    const first = K.arena.mark();
    // int8 embedding tables first, each expanded to f32 (row r: q[r, ·] × scale[r]), so that tables the file holds
    // next to each other (the n-gram tables) stay consecutive in the arena without their scales between them
    for (const t of ck.tensors.values()) {
      if (!expands(t)) continue;
      const [rows, cols] = t.shape, q = new Int8Array(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
      const scale = f32Values(this.tensor(t.name + ".scale"));
      const p = K.arena.alloc(rows * cols * 4), out = new Float32Array(K.arena.buffer, p, rows * cols);
      for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) out[r * cols + j] = q[r * cols + j] * scale[r];
      this.ptrs.set(t.name, p);
    }
    for (const t of ck.tensors.values()) {
      if (!expands(t)) {
        const p = K.arena.alloc(arenaBytesOf(ck, t));
        new Uint8Array(K.arena.buffer, p, t.bytes.byteLength).set(t.bytes);
        this.ptrs.set(t.name, p);
      }
      const component = t.name.slice(0, t.name.indexOf("."));
      this.componentBytes.set(component, (this.componentBytes.get(component) ?? 0) + t.bytes.byteLength);
    }
    // each int8 linear's row sums, once, after its scales (matmulQ8's relaxed build reads them)
    for (const t of ck.tensors.values()) {
      const w = scaledMatrix(ck, t);
      if (w) writeQ8RowSums(K.arena.buffer, this.ptrs.get(w.name)!, this.ptrs.get(t.name)!, w.shape[1], w.shape[0]);
    }
    // the tensors are consecutive in the arena: one upload carries them all to kernels that run elsewhere
    K.upload?.(first, K.arena.mark() - first);
  }

  /** Bytes of the tensors whose names start with prefix. */
  bytesUnder(prefix: string): number {
    let n = 0;
    for (const t of this.ck.tensors.values()) if (t.name.startsWith(prefix)) n += t.bytes.byteLength;
    return n;
  }

  tensor(name: string): TensorView {
    const t = this.ck.tensors.get(name);
    if (!t) throw new Error(`weights: no tensor ${name}`);
    return t;
  }

  /** Arena pointer of an f32 tensor. */
  f32(name: string): Ptr {
    const t = this.tensor(name);
    if (t.dtype !== "F32" && !expands(t)) throw new Error(`weights: ${name} is ${t.dtype}, not F32`);
    return this.ptrs.get(name)!;
  }

  /** A copy of an f32 tensor's values (for small tables read on the TypeScript side). */
  values(name: string): Float32Array {
    const count = this.tensor(name).shape.reduce((a, b) => a * b, 1);
    return new Float32Array(this.K.arena.buffer, this.f32(name), count).slice();
  }

  linear(name: string): Linear {
    const t = this.tensor(name);
    const [nOut, nIn] = t.shape;
    if (t.dtype === "F32") return { kind: "f32", w: this.ptrs.get(name)!, nOut, nIn };
    return { kind: "q8", w: this.ptrs.get(name)!, scale: this.f32(name + ".scale"), nOut, nIn };
  }

  attention(prefix: string): Attention {
    return { wq: this.linear(`${prefix}.wq.weight`), wk: this.linear(`${prefix}.wk.weight`),
             wv: this.linear(`${prefix}.wv.weight`), wo: this.linear(`${prefix}.wo.weight`) };
  }

  layer(prefix: string): Layer {
    return {
      attnNorm: this.f32(`${prefix}.attn_norm.weight`), attn: this.attention(`${prefix}.attn`),
      ffnNorm: this.f32(`${prefix}.ffn_norm.weight`),
      w1: this.linear(`${prefix}.ffn.w1.weight`), w2: this.linear(`${prefix}.ffn.w2.weight`), w3: this.linear(`${prefix}.ffn.w3.weight`),
    };
  }

  decoderLayer(prefix: string): DecoderLayer {
    return { ...this.layer(prefix), crossNorm: this.f32(`${prefix}.cross_norm.weight`), cross: this.attention(`${prefix}.cross_attn`) };
  }
}
