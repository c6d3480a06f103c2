// The browser backend as the page sees it: a DecodeBackend whose engine runs in a Web Worker
// (engine-worker.ts). `WorkerBackend.load` starts the worker, forwards load progress and resolves once the
// model is verified and loaded; decode() streams the worker's events; aborting (or leaving the loop) stops it.
import type { DecodeBackend, DecodeEvent, DecodeRequest } from "../protocol.ts";
import type { LoadedInfo, LoadOptions, LoadProgress } from "./browser-engine.ts";
import type { FromEngine, ToEngine } from "./engine-messages.ts";

export class WorkerBackend implements DecodeBackend {
  readonly name = "browser";
  private nextId = 1;
  private readonly listeners = new Map<number, (e: DecodeEvent) => void>();

  private constructor(private readonly worker: Worker, readonly info: LoadedInfo) {
    worker.addEventListener("message", (e: MessageEvent<FromEngine>) => {
      if (e.data.type === "event") this.listeners.get(e.data.id)?.(e.data.event);
    });
  }

  static load(workerUrl: string | URL, options: LoadOptions, onProgress: (p: LoadProgress) => void): Promise<WorkerBackend> {
    const worker = new Worker(workerUrl, { type: "module", name: "bltedge-engine" });
    return new Promise((resolve, reject) => {
      const fail = (message: string) => { worker.terminate(); reject(new Error(message)); };
      worker.addEventListener("error", (e) => fail(`the engine worker failed to start: ${e.message || "script error"}`));
      const onMessage = (e: MessageEvent<FromEngine>) => {
        const m = e.data;
        if (m.type === "progress") onProgress(m.progress);
        else if (m.type === "load-error") fail(m.message);
        else if (m.type === "loaded") {
          worker.removeEventListener("message", onMessage);
          resolve(new WorkerBackend(worker, m.info));
        }
      };
      worker.addEventListener("message", onMessage);
      worker.postMessage({ type: "load", options } satisfies ToEngine);
    });
  }

  models(): string[] { return [this.info.model]; }

  async *decode(request: DecodeRequest, signal?: AbortSignal): AsyncGenerator<DecodeEvent> {
    const id = this.nextId++;
    const queue: DecodeEvent[] = [];
    let wake: (() => void) | undefined;
    this.listeners.set(id, (e) => { queue.push(e); wake?.(); });
    const abort = () => this.worker.postMessage({ type: "abort", id } satisfies ToEngine);
    signal?.addEventListener("abort", abort);
    let ended = false;
    try {
      this.worker.postMessage({ type: "decode", id, request } satisfies ToEngine);
      for (;;) {
        while (queue.length === 0) await new Promise<void>((r) => { wake = r; });
        const e = queue.shift()!;
        if (e.type !== "bytes") ended = true;
        yield e;
        if (ended) return;
      }
    } finally {
      if (!ended) abort();
      signal?.removeEventListener("abort", abort);
      this.listeners.delete(id);
    }
  }

  terminate(): void { this.worker.terminate(); }
}
