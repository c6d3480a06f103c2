// The TypeScript engine's greedy bytes for a list of cases, for the PyTorch-vs-TypeScript checks of the pool
// worker (test/python/test_pool_worker.py, scripts/device-check.sh). Reads a JSON array of
// {model (a directory), mode, prompt, maxNewBytes, knobs?, responseFormat?, logprobs?, promptLogprobs?} on stdin;
// prints one JSON array of {bytes (base64), passes (per component), and with a response format its wire program
// (`constraint`, as the edge sends it) and finishReason, with logprobs the records (`logprobs`, `promptLogprobs`)}.
//   echo '[{"model":"models/blt-d-tiny","mode":"ar","prompt":"Hi","maxNewBytes":16}]' | npx tsx test/support/ts-greedy.ts
import { text } from "node:stream/consumers";
import { loadNodeEngine } from "../../src/cli/node-engine.ts";
import { wireConstraint } from "../../src/backends/wire.ts";
import type { ByteLogprob, DecodeMode, DecodeRequest, DecodeStats, ModeKnobs } from "../../src/protocol.ts";

interface Case {
  model: string; mode: DecodeMode; prompt: string; maxNewBytes: number; knobs?: Partial<ModeKnobs>;
  responseFormat?: unknown; logprobs?: number; promptLogprobs?: boolean;
}

const cases = JSON.parse(await text(process.stdin)) as Case[];
const engines = new Map<string, Awaited<ReturnType<typeof loadNodeEngine>>["engine"]>();
const out: object[] = [];
for (const c of cases) {
  if (!engines.has(c.model)) engines.set(c.model, (await loadNodeEngine(c.model)).engine);
  const request: DecodeRequest = {
    model: c.model, prompt: new TextEncoder().encode(c.prompt), maxNewBytes: c.maxNewBytes, mode: c.mode,
    sampling: { temperature: 0, topP: 1, topK: 0, seed: 1 },
    knobs: { blockSize: 8, threshold: c.mode === "blt-dv" ? 0.3 : 0.9, entropyBound: null, maxStepsPerBlock: 8, draftLength: 8, ...c.knobs },
    stop: [], responseFormat: c.responseFormat, logprobs: c.logprobs, promptLogprobs: c.promptLogprobs,
  };
  const chunks: Uint8Array[] = [], records: ByteLogprob[] = [], prompt: (ByteLogprob | null)[] = [];
  for await (const e of engines.get(c.model)!.decode(request)) {
    if (e.type === "bytes") { chunks.push(e.bytes); records.push(...(e.logprobs ?? [])); prompt.push(...(e.promptLogprobs ?? [])); }
    else if (e.type === "error") throw new Error(`${e.code}: ${e.message}`);
    else {
      out.push({
        bytes: Buffer.concat(chunks).toString("base64"), passes: e.stats.passes,
        ...(c.responseFormat ? { constraint: wireConstraint(c.responseFormat), finishReason: e.finishReason } : {}),
        ...(c.logprobs != null ? { logprobs: records } : {}), ...(c.promptLogprobs ? { promptLogprobs: prompt } : {}),
      });
    }
  }
}
console.log(JSON.stringify(out));
