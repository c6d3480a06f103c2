// Node-only: compiles kernels.wasm from disk (Node, unlike Workers, may compile from bytes).
import { readFileSync } from "node:fs";

export function compileKernelsModuleNode(): WebAssembly.Module {
  return new WebAssembly.Module(readFileSync(new URL("./kernels.wasm", import.meta.url)));
}
