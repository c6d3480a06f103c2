// Writes the request contract (src/contract.ts) to scripts/pool/contract.json, which the PyTorch pool worker
// (scripts/pool/wire.py) reads. `npm run contract` writes it; `npm run contract -- --check` fails when the
// committed file differs from the table (CI runs it; so does test/engine/contract.test.ts).
import { readFileSync, writeFileSync } from "node:fs";
import { contractJson } from "../src/contract.ts";

export const CONTRACT_JSON_PATH = new URL("./pool/contract.json", import.meta.url);

const want = contractJson();
if (process.argv.includes("--check")) {
  let have = "";
  try { have = readFileSync(CONTRACT_JSON_PATH, "utf8"); } catch { /* missing: differs */ }
  if (have !== want) {
    console.error("scripts/pool/contract.json differs from src/contract.ts: run `npm run contract` and commit the result");
    process.exit(1);
  }
  console.log("scripts/pool/contract.json matches src/contract.ts");
} else {
  writeFileSync(CONTRACT_JSON_PATH, want);
  console.log("wrote scripts/pool/contract.json");
}
