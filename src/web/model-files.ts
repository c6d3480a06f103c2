// Fetches a model's files for the browser engine: manifest.json from the network (revalidated each visit; the
// cached copy when offline), the int8 weights from the Cache API when a copy with the manifest's sha256 is
// there, else from the network with progress, then stored for the next visit. Verification is readCheckpoint's.
import type { Manifest } from "../checkpoint/reader.ts";

export const CACHE_NAME = "bltedge-models-v1";
export const WEIGHTS = "model.q8.safetensors";

export interface FileProgress {
  file: string;
  loaded: number;
  total: number;
  fromCache: boolean;
}

export interface ModelFiles {
  files: Record<string, Uint8Array>;
  /** The weights came from the Cache API (no download). */
  fromCache: boolean;
  /** Drops the cached weights, e.g. when they fail verification. */
  evict(): Promise<void>;
}

async function openCache(): Promise<Cache | null> {
  try {
    return typeof caches === "undefined" ? null : await caches.open(CACHE_NAME);
  } catch {
    return null; // an opaque origin or storage disabled: load from the network every time
  }
}

/** Reads a response body into one buffer, reporting progress about every 1%. */
async function readBody(res: Response, total: number, report: (loaded: number) => void): Promise<Uint8Array> {
  if (!res.body) return new Uint8Array(await res.arrayBuffer());
  const out = new Uint8Array(total);
  const parts: Uint8Array[] = [];
  let loaded = 0, reported = -1;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (loaded + value.length <= total) out.set(value, loaded);
    parts.push(value);
    loaded += value.length;
    if (loaded - reported >= total / 100) { report(loaded); reported = loaded; }
  }
  report(loaded);
  if (loaded === total) return out;
  // a size other than the manifest's: hand back what arrived, and readCheckpoint names the mismatch
  const all = new Uint8Array(loaded);
  let o = 0;
  for (const p of parts) { all.set(p, o); o += p.length; }
  return all;
}

async function get(url: string, init?: RequestInit): Promise<Response> {
  const res = await fetch(url, init);
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return res;
}

/** `base` is the model's URL directory, e.g. "https://host/models/blt-d-small". */
export async function fetchModelFiles(base: string, onProgress: (p: FileProgress) => void): Promise<ModelFiles> {
  const cache = await openCache();
  const manifestUrl = `${base}/manifest.json`;
  let manifestBytes: Uint8Array;
  try {
    manifestBytes = new Uint8Array(await (await get(manifestUrl, { cache: "no-cache" })).arrayBuffer());
    await cache?.put(manifestUrl, new Response(manifestBytes as Uint8Array<ArrayBuffer>, { headers: { "content-type": "application/json" } }));
  } catch (e) {
    const cached = await cache?.match(manifestUrl);
    if (!cached) throw e;
    manifestBytes = new Uint8Array(await cached.arrayBuffer());
  }
  let manifest: Manifest;
  try {
    manifest = JSON.parse(new TextDecoder().decode(manifestBytes));
  } catch (e) {
    throw new Error(`${manifestUrl} is not valid JSON (${(e as Error).message})`);
  }
  const entry = manifest.files?.[WEIGHTS];
  if (!entry) throw new Error(`${manifestUrl} lists no ${WEIGHTS}`);

  // the weights' cache key names their content, so a new export is never served from an old copy
  const weightsUrl = `${base}/${WEIGHTS}?sha256=${entry.sha256}`;
  const report = (fromCache: boolean) => (loaded: number) => onProgress({ file: WEIGHTS, loaded, total: entry.bytes, fromCache });
  let weights: Uint8Array | undefined;
  const hit = await cache?.match(weightsUrl);
  if (hit) {
    try { weights = await readBody(hit, entry.bytes, report(true)); } catch { weights = undefined; }
  }
  const fromCache = weights !== undefined && weights.length === entry.bytes;
  if (!fromCache) {
    weights = await readBody(await get(weightsUrl), entry.bytes, report(false));
    if (cache && weights.length === entry.bytes) {
      for (const k of await cache.keys()) if (k.url.startsWith(`${base}/${WEIGHTS}?`)) await cache.delete(k); // older exports
      await cache.put(weightsUrl, new Response(weights as Uint8Array<ArrayBuffer>, {
        headers: { "content-type": "application/octet-stream", "content-length": String(weights.length) } })).catch(() => {});
    }
  }
  return {
    files: { "manifest.json": manifestBytes, [WEIGHTS]: weights! },
    fromCache,
    evict: async () => { await cache?.delete(weightsUrl); },
  };
}
