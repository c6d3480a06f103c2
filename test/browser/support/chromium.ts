// Headless Debian chromium driven by playwright-core, with WebGPU on the SwiftShader adapter, and a loopback
// static server (http://127.0.0.1 is a secure context, as WebGPU requires) for test pages and esbuild bundles.
import { createServer, type Server } from "node:http";
import { build } from "esbuild";
import { chromium, type Browser } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--enable-unsafe-webgpu", "--use-webgpu-adapter=swiftshader", "--enable-features=Vulkan"],
  });
}

/**
 * Bundles a TypeScript entry for the browser (ESM, one file, .wasm and .safetensors as binary files); alias maps a
 * package to a file (e.g. "vitest" to a page-side shim of expect).
 */
export async function bundle(entry: string, alias: Record<string, string> = {}): Promise<string> {
  const r = await build({ entryPoints: [entry], bundle: true, format: "esm", platform: "browser", target: "es2022", write: false,
    loader: { ".wasm": "binary", ".safetensors": "binary" }, logLevel: "silent", alias });
  return r.outputFiles[0].text;
}

export interface StaticServer { url: string; close(): Promise<void> }

/** Serves the given path → [content-type, body] map on a free loopback port. */
export async function serveFiles(files: Record<string, [string, string | Uint8Array]>): Promise<StaticServer> {
  const server: Server = createServer((req, res) => {
    const f = files[new URL(req.url ?? "/", "http://x").pathname];
    if (!f) { res.writeHead(404).end("not found"); return; }
    res.writeHead(200, { "content-type": f[0], "cache-control": "no-store" }).end(f[1]);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
}
