// The Web Worker that hosts the browser engine, so that loading (sha256 of 8 MB, copying the weights) and
// decoding never block the page. It loads one model when asked and streams each decode's events back.
import type { LocalBackend } from "../backends/local.ts";
import { loadBrowserEngine } from "./browser-engine.ts";
import type { FromEngine, ToEngine } from "./engine-messages.ts";

/**
 * The engine yields between blocks with setTimeout(0). Browsers clamp nested zero-delay timeouts to ≥ 4 ms
 * (HTML: nesting level > 5), which cost this worker 40–70% of its decode speed (measured in chromium). Here,
 * and only in this worker's global, a zero-delay timeout runs as a MessageChannel task instead: still a trip
 * through the event loop, so an abort message is seen between blocks, but without the clamp.
 */
function unclampZeroTimeouts(): void {
  const native = globalThis.setTimeout;
  const channel = new MessageChannel();
  const due: (() => void)[] = [];
  channel.port1.onmessage = () => due.shift()?.();
  const fast = (fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    if (ms || typeof fn !== "function") return native(fn, ms, ...args);
    due.push(() => fn(...args));
    channel.port2.postMessage(null);
    return 0;
  };
  globalThis.setTimeout = fast as typeof globalThis.setTimeout;
}
unclampZeroTimeouts();

const scope = self as unknown as {
  postMessage(m: FromEngine): void;
  onmessage: ((e: MessageEvent<ToEngine>) => void) | null;
};
const post = (m: FromEngine) => scope.postMessage(m);

let backend: LocalBackend | undefined;
const running = new Map<number, AbortController>();

async function load(m: Extract<ToEngine, { type: "load" }>): Promise<void> {
  try {
    const r = await loadBrowserEngine(m.options, (progress) => post({ type: "progress", progress }));
    backend = r.backend;
    post({ type: "loaded", info: r.info });
  } catch (e) {
    post({ type: "load-error", message: e instanceof Error ? e.message : String(e) });
  }
}

async function decode(m: Extract<ToEngine, { type: "decode" }>): Promise<void> {
  const abort = new AbortController();
  running.set(m.id, abort);
  try {
    if (!backend) throw new Error("the model is not loaded");
    for await (const event of backend.decode(m.request, abort.signal)) post({ type: "event", id: m.id, event });
  } catch (e) {
    post({ type: "event", id: m.id, event: { type: "error", code: "engine_failed", message: e instanceof Error ? e.message : String(e) } });
  } finally {
    running.delete(m.id);
  }
}

scope.onmessage = (e) => {
  const m = e.data;
  if (m.type === "load") void load(m);
  else if (m.type === "decode") void decode(m);
  else running.get(m.id)?.abort();
};
