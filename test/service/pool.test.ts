// The GPU-pool path end to end on TypeScript engine pool workers (src/pool: Node only, no Python): two of them
// behind the real Worker, through the router, the wire protocol, failover, a kill mid-stream and 503 (pool-suite.ts).
// Each bytes event is held back 10 ms so that a 400-byte stream is still running when the test kills its worker.
import { expect } from "vitest";
import { startTsPoolWorker } from "../support/pool-workers.ts";
import { describePool } from "./pool-suite.ts";

describePool("TypeScript engine workers", () => startTsPoolWorker({ threads: 1, capacity: 4, eventDelayMs: 10 }), (h) => {
  expect(h).toMatchObject({ impl: "ts", device: "cpu", threads: 1, running: 0, queued: 0 });
});
