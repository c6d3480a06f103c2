// The GPU-pool path end to end on the PyTorch reference worker (scripts/pool, CPU here): needs Debian's PyTorch
// in /usr/bin/python3 (sh scripts/train/setup.sh), so it runs with `npm run test:python`, not `npm test`.
// The same suite as test/service/pool.test.ts runs on the TypeScript engine worker.
import { startTorchPoolWorker } from "../support/pool-workers.ts";
import { describePool } from "../service/pool-suite.ts";

describePool("PyTorch reference workers", startTorchPoolWorker);
