// Decode slots as leases: at most `limit` at once; every ending gives the slot back once; a slot whose request
// stops beating is taken back after leaseMs (counted as abandoned) and its late release does nothing.
import { describe, expect, it } from "vitest";
import { DecodeSlots } from "../../src/server/slots.ts";

describe("decode slots", () => {
  it("admits up to the limit, releases once per slot, and counts each ending", () => {
    let now = 0;
    const slots = new DecodeSlots(2, 1000, () => now);
    const a = slots.take()!, b = slots.take()!;
    expect(slots.take()).toBeNull();
    a.release("completed");
    a.release("failed"); // a second release changes nothing
    expect(slots.active).toBe(1);
    const c = slots.take()!;
    b.release("cancelled");
    c.release("failed");
    expect(slots.active).toBe(0);
    expect(slots.counts).toEqual({ started: 3, completed: 1, failed: 1, cancelled: 1, abandoned: 0 });
  });

  it("takes back a slot whose request stopped beating, and only that one", () => {
    let now = 0;
    const slots = new DecodeSlots(2, 1000, () => now);
    const stuck = slots.take()!, live = slots.take()!;
    for (now = 100; now <= 1500; now += 100) live.beat();
    expect(slots.active).toBe(1); // stuck's last beat was at 0
    expect(slots.counts.abandoned).toBe(1);
    expect(slots.take()).not.toBeNull();
    stuck.release("completed"); // too late: it was taken back
    expect(slots.counts.completed).toBe(0);
    expect(slots.active).toBe(2);
  });
});
