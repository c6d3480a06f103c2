// Hardening in the real runtime (wrangler dev, workerd): a misbehaving GPU-pool worker on loopback
// (test/support/rogue-worker.ts, its behaviour switched per test) gives clients a clean error or at most
// max_tokens bytes, with nothing of the worker's in it, while local requests keep being answered; blocks over 32
// bytes and the heaviest BLT-DV knobs are served; /health names no pool URL to an open API.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_MODEL } from "../../src/config.ts";
import { startRogueWorker, type Behaviour, type RogueWorker } from "../support/rogue-worker.ts";
import { startWorker, type RunningWorker } from "../support/wrangler.ts";

let rogue: RogueWorker, w: RunningWorker;

beforeAll(async () => {
  rogue = await startRogueWorker("honest");
  w = await startWorker({ POOL_ENDPOINTS: rogue.url });
}, 120_000);
afterAll(async () => { await w?.stop(); await rogue?.close(); });

const complete = (body: Record<string, unknown>) => fetch(`${w.url}/v1/completions`, { method: "POST",
  headers: { "content-type": "application/json" }, body: JSON.stringify({ prompt: "Hello", temperature: 0, ...body }) });

/** The rogue worker as the pool sees it again (a worker marked down is probed anew after the health TTL). */
async function poolUp(behaviour: Behaviour): Promise<void> {
  rogue.behaviour = behaviour;
  for (;;) {
    if ((await (await fetch(`${w.url}/health`)).json()).pool[0].up) return;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A pool request and a local one sent right after it; which finished first, and both answers. */
async function poolThenLocal(body: Record<string, unknown>) {
  const order: string[] = [];
  const pool = complete({ model: "pool-only", max_tokens: 32, ...body }).then(async (r) => { const text = await r.text(); order.push("pool"); return { r, text }; });
  const local = complete({ model: DEFAULT_MODEL, max_tokens: 16, mode: "ar" }).then(async (r) => { const json = await r.json(); order.push("local"); return { r, json }; });
  const [p, l] = await Promise.all([pool, local]);
  return { pool: p, local: l, order };
}

const leaks = /127\.0\.0\.1|Traceback|secret|CUDA|xxxxxxxx|internal error:/;

describe("a misbehaving pool worker under workerd", () => {
  it.each<Behaviour>(["no-headers", "huge-event", "done-without-stats", "busy-500", "error-event"])(
    "%s: the client gets a clean 503 naming nothing of the worker's; a local request is answered meanwhile", async (behaviour) => {
      await poolUp(behaviour);
      const { pool, local, order } = await poolThenLocal({});
      expect(pool.r.status).toBe(503);
      expect(pool.r.headers.get("retry-after")).toBeTruthy();
      expect(JSON.parse(pool.text).error.code).toBe("unavailable");
      expect(pool.text).not.toMatch(leaks);
      expect(local.r.status).toBe(200);
      expect(local.json.usage.completion_tokens).toBe(16);
      if (behaviour === "no-headers") expect(order).toEqual(["local", "pool"]);
    });

  it("a worker that streams forever: at most max_tokens bytes, then one generic error event", async () => {
    await poolUp("forever");
    const { pool, local } = await poolThenLocal({ stream: true, max_tokens: 40 });
    expect(pool.r.status).toBe(200);
    const events = pool.text.split("\n\n").filter(Boolean).map((e) => e.slice("data: ".length));
    const last = JSON.parse(events.at(-1)!);
    expect(last.error).toMatchObject({ code: "backend_failed", message: "the decoding backend failed; retry shortly" });
    const text = events.slice(0, -1).map((e) => JSON.parse(e).choices[0].text).join("");
    expect(text.length).toBeGreaterThan(0);
    expect(text.length).toBeLessThanOrEqual(40);
    expect(pool.text).not.toMatch(leaks);
    expect(local.r.status).toBe(200);
  });

  it("/health shows the pool worker's state but not its URL to an open API", async () => {
    await poolUp("honest");
    const text = await (await fetch(`${w.url}/health`)).text();
    expect(JSON.parse(text).pool).toEqual([expect.objectContaining({ up: true, models: ["blt-d-tiny", "pool-only"] })]);
    expect(text).not.toContain(rogue.url);
  });
});

describe("knobs at the edge of their ranges", () => {
  it.each([33, 48, 64])("blt-d with block_size %i answers 200 with every byte", async (block_size) => {
    const r = await complete({ model: DEFAULT_MODEL, max_tokens: 100, mode: "blt-d", block_size });
    expect(r.status).toBe(200);
    expect((await r.json()).usage.completion_tokens).toBe(100);
  });

  it("blt-dv with the largest block, steps and threshold answers AR's text, drafting within its budget", async () => {
    const heavy = await (await complete({ model: DEFAULT_MODEL, max_tokens: 256, mode: "blt-dv", block_size: 64, max_steps_per_block: 64, threshold: 1 })).json();
    const ar = await (await complete({ model: DEFAULT_MODEL, max_tokens: 256, mode: "ar" })).json();
    expect(heavy.choices[0].text).toBe(ar.choices[0].text);
    // 64 rows per byte + one block, each draft of B ≥ 2 bytes charged ≥ 10·B (src/engine/decode/work-budget.ts)
    expect(heavy.usage.bltedge.drafted_bytes).toBeLessThanOrEqual((64 * 256 + 64 * 72) / 10);
  });
});
