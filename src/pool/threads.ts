// The TypeScript pool worker's engines: one worker_thread per engine, each holding every model (its own Wasm
// memory), decoding one request at a time. Requests wait in one first-come, first-served queue for a free
// thread; a request aborted while it waits never starts, one aborted while it runs stops within one block.
// A thread that dies ends its request with an `internal` error event and is replaced.
import { Worker } from "node:worker_threads";
import { CANCELLED, type DecodeEvent, type DecodeRequest } from "../protocol.ts";
import type { FromThread, ThreadOptions, ToThread } from "./engine-thread.ts";

const THREAD_FILE = new URL("./engine-thread.ts", import.meta.url);

/**
 * An engine thread's young generation, capped: its garbage is short-lived (events, byte chunks, per-step arrays), and
 * with V8's default (up to 16 MB semispaces) the thread's committed heap kept growing for minutes under load before
 * settling, stepping the process's resident memory up with it.
 */
const THREAD_LIMITS = { maxYoungGenerationSizeMb: 8 };

/** Starts the engine thread; a .ts entry (run from source with tsx) gets tsx's loader registered first. */
function startThread(options: ThreadOptions): Worker {
  if (!THREAD_FILE.pathname.endsWith(".ts")) return new Worker(THREAD_FILE, { workerData: options, resourceLimits: THREAD_LIMITS });
  const boot = `import { register } from ${JSON.stringify(import.meta.resolve("tsx/esm/api"))}; register(); await import(${JSON.stringify(THREAD_FILE.href)});`;
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(boot)}`), { workerData: options, resourceLimits: THREAD_LIMITS });
}

/** Events of one running request, handed from the thread's message handler to the request's generator. */
class Inbox {
  private readonly events: DecodeEvent[] = [];
  private wake: (() => void) | null = null;
  push(e: DecodeEvent): void { this.events.push(e); this.wake?.(); }
  async next(): Promise<DecodeEvent> {
    while (!this.events.length) await new Promise<void>((r) => { this.wake = r; });
    this.wake = null;
    return this.events.shift()!;
  }
}

/** An engine thread; `busy` from the moment a request takes it (or is handed it) until that request ends. */
interface Slot { worker: Worker; busy: boolean; running: { id: number; inbox: Inbox } | null; heapMB?: { used: number; total: number } }

export class EngineThreads {
  private readonly slots: Slot[] = [];
  private readonly waiting: ((s: Slot) => void)[] = [];
  private nextId = 1;
  /** Each served model's context in bytes, from the first thread's load. */
  readonly models = new Map<string, { ctx: number }>();

  private constructor(private readonly options: ThreadOptions) {}

  /** Starts `count` engine threads and resolves once all have loaded their models. */
  static async start(count: number, options: ThreadOptions): Promise<EngineThreads> {
    const t = new EngineThreads(options);
    await Promise.all(Array.from({ length: count }, () => t.addThread()));
    return t;
  }

  get threads(): number { return this.slots.length; }
  get running(): number { return this.slots.filter((s) => s.busy).length; }
  get queued(): number { return this.waiting.length; }
  /** The engine threads' JS heaps in MB (in use and committed), summed, as each reported after its last request. */
  get threadHeapMB(): { used: number; total: number } {
    return this.slots.reduce((a, s) => ({ used: a.used + (s.heapMB?.used ?? 0), total: a.total + (s.heapMB?.total ?? 0) }), { used: 0, total: 0 });
  }

  private addThread(): Promise<void> {
    const slot: Slot = { worker: startThread(this.options), busy: false, running: null };
    return new Promise((resolve, reject) => {
      slot.worker.on("message", (m: FromThread) => {
        if (m.type === "ready") {
          for (const { id, ctx } of m.models) this.models.set(id, { ctx });
          this.slots.push(slot);
          this.release(slot);
          resolve();
        } else if (m.type === "failed") reject(new Error(m.message));
        else if (m.type === "memory") slot.heapMB = { used: m.heapUsedMB, total: m.heapTotalMB };
        else if (slot.running?.id === m.id) slot.running.inbox.push(m.event);
      });
      slot.worker.on("error", (e) => { console.error(`engine thread failed: ${e.message}`); reject(e); });
      slot.worker.on("exit", (code) => {
        const i = this.slots.indexOf(slot);
        if (i < 0) return reject(new Error(`engine thread exited (${code}) while loading`));
        this.slots.splice(i, 1);
        slot.running?.inbox.push({ type: "error", code: "internal", message: `engine thread exited (${code})` });
        slot.running = null;
        if (!this.closed) this.addThread().catch((e) => console.error(`cannot replace an engine thread: ${(e as Error).message}`));
      });
    });
  }

  /** A free thread goes to the longest-waiting request. */
  private release(slot: Slot): void {
    slot.running = null;
    const next = this.waiting.shift();
    slot.busy = next !== undefined;
    next?.(slot);
  }

  private acquire(signal?: AbortSignal): Promise<Slot | null> {
    const free = this.slots.find((s) => !s.busy);
    if (free) { free.busy = true; return Promise.resolve(free); }
    return new Promise((resolve) => {
      const take = (s: Slot) => { signal?.removeEventListener("abort", leave); resolve(s); };
      const leave = () => { this.waiting.splice(this.waiting.indexOf(take), 1); resolve(null); };
      this.waiting.push(take);
      signal?.addEventListener("abort", leave, { once: true });
    });
  }

  /** Streams one request from the next free engine thread (waiting in the queue for one). */
  async *decode(request: DecodeRequest, signal?: AbortSignal): AsyncGenerator<DecodeEvent> {
    if (signal?.aborted) { yield CANCELLED; return; }
    const slot = await this.acquire(signal);
    if (!slot) { yield CANCELLED; return; }
    if (!this.slots.includes(slot)) { yield { type: "error", code: "internal", message: "the engine thread exited" }; return; }
    const id = this.nextId++;
    const inbox = new Inbox();
    slot.running = { id, inbox };
    const cancel = () => slot.worker.postMessage({ type: "cancel", id } satisfies ToThread);
    signal?.addEventListener("abort", cancel, { once: true });
    let ended = false;
    try {
      slot.worker.postMessage({ type: "decode", id, request } satisfies ToThread);
      for (;;) {
        const event = await inbox.next();
        ended = event.type !== "bytes";
        yield event;
        if (ended) return;
      }
    } finally {
      signal?.removeEventListener("abort", cancel);
      if (!ended) { // the caller stopped reading: stop the decode, free the thread when it has ended
        cancel();
        while (!ended) ended = (await inbox.next()).type !== "bytes";
      }
      if (this.slots.includes(slot)) this.release(slot);
    }
  }

  private closed = false;

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
