/// <reference types="@webgpu/types" />
// The WebGPU kernels: a CPU Arena mirrored by one GPU storage buffer; each op records a compute dispatch and
// nothing runs until sync(). Callers `upload` what the CPU wrote and `await sync([...])` before reading results.
import { Arena, alignUp, type Ptr } from "../arena.ts";
import { MATMUL_Q8_MAX_K, type Kernels } from "../kernels.ts";
import { SHADERS, type OpName } from "./shaders.ts";

const SLOT_BYTES = 256; // one dispatch's parameters: 64 bytes used, at minUniformBufferOffsetAlignment
const RING_SLOTS = 1024; // dispatches recorded before the work is submitted anyway
const MAX_GROUPS = 65535;
const DEFAULT_STORAGE_BINDING = 128 << 20, DEFAULT_BUFFER = 256 << 20;
const MAX_HEAD_DIM = 256;

const F = new Float32Array(1), U = new Uint32Array(F.buffer);
function bits(v: number): number { F[0] = v; return U[0]; }

/**
 * Kernels on a WebGPU device. The arena lives twice: `arena` on the CPU (where callers write inputs, as with
 * every implementation) and `buffer` on the GPU, where the ops read and write. The contract:
 *
 * - after the CPU writes arena bytes (weights once at load, token ids, positions, key ranges per pass), call
 *   `upload(ptr, nBytes)` before the ops that read them; an upload keeps program order with the ops recorded
 *   before it (they are submitted first);
 * - ops only record work; `await sync([[ptr, nBytes], ...])` submits it and copies the listed ranges, as the ops
 *   recorded before the call left them, back into the CPU arena (one mapAsync per sync). Until then the CPU arena
 *   holds stale values for everything the ops wrote;
 * - the arena must fit one storage binding: see `requiredLimits` for requesting the device.
 *
 * The scratch arguments (matmulQ8's xq, attentionF32's scores) are not used: the shaders keep scratch in
 * workgroup memory. attentionF32 takes headDim ≤ 256.
 */
export class WebGpuKernels implements Kernels {
  readonly name = "webgpu";
  private readonly ring = new ArrayBuffer(RING_SLOTS * SLOT_BYTES);
  private readonly ringWords = new Uint32Array(this.ring);
  private readonly dynOffset = new Uint32Array(1);
  private slots = 0;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private readonly spare: GPUBuffer[] = []; // readback buffers not mapped by a sync in flight
  private errors: Array<Promise<GPUError | null>> = [];

  private constructor(
    readonly device: GPUDevice,
    readonly arena: Arena,
    /** The GPU copy of the arena: STORAGE | COPY_SRC | COPY_DST, the arena's size. */
    readonly buffer: GPUBuffer,
    private readonly params: GPUBuffer,
    private readonly bindGroup: GPUBindGroup,
    private readonly pipes: Record<OpName, GPUComputePipeline>,
  ) {}

  /** The `requiredLimits` to request a device with for an arena of arenaBytes; throws when the adapter cannot. */
  static requiredLimits(adapter: GPUAdapter, arenaBytes: number): Record<string, number> {
    const bytes = alignUp(arenaBytes);
    const can = Math.min(adapter.limits.maxStorageBufferBindingSize, adapter.limits.maxBufferSize);
    if (bytes > can) throw new RangeError(`webgpu kernels: arena of ${bytes} bytes exceeds this adapter's storage binding limit ${can}`);
    return {
      maxStorageBufferBindingSize: Math.max(bytes, DEFAULT_STORAGE_BINDING),
      maxBufferSize: Math.max(bytes, DEFAULT_BUFFER),
    };
  }

  /** Compiles the pipelines and creates the arena (CPU and GPU) of arenaBytes, rounded up to 16. */
  static async create(device: GPUDevice, arenaBytes: number): Promise<WebGpuKernels> {
    const bytes = alignUp(Math.max(arenaBytes, 16));
    const limit = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
    if (bytes > limit) {
      throw new RangeError(`webgpu kernels: arena of ${bytes} bytes exceeds the device's storage binding limit ${limit}; ` +
        `request the device with WebGpuKernels.requiredLimits(adapter, ${bytes})`);
    }
    const buffer = device.createBuffer({ label: "arena", size: bytes,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    const params = device.createBuffer({ label: "op params", size: RING_SLOTS * SLOT_BYTES,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    const layout = device.createBindGroupLayout({ entries: [
      { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: "storage" } },
      { binding: 1, visibility: GPUShaderStage.COMPUTE, buffer: { type: "uniform", hasDynamicOffset: true, minBindingSize: 64 } },
    ] });
    const bindGroup = device.createBindGroup({ layout, entries: [
      { binding: 0, resource: { buffer } },
      { binding: 1, resource: { buffer: params, size: 64 } },
    ] });
    const pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [layout] });
    const names = Object.keys(SHADERS) as OpName[];
    const pipes = await Promise.all(names.map(async (op) => {
      const module = device.createShaderModule({ label: op, code: SHADERS[op] });
      const errs = (await module.getCompilationInfo()).messages.filter((m) => m.type === "error");
      if (errs.length) throw new Error(`webgpu kernels: ${op} does not compile: ${errs.map((e) => `${e.lineNum}:${e.linePos} ${e.message}`).join("; ")}`);
      return device.createComputePipelineAsync({ label: op, layout: pipelineLayout, compute: { module, entryPoint: "main" } });
    }));
    const byName = Object.fromEntries(names.map((op, i) => [op, pipes[i]])) as Record<OpName, GPUComputePipeline>;
    return new WebGpuKernels(device, new Arena(new ArrayBuffer(bytes)), buffer, params, bindGroup, byName);
  }

  /** Copies arena bytes [ptr, ptr+nBytes) (widened to whole words) from the CPU to the GPU, after the ops recorded so far. */
  upload(ptr: Ptr, nBytes: number): void {
    if (nBytes <= 0) return;
    this.checkRange(ptr, nBytes, "upload");
    if (this.encoder) this.submit();
    const a = ptr & ~3, e = Math.min(alignUp4(ptr + nBytes), this.buffer.size);
    this.device.queue.writeBuffer(this.buffer, a, this.arena.buffer, a, e - a);
  }

  /**
   * Submits the ops recorded so far, with copies of the given arena ranges as they stand after them (ops recorded
   * later do not change what this sync reads), and resolves once those bytes are in the CPU arena; rejects if the
   * device reported an error since the last sync.
   */
  sync(ranges: ReadonlyArray<readonly [Ptr, number]> = []): Promise<void> {
    const plan: Array<{ ptr: Ptr; n: number; from: number; size: number; at: number }> = [];
    let total = 0;
    for (const [ptr, n] of ranges) {
      if (n <= 0) continue;
      this.checkRange(ptr, n, "sync");
      const from = ptr & ~3, size = alignUp4(ptr + n) - from;
      plan.push({ ptr, n, from, size, at: total });
      total += size;
    }
    const rb = total > 0 ? this.readbackBuffer(total) : null;
    this.submit((enc) => { for (const p of plan) enc.copyBufferToBuffer(this.buffer, p.from, rb!, p.at, p.size); });
    const errors = this.errors.splice(0);
    return (async () => {
      if (rb) {
        await rb.mapAsync(GPUMapMode.READ, 0, total);
        const src = new Uint8Array(rb.getMappedRange(0, total));
        for (const p of plan) {
          const skip = p.at + p.ptr - p.from;
          new Uint8Array(this.arena.buffer, p.ptr, p.n).set(src.subarray(skip, skip + p.n));
        }
        rb.unmap();
        this.spare.push(rb);
      } else {
        await this.device.queue.onSubmittedWorkDone();
      }
      const first = (await Promise.all(errors)).find((e) => e);
      if (first) throw new Error(`webgpu kernels: ${first.message}`);
    })();
  }

  /** Frees the GPU buffers; the kernels are unusable afterwards. */
  destroy(): void {
    this.buffer.destroy();
    this.params.destroy();
    for (const b of this.spare.splice(0)) b.destroy();
  }

  copyF32(out: Ptr, x: Ptr, n: number): void {
    if (n > 0) this.threads("copyF32", n, [this.w(out), this.w(x), 0, n]);
  }

  matmulF32(out: Ptr, x: Ptr, w: Ptr, m: number, k: number, n: number): void {
    if (m <= 0 || n <= 0) return;
    this.record("matmulF32", Math.ceil(n / 64), Math.ceil(m / 4), [this.w(out), this.w(x), this.w(w), m, k, n]);
  }

  matmulQ8(out: Ptr, x: Ptr, w: Ptr, scale: Ptr, _xq: Ptr, m: number, k: number, n: number): void {
    if (k > MATMUL_Q8_MAX_K) throw new RangeError(`matmulQ8: k = ${k} exceeds ${MATMUL_Q8_MAX_K}`);
    if (m <= 0 || n <= 0) return;
    this.record("matmulQ8", Math.ceil(n / 64), Math.ceil(m / 4), [this.w(out), this.w(x), w, this.w(scale), m, k, n]);
  }

  rmsNormF32(out: Ptr, x: Ptr, w: Ptr, m: number, d: number, eps: number): void {
    if (m > 0 && d > 0) this.rows("rmsNormF32", m, [this.w(out), this.w(x), this.w(w), m, d, bits(eps)]);
  }

  layerNormF32(out: Ptr, x: Ptr, w: Ptr, b: Ptr, m: number, d: number, eps: number): void {
    if (m > 0 && d > 0) this.rows("layerNormF32", m, [this.w(out), this.w(x), this.w(w), this.w(b), m, d, bits(eps)]);
  }

  ropeF32(x: Ptr, positions: Ptr, cosSin: Ptr, m: number, nHeads: number, headDim: number, rowStride: number): void {
    const total = m * nHeads * (headDim >> 1);
    if (total > 0) this.threads("ropeF32", total, [this.w(x), this.w(positions), this.w(cosSin), total, nHeads, headDim, rowStride]);
  }

  softmaxF32(x: Ptr, m: number, n: number): void {
    if (m > 0 && n > 0) this.rows("softmaxF32", m, [this.w(x), m, n]);
  }

  siluF32(out: Ptr, x: Ptr, n: number): void {
    if (n > 0) this.threads("siluF32", n, [this.w(out), this.w(x), 0, n]);
  }

  geluF32(out: Ptr, x: Ptr, n: number): void {
    if (n > 0) this.threads("geluF32", n, [this.w(out), this.w(x), 0, n]);
  }

  swigluF32(out: Ptr, gate: Ptr, up: Ptr, n: number): void {
    if (n > 0) this.threads("swigluF32", n, [this.w(out), this.w(gate), this.w(up), n]);
  }

  addF32(out: Ptr, a: Ptr, b: Ptr, n: number): void {
    if (n > 0) this.threads("addF32", n, [this.w(out), this.w(a), this.w(b), n]);
  }

  maxPoolF32(out: Ptr, x: Ptr, m: number, d: number): void {
    if (m > 0 && d > 0) this.threads("maxPoolF32", d, [this.w(out), this.w(x), m, d]);
  }

  attentionF32(out: Ptr, q: Ptr, k: Ptr, v: Ptr, kvLo: Ptr, kvHi: Ptr, _scores: Ptr,
               m: number, nHeads: number, nKvHeads: number, headDim: number): void {
    if (nHeads % nKvHeads !== 0) throw new RangeError(`attentionF32: nHeads ${nHeads} is not a multiple of nKvHeads ${nKvHeads}`);
    if (headDim > MAX_HEAD_DIM) throw new RangeError(`attentionF32: headDim ${headDim} exceeds ${MAX_HEAD_DIM}`);
    if (m <= 0 || nHeads <= 0 || headDim <= 0) return;
    const groups = m * nHeads;
    const [gx, gy] = split(groups);
    this.record("attentionF32", gx, gy, [this.w(out), this.w(q), this.w(k), this.w(v), this.w(kvLo), this.w(kvHi), m, nHeads,
      nKvHeads, headDim, bits(1 / Math.sqrt(headDim))]);
  }

  embedGatherF32(out: Ptr, table: Ptr, ids: Ptr, m: number, d: number): void {
    const total = m * d;
    if (total > 0) this.threads("embedGatherF32", total, [this.w(out), this.w(table), this.w(ids), total, d]);
  }

  ngramEmbedSumF32(out: Ptr, tokens: Ptr, tables: Ptr, ns: Ptr, rows: Ptr,
                   pos0: number, m: number, count: number, d: number): void {
    const total = m * d;
    if (total > 0) {
      this.threads("ngramEmbedSumF32", total, [this.w(out), this.w(tokens), this.w(tables), this.w(ns), this.w(rows), pos0, total, count, d]);
    }
  }

  // A word index for the shaders; f32 and i32 operands must be 4-byte aligned.
  private w(ptr: Ptr): number {
    if ((ptr & 3) !== 0 || ptr < 0 || ptr >= this.buffer.size) throw new RangeError(`webgpu kernels: pointer ${ptr} is not a word in the arena`);
    return ptr >>> 2;
  }

  private checkRange(ptr: Ptr, nBytes: number, what: string): void {
    if (ptr < 0 || ptr + nBytes > this.arena.capacityBytes) throw new RangeError(`${what}: [${ptr}, ${ptr + nBytes}) is outside the arena`);
  }

  private threads(op: OpName, total: number, args: number[]): void {
    const [gx, gy] = split(Math.ceil(total / 256));
    this.record(op, gx, gy, args);
  }

  private rows(op: OpName, m: number, args: number[]): void {
    const [gx, gy] = split(m);
    this.record(op, gx, gy, args);
  }

  // Writes the op's parameters into the next ring slot and records the dispatch in the open compute pass.
  private record(op: OpName, gx: number, gy: number, args: number[]): void {
    if (gx > MAX_GROUPS || gy > MAX_GROUPS) throw new RangeError(`${op}: ${gx}×${gy} workgroups exceed ${MAX_GROUPS} per dimension`);
    if (this.slots === RING_SLOTS) this.submit();
    const slot = this.slots++;
    const words = this.ringWords;
    const base = slot * (SLOT_BYTES / 4);
    words.fill(0, base, base + 16);
    for (let i = 0; i < args.length; i++) words[base + i] = args[i];
    if (!this.pass) {
      this.encoder = this.device.createCommandEncoder();
      this.pass = this.encoder.beginComputePass();
    }
    this.dynOffset[0] = slot * SLOT_BYTES;
    this.pass.setPipeline(this.pipes[op]);
    this.pass.setBindGroup(0, this.bindGroup, this.dynOffset, 0, 1);
    this.pass.dispatchWorkgroups(gx, gy);
  }

  // Ends the open pass, writes the parameter ring and submits; `after` appends commands (the readback copies).
  private submit(after?: (enc: GPUCommandEncoder) => void): void {
    if (!this.encoder && !after) return;
    const enc = this.encoder ?? this.device.createCommandEncoder();
    this.pass?.end();
    after?.(enc);
    if (this.slots) this.device.queue.writeBuffer(this.params, 0, this.ring, 0, this.slots * SLOT_BYTES);
    this.device.pushErrorScope("validation");
    this.device.queue.submit([enc.finish()]);
    this.errors.push(this.device.popErrorScope());
    this.encoder = null;
    this.pass = null;
    this.slots = 0;
  }

  // A readback buffer of at least nBytes that no sync in flight holds: one in steady state, more only while
  // syncs overlap; a too-small one is replaced by one twice as large.
  private readbackBuffer(nBytes: number): GPUBuffer {
    const fit = this.spare.findIndex((b) => b.size >= nBytes);
    if (fit >= 0) return this.spare.splice(fit, 1)[0];
    const small = this.spare.pop();
    small?.destroy();
    return this.device.createBuffer({ label: "readback", size: alignUp(Math.max(nBytes, 2 * (small?.size ?? 0))),
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  }
}

function alignUp4(n: number): number { return (n + 3) & ~3; }

// A workgroup count as x × y, x ≤ 65535 (shaders flatten it back and skip the excess).
function split(groups: number): [number, number] {
  return groups <= MAX_GROUPS ? [groups, 1] : [MAX_GROUPS, Math.ceil(groups / MAX_GROUPS)];
}
