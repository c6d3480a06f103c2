// Builds asm/ into wasm/kernels.wasm (SIMD128, stub runtime, imported fixed memory, raw pointer ABI) and
// records how in wasm/kernels.build.json. CI runs this and fails if the committed build differs.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const ascVersion = require("assemblyscript/package.json").version;
const args = [
  "asm/index.ts", "-o", "wasm/kernels.wasm",
  "-O3", "--runtime", "stub", "--importMemory", "--initialMemory", "1",
  "--enable", "simd", "--use", "abort=", "--noAssert",
];
execFileSync(process.execPath, [require.resolve("assemblyscript/bin/asc.js"), ...args], { stdio: "inherit" });
const wasm = readFileSync("wasm/kernels.wasm");
const record = {
  command: `asc ${args.join(" ")}`,
  assemblyscript: ascVersion,
  bytes: wasm.length,
  sha256: createHash("sha256").update(wasm).digest("hex"),
};
writeFileSync("wasm/kernels.build.json", JSON.stringify(record, null, 2) + "\n");
console.log(`wasm/kernels.wasm: ${wasm.length} bytes, sha256 ${record.sha256.slice(0, 16)}…`);
