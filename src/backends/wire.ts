// The decoding protocol on the wire between the edge and a GPU-pool worker, version 1 (README, "GPU pool").
// POST <worker>/v1/decode {"version":1,"request":{…}} answers text/event-stream whose events carry DecodeEvents
// as JSON with bytes in base64; GET <worker>/health describes the worker. Versioned so edge and pool deploy apart.
import type { DecodeEvent, DecodeRequest, DecodeStats } from "../protocol.ts";

export const WIRE_VERSION = 1;

export interface WorkerHealth {
  version: number;
  status: string;
  models: string[];
  modes: string[];
  busy: number;
  capacity: number;
  device?: string;
}

export function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export function fromBase64(b64: string): Uint8Array {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

export function encodeRequest(r: DecodeRequest): string {
  const { prompt, stop, ...rest } = r;
  return JSON.stringify({ version: WIRE_VERSION, request: { ...rest, promptBase64: toBase64(prompt), stopBase64: stop.map(toBase64) } });
}

/** One SSE event's data as a DecodeEvent; throws on anything malformed or of another version. */
export function decodeEvent(data: string): DecodeEvent {
  const o = JSON.parse(data) as Record<string, unknown>;
  if (o.version !== WIRE_VERSION) throw new Error(`pool worker speaks wire version ${JSON.stringify(o.version)}, not ${WIRE_VERSION}`);
  switch (o.type) {
    case "bytes":
      if (typeof o.bytesBase64 !== "string") break;
      return { type: "bytes", bytes: fromBase64(o.bytesBase64) };
    case "done":
      if (o.finishReason !== "stop" && o.finishReason !== "length") break;
      return { type: "done", finishReason: o.finishReason, stats: o.stats as DecodeStats };
    case "error":
      return { type: "error", code: String(o.code), message: String(o.message), ...(typeof o.param === "string" ? { param: o.param } : {}) };
  }
  throw new Error(`malformed pool event: ${data.slice(0, 200)}`);
}

/** Splits an SSE byte stream into the `data` of each event (multi-line data joined by newlines). */
export async function* sseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const reader = body.getReader();
  const text = new TextDecoder();
  let buf = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += text.decode(value, { stream: true }).replaceAll("\r\n", "\n");
      let cut: number;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, ""));
        if (data.length) yield data.join("\n");
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}
