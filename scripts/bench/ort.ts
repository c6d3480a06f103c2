// onnxruntime for the benchmark peers, one thread each: onnxruntime-web's wasm backend or onnxruntime-node.
import { createRequire } from "node:module";
import { dirname } from "node:path";

export type Ort = typeof import("onnxruntime-node");
export type OrtImpl = "ort-web" | "ort-node";

export async function loadOrt(impl: OrtImpl): Promise<{ ort: Ort; options: object }> {
  if (impl === "ort-node") {
    const ort = await import("onnxruntime-node");
    return { ort, options: { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: "sequential", graphOptimizationLevel: "all" } };
  }
  const ort = (await import("onnxruntime-web")) as unknown as Ort & { env: { wasm: Record<string, unknown> } };
  const require = createRequire(import.meta.url);
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = dirname(require.resolve("onnxruntime-web")) + "/";
  return { ort, options: { executionProviders: ["wasm"], graphOptimizationLevel: "all" } };
}
