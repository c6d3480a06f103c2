// Two suites: `unit` runs in Node; `workerd` runs inside the real Workers runtime (miniflare).
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      { test: { name: "unit", include: ["test/**/*.test.ts"], exclude: ["test/workerd/**"], testTimeout: 120_000 } },
      {
        plugins: [cloudflareTest({ wrangler: { configPath: "./wrangler.toml" } })],
        test: { name: "workerd", include: ["test/workerd/**/*.test.ts"], testTimeout: 120_000 },
      },
    ],
  },
});
