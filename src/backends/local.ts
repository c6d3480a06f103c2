// The local backend: serves the decoding protocol from engines in this isolate. An engine's model has one run
// state, so requests for the same model take turns (first come, first served); a request aborted while it
// waits never starts. At most maxPerModel requests line up for one model (running included); beyond, the answer
// is model_busy at once (429 + retry-after), so a few heavy requests cannot hold every decode slot of the isolate,
// and a request waits behind at most maxPerModel − 1 others, each bounded by the engine's work budget.
import type { Engine } from "../engine/engine.ts";
import type { DecodeBackend, DecodeEvent, DecodeRequest } from "../protocol.ts";

export class LocalBackend implements DecodeBackend {
  readonly name = "local";
  private readonly turns = new Map<string, Promise<void>>();

  constructor(private readonly engines: ReadonlyMap<string, Engine>, private readonly maxPerModel = Infinity) {}

  models(): string[] { return [...this.engines.keys()]; }

  /** Requests queued or running, per model. */
  readonly inFlight = new Map<string, number>();

  async *decode(request: DecodeRequest, signal?: AbortSignal): AsyncGenerator<DecodeEvent> {
    const engine = this.engines.get(request.model);
    if (!engine) {
      yield { type: "error", code: "model_not_found", message: `model ${JSON.stringify(request.model)} is not served here; try ${this.models().join(", ")}` };
      return;
    }
    const id = request.model;
    if ((this.inFlight.get(id) ?? 0) >= this.maxPerModel) {
      yield { type: "error", code: "model_busy", message: `model ${id} already has ${this.maxPerModel} requests in line; retry shortly` };
      return;
    }
    let release!: () => void;
    const mine = new Promise<void>((r) => { release = r; });
    const before = this.turns.get(id) ?? Promise.resolve();
    this.turns.set(id, before.then(() => mine));
    this.inFlight.set(id, (this.inFlight.get(id) ?? 0) + 1);
    try {
      await before;
      if (signal?.aborted) { yield { type: "error", code: "cancelled", message: "the request was cancelled" }; return; }
      yield* engine.decode(request, signal);
    } finally {
      this.inFlight.set(id, (this.inFlight.get(id) ?? 1) - 1);
      release();
    }
  }
}
