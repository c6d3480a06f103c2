// The decoding protocol on the wire between the edge and a GPU-pool worker, version 1 (docs/pool.md, "Wire
// protocol, router and hardening"). POST <worker>/v1/decode {"version":1,"request":{…}} answers text/event-stream
// whose events carry DecodeEvents as JSON with bytes in base64; GET <worker>/health describes the worker.
// Versioned so edge and pool deploy apart.
import { compileFormat } from "../constrain/index.ts";
import { REQUEST_FIELDS } from "../contract.ts";
import { type ByteLogprob, DECODE_MODES, type DecodeEvent, type DecodeMode, type DecodeRequest, type DecodeStats } from "../protocol.ts";

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

/**
 * Most elements (program elements plus alternative starts) of a compiled constraint the wire carries; a larger one
 * travels as its response format alone (the TypeScript worker compiles that; the PyTorch worker then refuses it).
 */
export const MAX_WIRE_CONSTRAINT = 60_000;

/** A compiled constraint on the wire: the automaton's program (src/constrain/program.ts), as plain arrays. */
export interface WireConstraint { elements: number[]; sets: number[]; alts: number[][]; root: number }

/** The program of a response format for the wire, or null (no constraint, or over MAX_WIRE_CONSTRAINT). */
export function wireConstraint(responseFormat: unknown): WireConstraint | null {
  const p = responseFormat == null ? null : compileFormat(responseFormat);
  if (!p || p.elements.length + p.alts.reduce((n, a) => n + a.length, 0) > MAX_WIRE_CONSTRAINT) return null;
  return { elements: Array.from(p.elements), sets: Array.from(p.sets), alts: p.alts.map((a) => Array.from(a)), root: p.root };
}

/**
 * The request as a worker reads it. A response format travels twice: as the client sent it (`responseFormat`, at
 * most 64 KiB: the TypeScript worker compiles it with src/constrain) and compiled (`constraint`, at most
 * MAX_WIRE_CONSTRAINT elements: the PyTorch worker runs that program, scripts/pool/constrain.py).
 */
export function encodeRequest(r: DecodeRequest): string {
  const { prompt, stop, ...rest } = r;
  const constraint = wireConstraint(r.responseFormat);
  return JSON.stringify({ version: WIRE_VERSION, request: { ...rest, promptBase64: toBase64(prompt), stopBase64: stop.map(toBase64), ...(constraint ? { constraint } : {}) } });
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const count = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const amount = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v) && v >= 0;

/** A worker's stats, checked field by field and copied (nothing else a worker sends reaches a client). */
function decodeStats(o: unknown): DecodeStats | null {
  if (!isObject(o) || !isObject(o.passes) || !DECODE_MODES.includes(o.mode as DecodeMode)) return null;
  const p = o.passes;
  if (![p.entropy, p.encoder, p.global, p.decoder, o.promptBytes, o.generatedBytes, o.draftedBytes, o.acceptedBytes].every(count)) return null;
  if (![o.estBytesMoved, o.wallMs, o.prefillMs].every(amount)) return null;
  return {
    mode: o.mode as DecodeMode, promptBytes: o.promptBytes as number, generatedBytes: o.generatedBytes as number,
    passes: { entropy: p.entropy as number, encoder: p.encoder as number, global: p.global as number, decoder: p.decoder as number },
    draftedBytes: o.draftedBytes as number, acceptedBytes: o.acceptedBytes as number, estBytesMoved: o.estBytesMoved as number,
    wallMs: o.wallMs as number, prefillMs: o.prefillMs as number,
    ...(typeof o.kernels === "string" && /^[\w.-]{1,40}$/.test(o.kernels) ? { kernels: o.kernels } : {}),
  };
}

/** One byte's log-probability record from a worker, checked and copied; null when malformed. */
function decodeRecord(o: unknown): ByteLogprob | null {
  const byte = (v: unknown) => Number.isInteger(v) && (v as number) >= 0 && (v as number) < 256;
  const lp = (v: unknown) => typeof v === "number" && Number.isFinite(v) && v <= 1e-6;
  if (!isObject(o) || !byte(o.byte) || !lp(o.logprob) || !Array.isArray(o.top) || o.top.length > REQUEST_FIELDS.top_logprobs.max) return null;
  const top: ByteLogprob["top"] = [];
  for (const t of o.top) {
    if (!isObject(t) || !byte(t.byte) || !lp(t.logprob)) return null;
    top.push({ byte: t.byte as number, logprob: t.logprob as number });
  }
  return { byte: o.byte as number, logprob: o.logprob as number, top };
}

/** A bytes event's records: one per byte (`logprobs`), or the prompt's (`promptLogprobs`, nulls allowed). */
function decodeRecords(v: unknown, length: number | null): (ByteLogprob | null)[] | null {
  if (!Array.isArray(v) || (length !== null && v.length !== length) || v.length > 1 << 20) return null;
  const out: (ByteLogprob | null)[] = [];
  for (const x of v) {
    if (x === null && length === null) { out.push(null); continue; }
    const r = decodeRecord(x);
    if (!r) return null;
    out.push(r);
  }
  return out;
}

/**
 * One SSE event's data as a DecodeEvent, checked strictly: the version, the type, and every field's type (stats
 * field by field). Throws on anything malformed or of another version; a worker's error code and message are
 * kept for logs, and the caller decides what a client sees.
 */
export function decodeEvent(data: string): DecodeEvent {
  let o: unknown;
  try { o = JSON.parse(data); } catch { throw new Error("a pool event that is not JSON"); }
  if (!isObject(o)) throw new Error("a pool event that is not a JSON object");
  if (o.version !== WIRE_VERSION) throw new Error(`pool worker speaks wire version ${JSON.stringify(o.version)?.slice(0, 20)}, not ${WIRE_VERSION}`);
  switch (o.type) {
    case "bytes":
      if (typeof o.bytesBase64 !== "string") break;
      try {
        const e: DecodeEvent & { type: "bytes" } = { type: "bytes", bytes: fromBase64(o.bytesBase64) };
        if (o.logprobs !== undefined) {
          const r = decodeRecords(o.logprobs, e.bytes.length);
          if (!r) break;
          e.logprobs = r as ByteLogprob[];
        }
        if (o.promptLogprobs !== undefined) {
          const r = decodeRecords(o.promptLogprobs, null);
          if (!r) break;
          e.promptLogprobs = r;
        }
        return e;
      } catch { break; }
    case "done": {
      const stats = decodeStats(o.stats);
      if ((o.finishReason !== "stop" && o.finishReason !== "length") || !stats) break;
      return { type: "done", finishReason: o.finishReason, stats };
    }
    case "error":
      if (typeof o.code !== "string" || typeof o.message !== "string") break;
      return { type: "error", code: o.code.slice(0, 64), message: o.message.slice(0, 500) };
  }
  throw new Error(`malformed pool event of type ${JSON.stringify(o.type)?.slice(0, 20)}`);
}

/** A worker's /health answer, checked; null unless it is well-formed, of this version and "ok". */
export function decodeHealth(o: unknown): WorkerHealth | null {
  if (!isObject(o) || o.version !== WIRE_VERSION || o.status !== "ok" || !count(o.busy) || !count(o.capacity)) return null;
  const names = (v: unknown) => Array.isArray(v) && v.length <= 64 && v.every((x) => typeof x === "string" && x.length <= 128);
  if (!names(o.models) || !names(o.modes)) return null;
  const modes = (o.modes as string[]).filter((m) => DECODE_MODES.includes(m as DecodeMode));
  return { version: WIRE_VERSION, status: "ok", models: [...(o.models as string[])], modes, busy: o.busy, capacity: o.capacity };
}

export { sseData } from "./sse.ts";
