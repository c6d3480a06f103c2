// The service tests start the Worker the way the load test does.
export { freePort, startWorker, type RunningWorker } from "../../scripts/dev-worker.ts";
