// The kernel arena: one fixed-size block of memory, sized when a model or a test plans it, and a bump
// allocator over it. Pointers (Ptr) are byte offsets into it, the same numbers the Wasm kernels take.

/** A byte offset into a kernel arena. */
export type Ptr = number;

const ALIGN = 16;

/** Fixed-size memory with a bump allocator; typed views are created on demand and never outlive a grow (there is none). */
export class Arena {
  readonly buffer: ArrayBuffer;
  private top: number;

  /** @param buffer the backing memory; @param base first usable byte (the Wasm module's heap base). */
  constructor(buffer: ArrayBuffer, base = 0) {
    this.buffer = buffer;
    this.top = alignUp(base);
  }

  get usedBytes(): number { return this.top; }
  get capacityBytes(): number { return this.buffer.byteLength; }

  /** Reserves nBytes aligned to 16; throws when the plan was too small (memory never grows). */
  alloc(nBytes: number): Ptr {
    const ptr = this.top;
    const end = alignUp(ptr + nBytes);
    if (end > this.buffer.byteLength) {
      throw new RangeError(`kernel arena exhausted: need ${end} bytes, planned ${this.buffer.byteLength}`);
    }
    this.top = end;
    return ptr;
  }

  /** The current allocation point, to release back to later (per-request scratch). */
  mark(): number { return this.top; }
  /** Frees everything allocated after mark. */
  release(mark: number): void { this.top = mark; }

  allocF32(n: number): Ptr { return this.alloc(n * 4); }
  allocI32(n: number): Ptr { return this.alloc(n * 4); }

  f32(ptr: Ptr, n: number): Float32Array { return new Float32Array(this.buffer, ptr, n); }
  i32(ptr: Ptr, n: number): Int32Array { return new Int32Array(this.buffer, ptr, n); }
  i16(ptr: Ptr, n: number): Int16Array { return new Int16Array(this.buffer, ptr, n); }
  i8(ptr: Ptr, n: number): Int8Array { return new Int8Array(this.buffer, ptr, n); }
}

export function alignUp(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}
