// The GPU pool client against workers that misbehave (test/support/rogue-worker.ts, real HTTP on loopback): every
// deadline, the byte and event caps, strict event checks, no redirects; failover while no byte was streamed, one
// generic error event after; what a worker says never reaches the client. Short deadlines keep the suite quick.
import { afterEach, describe, expect, it } from "vitest";
import { PoolBackend, type PoolTimeouts } from "../../src/backends/pool.ts";
import type { DecodeEvent } from "../../src/protocol.ts";
import { collect, request } from "../support/engine.ts";
import { startRogueWorker, type Behaviour, type RogueWorker } from "../support/rogue-worker.ts";

const started: RogueWorker[] = [];
afterEach(async () => { await Promise.all(started.splice(0).map((w) => w.close())); });

async function pool(...behaviours: Behaviour[]): Promise<{ backend: PoolBackend; workers: RogueWorker[]; logs: string[] }> {
  return poolWith({}, ...behaviours);
}

async function poolWith(timeouts: Partial<PoolTimeouts>, ...behaviours: Behaviour[]): Promise<{ backend: PoolBackend; workers: RogueWorker[]; logs: string[] }> {
  const honest = behaviours.includes("redirect") ? await startRogueWorker("honest") : undefined;
  const workers = await Promise.all(behaviours.map((b) => startRogueWorker(b, honest?.url)));
  started.push(...workers, ...(honest ? [honest] : []));
  const logs: string[] = [];
  // every worker is equally idle: candidates keep the order given (the sort is stable)
  const backend = new PoolBackend({ endpoints: workers.map((w) => w.url), timeouts: { connectMs: 300, firstEventMs: 300, idleMs: 300, streamMs: 5000, ...timeouts },
    maxEventChars: 4096, log: (m) => logs.push(m) });
  return { backend, workers, logs };
}

const decode = (b: PoolBackend, maxNewBytes = 24) => collect(b.decode(request("Hello", { model: "blt-d-tiny", maxNewBytes })));
const honestBytes = (n: number) => new TextEncoder().encode("a".repeat(n));
const says = (e: DecodeEvent) => (e.type === "error" ? `${e.code} ${e.message} ${e.param ?? ""}` : "");

describe("the GPU pool treats its workers as untrusted", () => {
  it("moves on to the next worker when one fails before any byte, though it still looked healthy", async () => {
    const { backend, workers, logs } = await pool("drop-connection", "honest");
    const r = await decode(backend);
    expect(r.end).toMatchObject({ type: "done", finishReason: "length" });
    expect(r.bytes).toEqual(honestBytes(24));
    expect(workers[0].decodes).toBe(1);
    expect(backend.status().map((s) => s.up)).toEqual([false, true]);
    expect(logs.join()).toContain(workers[0].url);
  });

  it.each<[string, Behaviour]>([
    ["never sends its response headers", "no-headers"],
    ["sends headers, then no event", "silent"],
    ["sends one event of 10 MB", "huge-event"],
    ["ends with done but no stats", "done-without-stats"],
    ["sends stats of the wrong types", "stats-of-wrong-type"],
    ["sends stats without prefillMs", "stats-without-prefill"],
    ["redirects to another worker", "redirect"],
    ["answers 500 with the code busy", "busy-500"],
    ["sends an error event", "error-event"],
  ])("a worker that %s is marked down and the request moves on", async (_, behaviour) => {
    const { backend, workers } = await pool(behaviour, "honest");
    const r = await decode(backend);
    expect(r.end).toMatchObject({ type: "done", finishReason: "length" });
    expect(r.bytes).toEqual(honestBytes(24));
    expect(backend.status()[0].up).toBe(false);
    expect(workers[0].decodes).toBe(1);
  });

  it.each<Behaviour>(["no-headers", "huge-event", "done-without-stats", "busy-500", "error-event", "redirect"])(
    "with no other worker, %s ends in 'unavailable' naming no worker and repeating nothing it said", async (behaviour) => {
      const { backend, workers } = await pool(behaviour);
      const r = await decode(backend);
      expect(r.bytes.length).toBe(0);
      expect(r.end).toMatchObject({ type: "error", code: "unavailable" });
      expect(says(r.end)).not.toMatch(/127\.0\.0\.1|busy|Traceback|secret|CUDA|Error|xxxx/);
      expect(workers[0].decodes).toBe(1);
    });

  it("a worker that keeps streaming gets no more than max_tokens bytes through; the stream ends with a generic error", async () => {
    const { backend } = await pool("forever", "honest");
    const r = await decode(backend, 40);
    expect(r.bytes.length).toBeLessThanOrEqual(40);
    expect(r.bytes.length).toBeGreaterThan(0);
    expect(r.end).toMatchObject({ type: "error", code: "backend_failed", message: "the GPU pool worker failed mid-stream" });
    expect(backend.status()[0].up).toBe(false);
  });

  it("a worker that stalls after its first bytes is given up at the idle deadline, with one generic error", async () => {
    const { backend } = await pool("stall", "honest");
    const r = await decode(backend);
    expect(r.bytes).toEqual(honestBytes(1));
    expect(r.end).toMatchObject({ type: "error", code: "backend_failed" });
    expect(backend.status()[0].up).toBe(false);
  });

  it("an honest worker's stream passes through whole, stats checked and copied", async () => {
    const { backend } = await pool("honest");
    const r = await decode(backend, 30);
    expect(r.bytes).toEqual(honestBytes(30));
    expect(r.end).toMatchObject({ type: "done", stats: { mode: "ar", promptBytes: 5, generatedBytes: 30, prefillMs: 1 } });
  });

  it("stops failing over at the request's first-byte deadline, however many workers are silent", async () => {
    const { backend, workers } = await poolWith({ firstByteMs: 700 }, "silent", "silent", "silent", "silent", "honest");
    const r = await decode(backend);
    expect(r.end).toMatchObject({ type: "error", code: "unavailable" });
    expect(workers.slice(0, 4).filter((w) => w.decodes === 1).length).toBeLessThan(4);
    expect(workers[4].decodes).toBe(0);
  });
});
