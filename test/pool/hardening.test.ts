// The TypeScript pool worker facing untrusted clients, as test/python/test_pool_hardening.py checks the PyTorch
// one: the shared secret on every request, a bound on connections, and silent connections dropped.
import { request } from "node:http";
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { killPoolWorker, startTsPoolWorker, type PoolWorker } from "../support/pool-workers.ts";

const SECRET = "s3cret", MAX_CONNECTIONS = 3;
let worker: PoolWorker;
beforeAll(async () => {
  worker = await startTsPoolWorker({ args: ["--secret", SECRET, "--max-connections", String(MAX_CONNECTIONS), "--socket-timeout", "1"] });
}, 120_000);
afterAll(async () => { if (worker) await killPoolWorker(worker); });

const port = () => Number(new URL(worker.url).port);

/** One request on a connection of its own, closed after it (no keep-alive connection left to take a place). */
function status(method: string, path: string, secret?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { connection: "close", ...(secret === undefined ? {} : { "x-pool-secret": secret }) };
    const req = request({ host: "127.0.0.1", port: port(), method, path, agent: false, headers }, (res) => { res.resume(); res.on("end", () => resolve(res.statusCode!)); });
    req.once("error", reject);
    req.end(method === "POST" ? "{}" : undefined);
  });
}

function open(): Promise<Socket> {
  return new Promise((resolve, reject) => { const s = connect(port(), "127.0.0.1", () => resolve(s)); s.once("error", reject); });
}
/** Resolves once the worker closed the connection (or reset it). */
const closed = (s: Socket) => new Promise<void>((r) => { s.once("close", () => r()); s.resume(); });

describe("the TypeScript pool worker and untrusted clients", () => {
  it("connections beyond the bound are refused, and silent ones are dropped", async () => {
    // first in this file: no connection of an earlier test holds a place
    const idle = await Promise.all(Array.from({ length: MAX_CONNECTIONS }, open));
    const order: string[] = [];
    const gone = idle.map((s, i) => closed(s).then(() => order.push(`idle ${i}`)));
    // every place is taken: a further connection is closed at once, before the silent ones time out
    const extra = await open();
    await closed(extra);
    order.push("extra");
    // the silent connections are dropped by the socket timeout; then the worker serves again
    await Promise.all(gone);
    expect(order[0]).toBe("extra");
    expect(await status("GET", "/health", SECRET)).toBe(200);
  });

  it("every request needs the secret", async () => {
    for (const secret of [undefined, "wrong", SECRET.slice(0, -1)]) {
      expect(await status("GET", "/health", secret)).toBe(401);
      expect(await status("POST", "/v1/decode", secret)).toBe(401);
    }
    expect(await status("GET", "/health", SECRET)).toBe(200);
  });
});
