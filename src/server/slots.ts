// The isolate's decode slots: at most `limit` decodes at once, each holding a slot from admission until it ends.
// A slot is a lease its request beats while it works (every decode event, every look at a model's line); a
// slot not beaten for leaseMs belongs to a request whose code no longer runs (the runtime tore its context
// down, or its consumer stopped reading without a word), and is taken back, counted as abandoned. So every way a
// request can end gives its slot back: completion, error, client abort, runtime cancellation, a generator that is
// never resumed.

export type DecodeEnd = "completed" | "failed" | "cancelled";

export interface Slot {
  /** The request still works: keeps the lease. */
  beat(): void;
  /** Gives the slot back (once; later calls, or a call after the lease was taken back, do nothing). */
  release(end: DecodeEnd): void;
}

export interface SlotCounts { started: number; completed: number; failed: number; cancelled: number; abandoned: number }

export class DecodeSlots {
  private readonly live = new Map<object, { beat: number }>();
  readonly counts: SlotCounts = { started: 0, completed: 0, failed: 0, cancelled: 0, abandoned: 0 };

  constructor(readonly limit: number, readonly leaseMs = 60_000, private readonly now: () => number = () => Date.now()) {}

  /** Slots held now, after taking back the abandoned ones. */
  get active(): number {
    this.sweep();
    return this.live.size;
  }

  /** A slot, or null when all `limit` are held by requests that still beat. */
  take(): Slot | null {
    if (this.active >= this.limit) return null;
    const key = {};
    const lease = { beat: this.now() };
    this.live.set(key, lease);
    this.counts.started++;
    return {
      beat: () => { lease.beat = this.now(); },
      release: (end) => {
        if (this.live.delete(key)) this.counts[end]++;
      },
    };
  }

  private sweep(): void {
    const t = this.now();
    for (const [key, lease] of this.live) {
      if (t - lease.beat > this.leaseMs) {
        this.live.delete(key);
        this.counts.abandoned++;
      }
    }
  }
}
