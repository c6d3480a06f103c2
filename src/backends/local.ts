// The local backend: serves the decoding protocol from engines in this isolate. An engine's model has one run
// state, so requests for the same model take turns, first come first served, through a per-model line of
// tickets. The line is plain data, never a promise: a waiting request polls it on its own timer, so no request
// ever waits on a promise that only another request can settle (in Workers such a wait crosses request
// contexts, and a request cancelled by the runtime would strand every request behind it).
//
// A ticket is a lease: its holder beats it while it waits (every poll) and while it decodes (every block). A
// ticket that has not beaten for leaseMs belongs to a request whose code no longer runs (its context was torn
// down, or its consumer stopped pulling the generator), and the next look at the line drops it; a holder that
// was dropped sees it at its next block and stops without touching the model again. Whatever ends a request
// (completion, error, abort, an abandoned generator), its ticket leaves the line.
//
// At most maxPerModel requests stand in one model's line (running included); beyond, the answer is model_busy
// at once (429 + retry-after), so a few heavy requests cannot hold every decode slot of the isolate, and a
// request waits behind at most maxPerModel − 1 others, each bounded by the engine's work budget.
import type { Engine } from "../engine/engine.ts";
import { CANCELLED, type DecodeBackend, type DecodeEvent, type DecodeRequest } from "../protocol.ts";

export interface LocalBackendOptions {
  /** Requests that may stand in one model's line, running included (default unbounded). */
  maxPerModel?: number;
  /** A ticket not beaten for this long is dropped from its line (default 15 s). */
  leaseMs?: number;
  /** How often a waiting request looks at its line (default 4 ms). */
  pollMs?: number;
  /** The clock (tests); default Date.now. */
  now?: () => number;
}

interface Ticket {
  beat: number;
  /** Set when the ticket was dropped as stale: its holder must not touch the model again. */
  dropped: boolean;
}

/** One model's line: tickets in arrival order; the first one holds the model. */
class Line {
  readonly tickets: Ticket[] = [];

  constructor(private readonly leaseMs: number, private readonly now: () => number) {}

  /** Drops tickets that stopped beating; returns how many were dropped. */
  sweep(): number {
    const t = this.now();
    let dropped = 0;
    for (let i = this.tickets.length - 1; i >= 0; i--) {
      const k = this.tickets[i];
      if (t - k.beat > this.leaseMs) {
        k.dropped = true;
        this.tickets.splice(i, 1);
        dropped++;
      }
    }
    return dropped;
  }

  leave(k: Ticket): void {
    const i = this.tickets.indexOf(k);
    if (i >= 0) this.tickets.splice(i, 1);
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class LocalBackend implements DecodeBackend {
  readonly name = "local";
  private readonly lines = new Map<string, Line>();
  private readonly maxPerModel: number;
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly now: () => number;
  /** Tickets dropped because their request stopped beating (never resumed), since start. */
  abandoned = 0;

  constructor(private readonly engines: ReadonlyMap<string, Engine>, options: LocalBackendOptions | number = {}) {
    const o = typeof options === "number" ? { maxPerModel: options } : options;
    this.maxPerModel = o.maxPerModel ?? Infinity;
    this.leaseMs = o.leaseMs ?? 15_000;
    this.pollMs = o.pollMs ?? 4;
    this.now = o.now ?? (() => Date.now());
  }

  models(): string[] { return [...this.engines.keys()]; }

  private line(id: string): Line {
    let l = this.lines.get(id);
    if (!l) this.lines.set(id, (l = new Line(this.leaseMs, this.now)));
    this.abandoned += l.sweep();
    return l;
  }

  /** Requests in line (running included) for a model, after dropping stale tickets. */
  inLine(model: string): number {
    return this.lines.has(model) ? this.line(model).tickets.length : 0;
  }

  async *decode(request: DecodeRequest, signal?: AbortSignal, alive?: () => void): AsyncGenerator<DecodeEvent> {
    const engine = this.engines.get(request.model);
    if (!engine) {
      yield { type: "error", code: "model_not_found", message: `model ${JSON.stringify(request.model)} is not served here; try ${this.models().join(", ")}` };
      return;
    }
    const line = this.line(request.model);
    if (line.tickets.length >= this.maxPerModel) {
      yield { type: "error", code: "model_busy", message: `model ${request.model} already has ${this.maxPerModel} requests in line; retry shortly` };
      return;
    }
    const ticket: Ticket = { beat: this.now(), dropped: false };
    line.tickets.push(ticket);
    const beat = () => { ticket.beat = this.now(); alive?.(); };
    try {
      // wait for the head of the line, looking on this request's own timer
      for (;;) {
        if (signal?.aborted) { yield CANCELLED; return; }
        this.abandoned += line.sweep();
        if (ticket.dropped) { yield { type: "error", code: "model_busy", message: `model ${request.model} did not come free; retry shortly` }; return; }
        if (line.tickets[0] === ticket) break;
        beat();
        await sleep(this.pollMs);
      }
      beat();
      // the engine reads `aborted` after every block: the client's abort, or this ticket dropped as stale
      const stop = { get aborted() { return signal?.aborted === true || ticket.dropped; } };
      for await (const e of engine.decode(request, stop, beat)) {
        if (ticket.dropped) return;
        yield e;
      }
    } finally {
      line.leave(ticket);
    }
  }
}
