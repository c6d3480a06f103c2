// The Worker's composition root: picks the Wasm SIMD kernels (imported precompiled) and serves.
// Until the engine lands (issue 4) it only reports that the kernels load and that no model is served yet.
import kernelsModule from "../wasm/kernels.wasm";
import { WasmKernels } from "./kernels/wasm/wasm-kernels.ts";

let kernels: Promise<WasmKernels> | undefined;

export default {
  async fetch(request: Request): Promise<Response> {
    kernels ??= WasmKernels.create(kernelsModule, 1 << 20);
    const k = await kernels;
    const body = {
      error: {
        message: "bltedge: no model yet — the kernels load, but the engine that serves a model is not built yet",
        type: "service_unavailable",
        param: null,
        code: "no_model",
      },
      kernels: k.name,
      path: new URL(request.url).pathname,
    };
    return Response.json(body, { status: 503, headers: { "retry-after": "3600", "x-should-retry": "false" } });
  },
};
