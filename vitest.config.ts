// Three suites: `unit` runs in Node; `workerd` runs inside the real Workers runtime (miniflare); `service`
// drives the real Worker under wrangler dev over HTTP.
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      { test: { name: "unit", include: ["test/**/*.test.ts"], exclude: ["test/workerd/**", "test/service/**"], testTimeout: 120_000 } },
      // the real Worker under `wrangler dev` (workerd) over loopback HTTP, one instance per file
      { test: { name: "service", include: ["test/service/**/*.test.ts"], testTimeout: 60_000, hookTimeout: 120_000, fileParallelism: false } },
      {
        plugins: [cloudflareTest({ wrangler: { configPath: "./wrangler.toml" } })],
        test: { name: "workerd", include: ["test/workerd/**/*.test.ts"], testTimeout: 120_000 },
      },
    ],
  },
});
