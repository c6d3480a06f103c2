// Pool workers for tests, each a child process on a free loopback port, ready once it prints its URL: the
// TypeScript engine worker (src/pool, Node only) and the PyTorch reference worker (scripts/pool, Debian's PyTorch).
import { spawn, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";

export interface PoolWorker { url: string; child: ChildProcess; log(): string }

const require = createRequire(import.meta.url);

function startPoolProcess(command: string, args: string[]): Promise<PoolWorker> {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill("SIGKILL"); reject(new Error(`pool worker did not start:\n${out}`)); }, 60_000);
    child.stdout!.on("data", (d) => {
      out += d;
      const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(out);
      if (m) { clearTimeout(timer); resolve({ url: m[1], child, log: () => out }); }
    });
    child.stderr!.on("data", (d) => { out += d; });
    child.once("exit", (code) => { clearTimeout(timer); reject(new Error(`pool worker exited (${code}):\n${out}`)); });
  });
}

export interface TsPoolOptions { models?: string; threads?: number; capacity?: number; eventDelayMs?: number; args?: string[] }

/** The TypeScript engine pool worker (`npm run pool:ts`), run from source with tsx. */
export function startTsPoolWorker(o: TsPoolOptions = {}): Promise<PoolWorker> {
  return startPoolProcess(process.execPath, ["--max-semi-space-size=4", "--import", require.resolve("tsx"), "src/pool/main.ts", "--models", o.models ?? "models/blt-d-tiny",
    "--port", "0", "--threads", String(o.threads ?? 1), "--capacity", String(o.capacity ?? 4), "--event-delay-ms", String(o.eventDelayMs ?? 0), ...(o.args ?? [])]);
}

/** The PyTorch reference pool worker (`npm run pool`) on the CPU: needs Debian's PyTorch in /usr/bin/python3. */
export function startTorchPoolWorker(): Promise<PoolWorker> {
  return startPoolProcess("/usr/bin/python3", ["-m", "scripts.pool.worker", "--models", "models/blt-d-tiny", "--port", "0", "--threads", "1", "--capacity", "4"]);
}

/** SIGKILL, as a crashed machine would; resolves once the process is gone. */
export const killPoolWorker = (p: PoolWorker) => new Promise<void>((r) => {
  if (p.child.exitCode !== null || p.child.signalCode) return r();
  p.child.once("exit", () => r());
  p.child.kill("SIGKILL");
});
