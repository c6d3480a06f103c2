// Five suites (and one benchmark run inside workerd, bench-workerd): `unit` runs in Node; `workerd` runs inside the real Workers runtime (miniflare); `service`
// drives the real Worker under wrangler dev over HTTP (`service-torch`: with PyTorch pool workers); `browser` runs
// pages in headless chromium.
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      { test: { name: "unit", include: ["test/**/*.test.ts"], exclude: ["test/workerd/**", "test/service/**", "test/service-torch/**", "test/browser/**"], testTimeout: 120_000 } },
      // headless chromium (WebGPU on SwiftShader) driven by playwright-core: `npm run test:browser`
      { test: { name: "browser", include: ["test/browser/**/*.test.ts"], testTimeout: 120_000, hookTimeout: 180_000, fileParallelism: false } },
      // the real Worker under `wrangler dev` (workerd) over loopback HTTP, one instance per file
      { test: { name: "service", include: ["test/service/**/*.test.ts"], testTimeout: 60_000, hookTimeout: 120_000, fileParallelism: false } },
      // the same, with the PyTorch reference pool worker (Debian's PyTorch): run by `npm run test:python`
      { test: { name: "service-torch", include: ["test/service-torch/**/*.test.ts"], testTimeout: 120_000, hookTimeout: 120_000, fileParallelism: false } },
      {
        plugins: [cloudflareTest({ wrangler: { configPath: "./wrangler.toml" } })],
        test: { name: "workerd", include: ["test/workerd/**/*.test.ts"], testTimeout: 120_000 },
      },
      // a benchmark that must run inside workerd (`npm run bench:oracle:workerd`): figures, no assertions
      {
        plugins: [cloudflareTest({ wrangler: { configPath: "./wrangler.toml" } })],
        test: { name: "bench-workerd", include: ["scripts/bench/workerd/**/*.workerd.ts"], testTimeout: 900_000 },
      },
    ],
  },
});
