// `npm run bench -- --constrained`: greedy decoding speed of the default model with and without a response format (a
// JSON schema), AR then BLT-S and BLT-D, on held-out prompts, interleaved repeat by repeat (docs/bench.md,
// "Structured output").
// The constrained output is the same model under the automaton's masks (src/engine/decode/guide.ts): the figure is
// bytes generated over the time after the prompt was read, so outputs of different lengths compare per byte.
import type { Engine } from "../../src/engine/engine.ts";
import type { DecodeMode, DecodeRequest } from "../../src/protocol.ts";
import { median, request, type Case } from "./decode-cases.ts";

export const BENCH_SCHEMA = {
  type: "json_schema",
  json_schema: {
    name: "article", strict: true,
    schema: {
      type: "object", additionalProperties: false, required: ["title", "year", "tags", "paragraphs"],
      properties: {
        title: { type: "string", maxLength: 80 }, year: { type: "integer" },
        tags: { type: "array", items: { type: "string", maxLength: 16 }, maxItems: 4 },
        paragraphs: { type: "array", items: { type: "string", maxLength: 400 }, maxItems: 6 },
      },
    },
  },
};

export interface ConstrainedRow {
  label: string; bytesPerSec: number; bytesPerSecByRepeat: number[]; bytes: number; decoderPassesPerByte: number;
  /** Global-model passes per byte: one per patch, so text of shorter patches (JSON's punctuation) costs more of them. */
  globalPassesPerByte: number;
}

/** Greedy AR (the acceptance pair), then BLT-S and BLT-D (B = 8, α = 0.9), each free and under the schema. */
const VARIANTS: [string, DecodeMode, unknown][] = [
  ["ar greedy", "ar", undefined], ["ar greedy + json_schema", "ar", BENCH_SCHEMA],
  ["blt-s greedy", "blt-s", undefined], ["blt-s greedy + json_schema", "blt-s", BENCH_SCHEMA],
  ["blt-d greedy", "blt-d", undefined], ["blt-d greedy + json_schema", "blt-d", BENCH_SCHEMA],
];

export async function benchConstrained(engine: Engine, cases: Case[], nBytes: number, repeats: number, log: (s: string) => void): Promise<ConstrainedRow[]> {
  const perRep: number[][] = VARIANTS.map(() => []);
  const bytes: number[] = VARIANTS.map(() => 0), passes: number[] = VARIANTS.map(() => 0), globals: number[] = VARIANTS.map(() => 0);
  // one round unrecorded (the JIT and the caches warm up), then the rounds, each pair's order alternating
  for (let rep = -1; rep < repeats; rep++) {
    const order = [...VARIANTS.keys()].map((v) => (rep % 2 === 0 ? v : v ^ 1));
    for (const v of order) {
      const [, mode, rf] = VARIANTS[v];
      let n = 0, ms = 0, dec = 0, glob = 0;
      for (const c of cases) {
        const r: DecodeRequest = { ...request({ mode, blockSize: 8, threshold: 0.9, steps: null, draft: 8, temperature: 0 }, c.prompt, nBytes, 1), responseFormat: rf };
        for await (const e of engine.decode(r)) {
          if (e.type === "bytes") n += e.bytes.length;
          else if (e.type === "done") { ms += e.stats.wallMs - e.stats.prefillMs; dec += e.stats.passes.decoder; glob += e.stats.passes.global; }
          else throw new Error(`${e.code}: ${e.message}`);
        }
      }
      if (rep < 0) continue;
      perRep[v].push(n / (ms / 1000));
      bytes[v] = n;
      passes[v] = dec / Math.max(1, n);
      globals[v] = glob / Math.max(1, n);
    }
  }
  const rows = VARIANTS.map(([label], v) => ({ label, bytesPerSec: Math.round(median(perRep[v]) * 10) / 10, bytesPerSecByRepeat: perRep[v].map((x) => Math.round(x * 10) / 10),
    bytes: bytes[v], decoderPassesPerByte: Math.round(passes[v] * 1000) / 1000, globalPassesPerByte: Math.round(globals[v] * 1000) / 1000 }));
  for (const r of rows) log(`${r.label.padEnd(28)} ${r.bytesPerSec.toFixed(1).padStart(8)} bytes/s, ${r.decoderPassesPerByte.toFixed(3)} decoder and ${r.globalPassesPerByte.toFixed(3)} global passes/byte (repeats ${r.bytesPerSecByRepeat.join(", ")}; ${r.bytes} bytes a repeat)`);
  // the ratio of medians, and the median of each round's ratio (the two runs of a round share the machine's state)
  for (let v = 0; v < rows.length; v += 2) {
    const paired = median(perRep[v + 1].map((x, i) => x / perRep[v][i]));
    log(`${VARIANTS[v][1]}: constrained / unconstrained ${(rows[v + 1].bytesPerSec / rows[v].bytesPerSec).toFixed(3)} (median of the rounds' ratios ${paired.toFixed(3)})`);
  }
  return rows;
}
