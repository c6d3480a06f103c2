// `npm run bench -- --constrained`: greedy AR decoding speed of the default model with and without a response
// format (a JSON schema), on held-out prompts, interleaved repeat by repeat (docs/bench.md, "Structured output").
// The constrained output is the same model under the automaton's masks (src/engine/decode/guide.ts): the figure is
// bytes generated over the time after the prompt was read, so outputs of different lengths compare per byte.
import type { Engine } from "../../src/engine/engine.ts";
import type { DecodeRequest } from "../../src/protocol.ts";
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

export interface ConstrainedRow { label: string; bytesPerSec: number; bytesPerSecByRepeat: number[]; bytes: number }

export async function benchConstrained(engine: Engine, cases: Case[], nBytes: number, repeats: number, log: (s: string) => void): Promise<ConstrainedRow[]> {
  const variants: [string, unknown][] = [["ar greedy", undefined], ["ar greedy + json_schema", BENCH_SCHEMA]];
  const perRep: number[][] = variants.map(() => []);
  const bytes: number[] = variants.map(() => 0);
  for (let rep = 0; rep < repeats; rep++) {
    for (const [v, [, rf]] of variants.entries()) {
      let n = 0, ms = 0;
      for (const c of cases) {
        const r: DecodeRequest = { ...request({ mode: "ar", blockSize: null, threshold: null, steps: null, draft: null, temperature: 0 }, c.prompt, nBytes, 1), responseFormat: rf };
        for await (const e of engine.decode(r)) {
          if (e.type === "bytes") n += e.bytes.length;
          else if (e.type === "done") ms += e.stats.wallMs - e.stats.prefillMs;
          else throw new Error(`${e.code}: ${e.message}`);
        }
      }
      perRep[v].push(n / (ms / 1000));
      bytes[v] = n;
    }
  }
  const rows = variants.map(([label], v) => ({ label, bytesPerSec: Math.round(median(perRep[v]) * 10) / 10, bytesPerSecByRepeat: perRep[v].map((x) => Math.round(x * 10) / 10), bytes: bytes[v] }));
  for (const r of rows) log(`${r.label.padEnd(26)} ${r.bytesPerSec.toFixed(1).padStart(8)} bytes/s (repeats ${r.bytesPerSecByRepeat.join(", ")}; ${r.bytes} bytes a repeat)`);
  log(`constrained / unconstrained: ${(rows[1].bytesPerSec / rows[0].bytesPerSec).toFixed(3)}`);
  return rows;
}
