// StrykerJS: mutation testing of the decode modes, the sampler, the output and SSE shaping, the work budget and
// the router (`npm run test:mutation`; scores, run time and the surviving mutants judged equivalent: docs/testing.md).
// The command fails when the score falls below thresholds.break.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: "vitest",
  vitest: { configFile: "vitest.stryker.config.ts", related: false },
  plugins: ["@stryker-mutator/vitest-runner"],
  mutate: [
    "src/engine/decode/ar.ts",
    "src/engine/decode/ar-step.ts",
    "src/engine/decode/blt-d.ts",
    "src/engine/decode/blt-s.ts",
    "src/engine/decode/blt-dv.ts",
    "src/engine/decode/denoise.ts",
    "src/engine/decode/speculate.ts",
    "src/engine/decode/sampler.ts",
    "src/engine/decode/output.ts",
    "src/engine/decode/work-budget.ts",
    "src/server/openai-shapes.ts",
    "src/backends/router.ts",
  ],
  coverageAnalysis: "perTest",
  // results are kept in reports/stryker-incremental.json: a rerun tests again only the mutants whose code or tests changed
  incremental: true,
  ignoreStatic: true,
  concurrency: 2,
  // a mutant that loops forever is cut after 1.5 × its tests' time + 5 s (counted as detected: a timeout)
  timeoutMS: 5_000,
  timeoutFactor: 1.5,
  // error-message wording is not behaviour: string literals are not mutated
  mutator: { excludedMutations: ["StringLiteral"] },
  thresholds: { high: 90, low: 80, break: 80 },
  reporters: ["clear-text", "progress", "json", "html"],
  jsonReporter: { fileName: "reports/mutation/mutation.json" },
  htmlReporter: { fileName: "reports/mutation/mutation.html" },
  tempDirName: ".stryker-tmp",
  cleanTempDir: true,
  ignorePatterns: ["/models/*/golden.safetensors", "/models/*/model.q8.safetensors", "/.git", "/reports", "/scripts/tmp", "/shared"],
};
