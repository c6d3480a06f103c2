// Structured output in the engine (src/engine/decode/guide.ts): every mode follows the response format's
// automaton; greedy BLT-S and BLT-DV still equal greedy AR byte for byte under it; BLT-D commits only what the
// automaton accepts; an output that cannot finish within max_tokens ends "length".
import { beforeAll, describe, expect, it } from "vitest";
import { compileFormat, Matcher } from "../../src/constrain/index.ts";
import type { Engine } from "../../src/engine/engine.ts";
import type { DecodeMode, DecodeRequest } from "../../src/protocol.ts";
import { collect, nodeEngine, request } from "../support/engine.ts";
import { TINY, V2 } from "../support/node-files.ts";

const schema = (s: unknown) => ({ type: "json_schema", json_schema: { name: "t", schema: s, strict: true } });
const FORMATS: [string, unknown][] = [
  ["person", schema({ type: "object", properties: { name: { type: "string", maxLength: 24 }, age: { type: "integer" }, ok: { type: "boolean" } }, required: ["name", "age", "ok"], additionalProperties: false })],
  ["nested", schema({
    type: "object", additionalProperties: false, required: ["title", "items"],
    properties: { title: { type: "string", maxLength: 16 }, items: { type: "array", maxItems: 3, items: { $ref: "#/$defs/item" } } },
    $defs: { item: { type: "object", properties: { kind: { enum: ["book", "film", "song"] }, year: { anyOf: [{ type: "integer" }, { type: "null" }] } }, required: ["kind", "year"], additionalProperties: false } },
  })],
  ["label", schema({ enum: ["positive", "negative", "neutral"] })],
  ["regex", { type: "regex", regex: "(yes|no), because [a-z ]{5,30}\\." }],
  ["grammar", { type: "grammar", grammar: 'root ::= "The answer is " num "."\nnum ::= [1-9] [0-9]{0,3}' }],
];
const PROMPTS = ["User: Describe a person as JSON.\nAssistant: ", "The quick brown fox ", "Q: Is the sky blue?\nA: "];

const run = (e: Engine, prompt: string, mode: DecodeMode, rf: unknown, over: Partial<DecodeRequest> = {}) =>
  collect(e.decode({ ...request(prompt, { mode, maxNewBytes: 120, knobs: { threshold: 0.3 } }), responseFormat: rf, ...over } as DecodeRequest));

describe.each([V2, TINY])("constrained decoding (%s)", (dir) => {
  let engine: Engine;
  beforeAll(async () => { engine = await nodeEngine(dir); });

  it("greedy blt-s and blt-dv equal greedy ar byte for byte under JSON schemas, a regex and a grammar", async () => {
    let stops = 0;
    for (const [name, rf] of FORMATS) {
      const m = new Matcher(compileFormat(rf)!);
      for (const prompt of PROMPTS) {
        const ar = await run(engine, prompt, "ar", rf);
        for (const mode of ["blt-s", "blt-dv"] as const) {
          const spec = await run(engine, prompt, mode, rf);
          expect(spec.text, `${mode} ${name} ${JSON.stringify(prompt)}`).toBe(ar.text);
          expect(spec.end).toMatchObject({ type: "done", finishReason: (ar.end as { finishReason: string }).finishReason });
        }
        if (ar.end.type === "done" && ar.end.finishReason === "stop") {
          stops++;
          expect(m.matches(ar.bytes), `${name}: ${ar.text}`).toBe(true);
          if (name !== "regex" && name !== "grammar") expect(() => JSON.parse(ar.text)).not.toThrow();
        }
      }
    }
    expect(stops).toBeGreaterThan(FORMATS.length);
  });

  it("every mode, greedy and sampled, writes only what the automaton accepts; stop means complete", async () => {
    for (const [name, rf] of FORMATS) {
      const m = new Matcher(compileFormat(rf)!);
      for (const mode of ["ar", "blt-d", "blt-s", "blt-dv"] as const) {
        for (const temperature of [0, 0.8]) {
          const r = await run(engine, PROMPTS[0], mode, rf, { sampling: { temperature, topP: 1, topK: 0, seed: 7 } });
          expect(r.end.type).toBe("done");
          let s = m.start as ReturnType<Matcher["start"]["advance"]>;
          for (const b of r.bytes) s = s && s.advance(b);
          expect(s, `${name} ${mode} T=${temperature}: ${r.text}`).not.toBeNull();
          if (r.end.type === "done" && r.end.finishReason === "stop") expect(s!.accepting, `${name} ${mode}: ${r.text}`).toBe(true);
        }
      }
    }
  });

  it("an output that cannot finish within max_tokens ends with length, and what was made", async () => {
    for (const mode of ["ar", "blt-d", "blt-s", "blt-dv"] as const) {
      const r = await run(engine, PROMPTS[0], mode, FORMATS[1][1], { maxNewBytes: 5 });
      expect(r.end).toMatchObject({ type: "done", finishReason: "length" });
      expect(r.bytes.length).toBe(5);
      expect(r.text.startsWith("{")).toBe(true);
    }
  });
});

describe("constraint errors in the engine", () => {
  it("a malformed or too large format is an error event naming response_format, before any work", async () => {
    const engine = await nodeEngine(TINY);
    const bad = await run(engine, "x", "ar", schema({ type: "string", format: "uri" }));
    expect(bad.end).toMatchObject({ type: "error", code: "invalid_request", param: "response_format" });
    const big = await run(engine, "x", "ar", { type: "regex", regex: "a{20000}" });
    expect(big.end).toMatchObject({ type: "error", code: "constraint_too_large" });
  });
});
