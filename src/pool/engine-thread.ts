// One engine thread of the TypeScript pool worker (worker_threads): loads every model of the worker on the Wasm
// SIMD kernels, then decodes one request at a time as the main thread asks, posting its DecodeEvents back.
// Messages: in {decode, id, request} | {cancel, id}; out {ready, models} | {event, id, event} | {failed, message} |
// {memory, heapUsedMB, heapTotalMB} (this thread's JS heap, after each request).
import { parentPort, workerData } from "node:worker_threads";
import { readFile } from "node:fs/promises";
import { getHeapStatistics } from "node:v8";
import { basename, join, resolve } from "node:path";
import type { WeightVariant } from "../checkpoint/format.ts";
import { readCheckpoint } from "../checkpoint/reader.ts";
import { Engine } from "../engine/engine.ts";
import { loadModel } from "../engine/load.ts";
import { WasmKernels } from "../kernels/wasm/wasm-kernels.ts";
import { compileKernelsModuleNode } from "../../wasm/node.ts";
import type { DecodeEvent, DecodeRequest } from "../protocol.ts";

export interface ThreadOptions {
  /** Model directories, e.g. models/blt-d-tiny; a model's id is its directory's name. */
  dirs: string[];
  variant: WeightVariant;
  /** The prompt window in bytes (BOS + prompt), capped at and by default (0) each model's max_seq_len; generation runs past it. */
  contextBytes: number;
  /** Holds each `bytes` event back this long (a slow device; lets tests act mid-stream). 0: none. */
  eventDelayMs: number;
}

export type ToThread = { type: "decode"; id: number; request: DecodeRequest } | { type: "cancel"; id: number };
export type FromThread =
  | { type: "ready"; models: { id: string; ctx: number }[] }
  | { type: "event"; id: number; event: DecodeEvent }
  | { type: "failed"; message: string }
  | { type: "memory"; heapUsedMB: number; heapTotalMB: number };

const port = parentPort!;
const options = workerData as ThreadOptions;
const post = (m: FromThread) => port.postMessage(m);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const engines = new Map<string, Engine>();
let current: { id: number; abort: AbortController } | null = null;

async function serve(id: number, request: DecodeRequest): Promise<void> {
  const abort = new AbortController();
  current = { id, abort };
  try {
    const engine = engines.get(request.model);
    if (!engine) { post({ type: "event", id, event: { type: "error", code: "model_not_found", message: `model ${JSON.stringify(request.model)} is not loaded` } }); return; }
    for await (const event of engine.decode(request, abort.signal)) {
      post({ type: "event", id, event }); // copies the bytes (the engine's arrays are views into its scratch)
      if (event.type === "bytes" && options.eventDelayMs > 0) await sleep(options.eventDelayMs);
    }
  } catch (e) {
    post({ type: "event", id, event: { type: "error", code: "internal", message: `${(e as Error).name}: ${(e as Error).message}` } });
  } finally {
    current = null;
    const h = getHeapStatistics();
    post({ type: "memory", heapUsedMB: h.used_heap_size / 2 ** 20, heapTotalMB: h.total_heap_size / 2 ** 20 });
  }
}

port.on("message", (m: ToThread) => {
  if (m.type === "decode") void serve(m.id, m.request);
  else if (m.type === "cancel" && current?.id === m.id) current.abort.abort();
});

try {
  const module = compileKernelsModuleNode();
  const models: { id: string; ctx: number }[] = [];
  for (const dir of options.dirs) {
    const ck = await readCheckpoint(dir, async (name) => new Uint8Array(await readFile(join(dir, name))), options.variant);
    const model = await loadModel(ck, (bytes) => WasmKernels.create(module, bytes), options.contextBytes || ck.config.maxSeqLen);
    const id = basename(resolve(dir));
    engines.set(id, new Engine(model));
    models.push({ id, ctx: model.ctx });
  }
  post({ type: "ready", models });
} catch (e) {
  post({ type: "failed", message: (e as Error).message });
}
