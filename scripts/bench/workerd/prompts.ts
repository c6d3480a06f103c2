// Writes the held-out prompts of the oracle-drafts benchmark for its workerd run (which cannot read files):
// scripts/bench/workerd/prompts.json (committed so the benchmark type-checks in a clean clone; rewritten, the same
// bytes, before each run), the 6 prompts scripts/bench/oracle-drafts.ts decodes.
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { DEFAULT_MODEL_DIR } from "../../../src/config.ts";
import { heldOutCases } from "../decode-cases.ts";

const cases = heldOutCases(DEFAULT_MODEL_DIR, 6, 128, 128);
writeFileSync(fileURLToPath(new URL("prompts.json", import.meta.url)), JSON.stringify(cases.map((c) => Array.from(c.prompt))));
