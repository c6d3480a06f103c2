// Node-only: compiles the kernel builds from disk (Node, unlike Workers, may compile from bytes) and picks one.
import { readFileSync } from "node:fs";
import v8 from "node:v8";
import { chooseKernelBuild, parseKernelsSetting, type KernelBuild, type KernelChoice, type KernelsSetting } from "./loader.ts";

const FILES: Record<KernelBuild, string> = { simd128: "./kernels.wasm", relaxed: "./kernels-relaxed.wasm" };

export function compileKernelsModuleNode(build: KernelBuild = "simd128"): WebAssembly.Module {
  return new WebAssembly.Module(readFileSync(new URL(FILES[build], import.meta.url)));
}

/** The KERNELS environment variable (simd128 | relaxed | auto; unset: auto). */
export const kernelsSettingFromEnv = (): KernelsSetting => parseKernelsSetting(process.env.KERNELS);

/**
 * Node 20 (V8 11.3) has relaxed SIMD only behind --experimental-wasm-relaxed-simd, and its baseline compiler
 * (Liftoff) miscompiles i32x4.relaxed_dot_i8x16_i7x16_add_s. Asked for the relaxed build there, this turns the
 * feature on and compiles Wasm with the optimizing tier only, for every module compiled from then on in this
 * process; "auto" changes nothing (Node 20 runs the SIMD128 build, the relaxed dot gains little there).
 */
function enableRelaxedOnNode20(): void {
  if (Number(process.versions.node.split(".")[0]) !== 20) return;
  v8.setFlagsFromString("--experimental-wasm-relaxed-simd");
  v8.setFlagsFromString("--no-liftoff");
}

/** The build to run in this Node process: `setting` (default: KERNELS, else auto), checked by chooseKernelBuild. */
export async function chooseKernelsNode(setting: KernelsSetting = kernelsSettingFromEnv()): Promise<KernelChoice> {
  if (setting === "relaxed") enableRelaxedOnNode20();
  return chooseKernelBuild({ simd128: () => compileKernelsModuleNode("simd128"), relaxed: () => compileKernelsModuleNode("relaxed") }, setting);
}
