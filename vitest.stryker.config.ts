// The unit tests StrykerJS runs against each mutant (`npm run test:mutation`, stryker.config.mjs): the ones that
// exercise the decode modes, the sampler, the output and SSE shaping, the work budget and the router, in Node.
// The slow ones stay out (the sampled-distribution tests, 30 s; blt-d-small's pass counts; block prefixes): each
// mutant runs every test that covers it, so one 30-second file would make a run take hours on two cores. The
// acceptance rule they guard is pinned exactly by speculate-exact.test.ts here.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: [
      "test/engine/sampler.test.ts",
      "test/engine/speculate-exact.test.ts",
      "test/engine/blt-d-rules.test.ts",
      "test/engine/bounded-work.test.ts",
      "test/engine/bounded-work-blt-s.test.ts",
      "test/engine/requests.test.ts",
      "test/engine/pinned-decodes.test.ts",
      "test/engine/output-framer.test.ts",
      "test/engine/zero-length.test.ts",
      "test/server/openai-shapes.test.ts",
      "test/server/sse-utf8.test.ts",
      "test/server/usage.test.ts",
      "test/backends/router.test.ts",
    ],
    testTimeout: 120_000,
  },
});
