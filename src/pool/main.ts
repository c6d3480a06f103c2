// The TypeScript pool worker: the engine (Wasm SIMD kernels, Node) behind the same wire protocol as the PyTorch
// worker, one engine per worker_thread — a CPU pool on a many-core server, and the pool the service tests run.
//
//   npm run pool:ts -- [--models models/blt-v2,models/blt-d-tiny] [--port 8790] [--host 127.0.0.1]
//       [--threads <cores>] [--capacity <2 × threads>] [--q8] [--context-bytes <max_seq_len>] [--event-delay-ms 0] [--verbose]
//       [--max-connections 64] [--socket-timeout 30] [--secret S | env BLTEDGE_POOL_SECRET]
import { availableParallelism } from "node:os";
import { parseFlags } from "../cli/node-engine.ts";
import { DEFAULT_MODEL_DIR } from "../config.ts";
import { createPoolServer } from "./server.ts";
import { EngineThreads } from "./threads.ts";

const HELP = `usage: npm run pool:ts -- [--models <dir>[,<dir>…]] [--port 8790] [--host 127.0.0.1] [--threads N] [--capacity C]
  --models          comma-separated model directories (default ${DEFAULT_MODEL_DIR}; a model's id is its directory's name)
  --port            0 picks a free port (printed)
  --threads         engine threads, one decode each at a time (default: the cores, ${availableParallelism()})
  --capacity        decodes admitted at once, running or waiting for a thread; more get 503 busy (default: 2 × threads)
  --q8              int8 weights (model.q8.safetensors) instead of f32
  --context-bytes   the most bytes a prompt fills with BOS (default and cap: the model's max_seq_len); answers run past it
  --event-delay-ms  hold each bytes event back this long (a slow device: lets tests act mid-stream; default 0)
  --verbose         log every request to stderr
  --max-connections connections at once; more are refused (default 64)
  --socket-timeout  seconds a connection may stay silent (default 30)
  --secret          required as x-pool-secret on every request (default: $BLTEDGE_POOL_SECRET; none: open)`;

function intFlag(flags: Map<string, string>, name: string, fallback: number, min: number): number {
  const v = flags.get(name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
  return n;
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  if (flags.has("help")) { console.log(HELP); process.exit(0); }
  const dirs = (flags.get("models") ?? DEFAULT_MODEL_DIR).split(",").map((d) => d.trim()).filter(Boolean);
  if (!dirs.length) throw new Error("--models: no model given");
  const threads = intFlag(flags, "threads", availableParallelism(), 1);
  const capacity = intFlag(flags, "capacity", 2 * threads, 1);
  const engines = await EngineThreads.start(threads, {
    dirs, variant: flags.has("q8") ? "q8" : "f32",
    contextBytes: intFlag(flags, "context-bytes", 0, 0), eventDelayMs: intFlag(flags, "event-delay-ms", 0, 0),
  });
  if (engines.models.size !== dirs.length) throw new Error("--models: two models have the same directory name");

  const server = createPoolServer(engines, { capacity, verbose: flags.has("verbose"), secret: flags.get("secret") ?? process.env.BLTEDGE_POOL_SECRET,
    maxConnections: intFlag(flags, "max-connections", 64, 1), socketTimeoutMs: 1000 * intFlag(flags, "socket-timeout", 30, 1) });
  server.listen(intFlag(flags, "port", 8790, 0), flags.get("host") ?? "127.0.0.1", () => {
    const a = server.address() as { address: string; port: number };
    console.log(`pool worker listening on http://${a.address}:${a.port} (device cpu, TypeScript engine: ${threads} threads, capacity ${capacity}; models ${[...engines.models.keys()].join(", ")})`);
  });
  const stop = () => { server.close(); server.closeAllConnections(); void engines.close().then(() => process.exit(0)); };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

main().catch((e) => { console.error((e as Error).message); process.exit(1); });
