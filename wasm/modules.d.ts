// Wrangler and the Workers vitest pool import `.wasm` files as precompiled WebAssembly.Module objects.
declare module "*.wasm" {
  const module: WebAssembly.Module;
  export default module;
}
