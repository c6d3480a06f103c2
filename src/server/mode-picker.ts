// mode "auto" (the API default): per request, the lossless mode (AR, BLT-S, BLT-DV: their output is AR's, greedy
// byte for byte, sampled in distribution) with the best decoding bytes/s for that kind of request — greedy or
// sampled, on this model and backend — from what this isolate measured, else from a calibrated table.
import type { DecodeMode, DecodeStats } from "../protocol.ts";

export const LOSSLESS_MODES: readonly DecodeMode[] = ["ar", "blt-s", "blt-dv"];

/** Relative decoding speed (AR = 1) per kind of request. */
export type ModeTable = Record<"greedy" | "sampled", Partial<Record<DecodeMode, number>>>;

/**
 * Measured on the default model, blt-v2 (docs/bench.md; medians of same-round ratios against AR): greedy, in workerd on
 * the relaxed-SIMD kernels the Worker runs, BLT-S k = 8 1.03×, BLT-DV 0.76× (on SIMD128 0.96× and 0.62×, in Node f32
 * 1.01× and 0.73×); sampled (T = 0.8, int8, an earlier run) BLT-S k = 8 0.87×, BLT-DV 0.36×. So BLT-S leads greedy
 * requests and AR sampled ones until the isolate measures otherwise. One table for every model and backend: it only
 * orders the modes until they are measured.
 */
export const CALIBRATED: ModeTable = {
  greedy: { ar: 1, "blt-s": 1.03, "blt-dv": 0.76 },
  sampled: { ar: 1, "blt-s": 0.87, "blt-dv": 0.36 },
};

/** Samples a mode needs before its measurement replaces the table; every EXPLORE-th request tries the least measured. */
const MIN_SAMPLES = 3;
const EXPLORE = 16;

interface Track { bytesPerS: number; samples: number }

export class ModePicker {
  private readonly tracks = new Map<string, { requests: number; modes: Map<DecodeMode, Track> }>();

  constructor(private readonly table: ModeTable = CALIBRATED) {}

  /** The mode for a request on `model` served by `backend`; greedy = temperature 0. */
  choose(backend: string, model: string, greedy: boolean): DecodeMode {
    const kind = greedy ? "greedy" : "sampled", t = this.track(backend, model, kind);
    t.requests++;
    const samples = (m: DecodeMode) => t.modes.get(m)?.samples ?? 0;
    const measured = LOSSLESS_MODES.every((m) => samples(m) >= MIN_SAMPLES);
    if (t.requests % EXPLORE === 0 || (!measured && t.requests % 4 === 0)) {
      // keep the measurements current: the least measured mode (all are lossless, only speed differs)
      return LOSSLESS_MODES.reduce((a, b) => (samples(b) < samples(a) ? b : a));
    }
    const score = (m: DecodeMode) => (measured ? t.modes.get(m)!.bytesPerS : this.table[kind][m] ?? 0);
    return LOSSLESS_MODES.reduce((a, b) => (score(b) > score(a) ? b : a));
  }

  /** Records a finished request's decoding speed (bytes after the prompt, per second of decoding). */
  record(backend: string, model: string, greedy: boolean, stats: DecodeStats): void {
    const ms = stats.wallMs - stats.prefillMs;
    if (!LOSSLESS_MODES.includes(stats.mode) || stats.generatedBytes < 16 || !(ms > 0)) return;
    const t = this.track(backend, model, greedy ? "greedy" : "sampled");
    const speed = stats.generatedBytes / (ms / 1000), old = t.modes.get(stats.mode);
    if (!old) t.modes.set(stats.mode, { bytesPerS: speed, samples: 1 });
    else { old.bytesPerS += (speed - old.bytesPerS) * 0.25; old.samples++; }
  }

  /** What was measured, for /health: bytes/s and samples per backend/model/kind and mode. */
  snapshot(): Record<string, Record<string, { bytesPerS: number; samples: number }>> {
    const out: Record<string, Record<string, { bytesPerS: number; samples: number }>> = {};
    for (const [key, t] of this.tracks) out[key] = Object.fromEntries([...t.modes].map(([m, v]) => [m, { bytesPerS: Math.round(v.bytesPerS), samples: v.samples }]));
    return out;
  }

  private track(backend: string, model: string, kind: string) {
    const key = `${backend}/${model}/${kind}`;
    let t = this.tracks.get(key);
    if (!t) this.tracks.set(key, (t = { requests: 0, modes: new Map() }));
    return t;
  }
}
