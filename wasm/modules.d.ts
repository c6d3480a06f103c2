// Wrangler and the Workers vitest pool import `.wasm` files as precompiled WebAssembly.Module objects.
declare module "*.wasm" {
  const module: WebAssembly.Module;
  export default module;
}

// Checkpoint files bundled as Data modules (wrangler.toml rules) arrive as ArrayBuffers.
declare module "*.safetensors" {
  const data: ArrayBuffer;
  export default data;
}
