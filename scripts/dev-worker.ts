// Starts the real Worker in workerd with `wrangler dev` (as `npm start` does) on a free loopback port and waits
// until /health answers 200 (the bundled models loaded). Each suite gets its own instance and its own vars.
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";

const require = createRequire(import.meta.url);

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface RunningWorker {
  url: string; stop(): Promise<void>; log(): string;
  /** wrangler's process (workerd runs under it) */
  pid: number;
  /** the Worker's inspector (Chrome DevTools protocol), through wrangler */
  inspectorPort: number;
}

export async function startWorker(vars: Record<string, string> = {}, timeoutMs = 90_000, cwd?: string): Promise<RunningWorker> {
  const port = await freePort();
  const inspectorPort = await freePort();
  const args = [require.resolve("wrangler/bin/wrangler.js"), "dev", "--ip", "127.0.0.1", "--port", String(port),
    "--inspector-port", String(inspectorPort), "--show-interactive-dev-session=false"];
  for (const [k, v] of Object.entries(vars)) args.push("--var", `${k}:${v}`);
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", CI: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d) => { out += d; });
  child.stderr!.on("data", (d) => { out += d; });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (child.exitCode === null) child.kill("SIGKILL");
  };
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited with ${child.exitCode}:\n${out}`);
    try {
      const r = await fetch(`${url}/health`);
      if (r.status === 200) return { url, stop, log: () => out, pid: child.pid!, inspectorPort };
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 250));
  }
  await stop();
  throw new Error(`the Worker did not become healthy within ${timeoutMs} ms:\n${out}`);
}

/** Every descendant of a process (wrangler's workerd processes, say), read from /proc. */
export function descendants(pid: number): number[] {
  const kids = new Map<number, number[]>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      kids.set(ppid, [...(kids.get(ppid) ?? []), Number(d)]);
    } catch { /* gone */ }
  }
  const out: number[] = [];
  const walk = (p: number) => { for (const k of kids.get(p) ?? []) { out.push(k); walk(k); } };
  walk(pid);
  return out;
}

/** The TCP ports a process listens on (its sockets' inodes matched against /proc/net/tcp{,6}). */
export function listeningPorts(pid: number): number[] {
  const listening = new Map<string, number>(); // socket inode → port
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try { text = readFileSync(table, "utf8"); } catch { continue; }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && f[3] === "0A") listening.set(f[9], parseInt(f[1].split(":")[1], 16));
    }
  }
  const ports = new Set<number>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try { const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`)); if (m && listening.has(m[1])) ports.add(listening.get(m[1])!); } catch { /* closed */ }
    }
  } catch { /* gone */ }
  return [...ports];
}

/**
 * The Worker's own socket under `wrangler dev`: the workerd that runs the Worker listens on a loopback port of its
 * own, behind wrangler's local proxy (a second workerd on the port `npm start` prints). A client connected there
 * meets the Worker as a deployed one is met, with no dev proxy between (the soak's default). Found through /proc:
 * the listening TCP sockets of the wrangler child workerd that is not the proxy, the one that answers /health.
 */
export async function workerSocketUrl(worker: RunningWorker): Promise<string> {
  const proxyPort = new URL(worker.url).port;
  for (const pid of descendants(worker.pid)) {
    let cmd = "";
    try { cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8"); } catch { continue; }
    if (!cmd.includes("workerd") || !cmd.includes("serve") || cmd.includes(`entry=127.0.0.1:${proxyPort}`)) continue;
    for (const port of listeningPorts(pid)) {
      try {
        const r = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(3000) });
        if (r.status === 200 && Array.isArray(((await r.json()) as { models?: unknown }).models)) return `http://127.0.0.1:${port}`;
      } catch { /* not the Worker's socket (the inspector, the debug port) */ }
    }
  }
  throw new Error("could not find the Worker's own socket under wrangler dev (is /proc readable?)");
}
