// Bounded work for BLT-S, the twin of bounded-work.test.ts's BLT-DV case: a draft of k bytes is charged its worst
// case, k − 1 single-row decoder passes and k verified rows (ROW_COST_WHOLE each), before it is made; a draft
// that does not fit becomes an AR step, so greedy output is AR's and drafted bytes stay within the budget.
import { beforeAll, describe, expect, it } from "vitest";
import type { Engine } from "../../src/engine/engine.ts";
import { MAX_BLOCK } from "../../src/engine/decode/context.ts";
import { ROW_COST_WHOLE, ROWS_PER_BYTE, WorkBudget } from "../../src/engine/decode/work-budget.ts";
import type { DecodeStats } from "../../src/protocol.ts";
import { collect, nodeEngine, request } from "../support/engine.ts";
import { V2 } from "../support/node-files.ts";

describe("the work budget", () => {
  it("holds ROWS_PER_BYTE rows per byte plus one largest block; takes what fits, refuses (charging nothing) what does not", () => {
    const w = new WorkBudget(10);
    expect(w.limitRows).toBe(ROWS_PER_BYTE * 10 + MAX_BLOCK * (MAX_BLOCK + ROW_COST_WHOLE));
    expect(w.take(w.limitRows - 5)).toBe(true);
    expect(w.take(6)).toBe(false);
    expect(w.spentRows).toBe(w.limitRows - 5);
    expect(w.take(5)).toBe(true);
    expect(w.take(1)).toBe(false);
    expect(w.take(0)).toBe(true);
  });

  it("a BLT-S draft of k bytes costs ROW_COST_WHOLE · (2k − 1) rows; a BLT-DV block B · steps + ROW_COST_WHOLE · B", () => {
    const w = new WorkBudget(0); // the largest block's allowance only: 64 · 72 = 4,608 rows
    const perDraft = ROW_COST_WHOLE * (2 * 64 - 1); // 1,016
    let drafts = 0;
    while (drafts < 100 && w.takeDraft(64)) drafts++;
    expect(drafts).toBe(Math.floor(w.limitRows / perDraft));
    expect(w.spentRows).toBe(drafts * perDraft);
    expect(w.takeDraft(2)).toBe(w.spentRows + ROW_COST_WHOLE * 3 <= w.limitRows);
    const v = new WorkBudget(0);
    expect(v.takeBlockDraft(64, 64)).toBe(true); // 64 · 64 + 8 · 64 = 4,608: exactly the allowance
    expect(v.spentRows).toBe(v.limitRows);
    expect(v.takeBlockDraft(2, 1)).toBe(false);
    expect(v.takeDraft(2)).toBe(false);
    expect(v.spentRows).toBe(v.limitRows);
  });
});

describe("BLT-S within its work budget (blt-v2, k = 64)", () => {
  let engine: Engine;
  beforeAll(async () => { engine = await nodeEngine(V2, 512); });

  const run = async (mode: "ar" | "blt-s", temperature: number, maxNewBytes: number) => {
    const r = await collect(engine.decode(request("The quick brown fox ", { mode, maxNewBytes, sampling: { temperature, seed: 3 }, knobs: { draftLength: MAX_BLOCK } })));
    return { bytes: r.bytes, stats: (r.end as { stats: DecodeStats }).stats };
  };

  it("greedy: emits AR's bytes and drafts at most limit / (2 · ROW_COST_WHOLE) bytes", async () => {
    const maxNewBytes = 256;
    const s = await run("blt-s", 0, maxNewBytes), ar = await run("ar", 0, maxNewBytes);
    expect(s.bytes).toEqual(ar.bytes);
    // Σ ROW_COST_WHOLE · (2k − 1) ≤ limit and each draft adds k − 1 drafted bytes: drafted ≤ limit / (2 · ROW_COST_WHOLE)
    expect(s.stats.draftedBytes).toBeGreaterThan(0);
    expect(s.stats.draftedBytes).toBeLessThanOrEqual(new WorkBudget(maxNewBytes).limitRows / (2 * ROW_COST_WHOLE));
  });

  it("sampled at T = 1.5 over 1,024 bytes, where drafts are rejected early and often: the budget refuses drafts and bounds them", async () => {
    // every draft the engine asks for, and the budget it asked
    const asked: { ok: boolean; budget: WorkBudget }[] = [];
    const takeDraft = WorkBudget.prototype.takeDraft;
    WorkBudget.prototype.takeDraft = function (this: WorkBudget, k: number) { const ok = takeDraft.call(this, k); asked.push({ ok, budget: this }); return ok; };
    try {
      const maxNewBytes = 1024;
      const s = await run("blt-s", 1.5, maxNewBytes);
      expect(s.bytes.length).toBe(maxNewBytes);
      const limit = new WorkBudget(maxNewBytes).limitRows;
      const made = asked.filter((a) => a.ok).length, refused = asked.length - made;
      console.log(`sampled BLT-S k = 64, 1,024 bytes: ${made} drafts made, ${refused} refused; drafted ${s.stats.draftedBytes}, accepted ${s.stats.acceptedBytes}`);
      // measured: 70 made, 335 refused (each refusal an AR step instead)
      expect(refused).toBeGreaterThan(0);
      expect(asked[0].budget.spentRows).toBeLessThanOrEqual(limit);
      expect(s.stats.draftedBytes).toBeLessThanOrEqual(limit / (2 * ROW_COST_WHOLE));
    } finally {
      WorkBudget.prototype.takeDraft = takeDraft;
    }
  });
});
