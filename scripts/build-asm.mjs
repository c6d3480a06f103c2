// Builds asm/ twice, same sources and exports: wasm/kernels.wasm (SIMD128) and wasm/kernels-relaxed.wasm (SIMD128
// plus relaxed SIMD: ASC_FEATURE_RELAXED_SIMD selects the relaxed int8 path in asm/matmul.ts), stub runtime,
// imported fixed memory, raw pointer ABI; and the benchmark's peak loops (asm/peak/) into wasm/peak.wasm; and
// records how in wasm/kernels.build.json. CI runs this and fails if a
// committed build differs.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const ascVersion = require("assemblyscript/package.json").version;
const common = ["-O3", "--runtime", "stub", "--importMemory", "--initialMemory", "1", "--use", "abort=", "--noAssert"];
const builds = [
  { name: "simd128", entry: "asm/index.ts", out: "wasm/kernels.wasm", enable: "simd" },
  { name: "relaxed", entry: "asm/index.ts", out: "wasm/kernels-relaxed.wasm", enable: "simd,relaxed-simd" },
  // register-only peak loops for `npm run bench:kernels` (never loaded by the engine)
  { name: "peak", entry: "asm/peak/index.ts", out: "wasm/peak.wasm", enable: "simd,relaxed-simd" },
];
const record = { assemblyscript: ascVersion, builds: {} };
for (const b of builds) {
  const args = [b.entry, "-o", b.out, ...common, "--enable", b.enable];
  execFileSync(process.execPath, [require.resolve("assemblyscript/bin/asc.js"), ...args], { stdio: "inherit" });
  const wasm = readFileSync(b.out);
  const sha256 = createHash("sha256").update(wasm).digest("hex");
  record.builds[b.name] = { file: b.out, command: `asc ${args.join(" ")}`, bytes: wasm.length, sha256 };
  console.log(`${b.out}: ${wasm.length} bytes, sha256 ${sha256.slice(0, 16)}…`);
}
writeFileSync("wasm/kernels.build.json", JSON.stringify(record, null, 2) + "\n");
