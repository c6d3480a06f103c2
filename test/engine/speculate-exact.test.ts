// The speculative-sampling rule, exactly, on the real model (blt-v2): a drafted byte d is accepted with probability
// min(1, p(d)/q(d)), p the distribution AR samples from at that position (logged by teacher forcing, temperature,
// top-k and top-p applied) and q the draft's distribution; at the first rejection the byte is drawn from
// norm(max(0, p − q)). The request's PRNG is replaced by a script, so each uniform draw u sits just below or just
// above min(1, p(d)/q(d)): acceptance is exactly u < min(1, p(d)/q(d)), whatever the logits.
import { beforeAll, describe, expect, it } from "vitest";
import type { Engine } from "../../src/engine/engine.ts";
import { ModeScratch, type ModeContext } from "../../src/engine/decode/context.ts";
import { argmax, Sampler } from "../../src/engine/decode/sampler.ts";
import { Sequence } from "../../src/engine/decode/sequence.ts";
import { verifyAndAccept } from "../../src/engine/decode/speculate.ts";
import { WorkBudget } from "../../src/engine/decode/work-budget.ts";
import type { Sampling } from "../../src/protocol.ts";
import { nodeEngine } from "../support/engine.ts";
import { V2 } from "../support/node-files.ts";

const PROMPT = "The quick brown fox ";
const DRAFT = [...new TextEncoder().encode("jumps ")];
const K = DRAFT.length;

interface Setup { c: ModeContext; n0: number; p: Float32Array[]; draws: number[] }

/** A context at the end of the prompt, and AR's distribution p_i for each draft position (teacher-forced). */
async function setup(engine: Engine, sampling: Omit<Sampling, "seed">): Promise<Setup> {
  const seq = new Sequence(engine.model);
  await seq.prefill(new TextEncoder().encode(PROMPT));
  const n0 = seq.n;
  const sampler = new Sampler({ ...sampling, seed: 1 });
  const p: Float32Array[] = [sampler.distribution(seq.nextLogits, new Float32Array(256))];
  await seq.appendClean(DRAFT.slice(0, K - 1));
  for (let i = 1; i < K; i++) p.push(sampler.distribution(seq.logitsOf(n0 + i - 1), new Float32Array(256)));
  seq.truncate(n0);
  const draws: number[] = [];
  const c: ModeContext = { seq, sampler, knobs: { blockSize: 8, threshold: 0.9, entropyBound: null, maxStepsPerBlock: 8, draftLength: K },
    scratch: new ModeScratch(), budget: () => 64, work: new WorkBudget(64), counters: { draftedBytes: 0, acceptedBytes: 0 } };
  sampler.rng.next = () => { if (draws.length === 0) throw new Error("the script ran out: an unexpected draw"); return draws.shift()!; };
  for (let i = 0; i < K; i++) c.scratch.ids[i] = DRAFT[i];
  return { c, n0, p, draws };
}

/** Sets the draft distributions q_i (K × 256, float32 as the modes store them) from a function of p_i and d_i. */
function setDrafts(s: Setup, q: (p: Float32Array, d: number) => Float64Array) {
  for (let i = 0; i < K; i++) s.c.scratch.drafts.set(q(s.p[i], DRAFT[i]), i * 256);
}
const ratio = (s: Setup, i: number) => s.p[i][DRAFT[i]] / s.c.scratch.drafts[i * 256 + DRAFT[i]];

/** The draft leans towards its own byte: q = (p + onehot(d)) / 2, so q(d) > p(d) and min(1, p/q) < 1. */
const leaning = (p: Float32Array, d: number) => { const q = Float64Array.from(p, (v) => v / 2); q[d] += 0.5; return q; };

/** The residual norm(max(0, p − q)) and the uniform draw that lands in the middle of byte b's interval (byte order). */
function residualDraw(p: Float32Array, q: Float32Array, b: number): number {
  const r = Array.from(p, (v, i) => Math.max(0, v - q[i]));
  const z = r.reduce((a, v) => a + v, 0);
  let below = 0;
  for (let v = 0; v < b; v++) below += r[v];
  expect(r[b]).toBeGreaterThan(0);
  return (below + r[b] / 2) / z;
}

describe("speculative sampling's acceptance rule (blt-v2, logged p and q)", () => {
  let engine: Engine;
  beforeAll(async () => { engine = await nodeEngine(V2, 512); });

  for (const sampling of [{ temperature: 1, topK: 0, topP: 1 }, { temperature: 0.8, topK: 40, topP: 0.95 }]) {
    const name = `T ${sampling.temperature}, top-k ${sampling.topK}, top-p ${sampling.topP}`;

    it(`${name}: u just below min(1, p/q) accepts, just above rejects, and the replacement is drawn from norm(max(0, p − q))`, async () => {
      for (const reject of [1, 3, K - 1]) {
        const s = await setup(engine, sampling);
        setDrafts(s, leaning);
        // BLT-S / BLT-DV: byte 0 is exact (no draw); bytes 1..reject−1 accepted, byte `reject` rejected
        for (let i = 1; i < reject; i++) s.draws.push(Math.min(1, ratio(s, i)) * (1 - 1e-6));
        const r = ratio(s, reject);
        expect(r).toBeLessThan(1);
        s.draws.push(r * (1 + 1e-6));
        // the replacement: the most likely byte of the residual (every byte but d, in p's proportions)
        const q = s.c.scratch.drafts.subarray(reject * 256, (reject + 1) * 256);
        const res = Array.from(s.p[reject], (v, b) => Math.max(0, v - q[b]));
        const fix = argmax(res);
        expect(fix).not.toBe(DRAFT[reject]);
        s.draws.push(residualDraw(s.p[reject], q, fix));
        const out = await verifyAndAccept(s.c, K, true);
        expect([...out], `rejected at ${reject}`).toEqual([...DRAFT.slice(0, reject), fix]);
        expect(s.c.counters.acceptedBytes).toBe(reject - 1);
        expect(s.c.seq.n).toBe(s.n0 + reject + 1);
        expect(s.draws).toEqual([]);
      }
    });

    it(`${name}: every draft accepted when each u is just below min(1, p/q): the draft's bytes, no extra draw`, async () => {
      const s = await setup(engine, sampling);
      setDrafts(s, leaning);
      for (let i = 1; i < K; i++) s.draws.push(Math.min(1, ratio(s, i)) * (1 - 1e-6));
      const out = await verifyAndAccept(s.c, K, true);
      expect([...out]).toEqual(DRAFT);
      expect(s.c.counters.acceptedBytes).toBe(K - 1);
      expect(s.c.seq.n).toBe(s.n0 + K);
      expect(s.draws).toEqual([]);
    });

    it(`${name}: where q(d) ≤ p(d) the byte is always accepted (even u → 1); byte 0 is checked too when it is not exact`, async () => {
      const s = await setup(engine, sampling);
      // q = p with the draft byte's mass halved: p(d)/q(d) ≥ 1
      setDrafts(s, (p, d) => { const q = Float64Array.from(p); q[d] /= 2; return q; });
      // byte 0 goes through the rule too, unless top-k / top-p cut it from AR's distribution (then it is given)
      const from = s.p[0][DRAFT[0]] > 0 ? 0 : 1;
      for (let i = from; i < K; i++) { expect(ratio(s, i)).toBeGreaterThanOrEqual(1); s.draws.push(1 - 1e-12); }
      const out = await verifyAndAccept(s.c, K, from === 1);
      expect([...out]).toEqual(DRAFT);
      expect(s.c.counters.acceptedBytes).toBe(K - from);
      expect(s.draws).toEqual([]);
    });
  }

  it("greedy: a draft byte is accepted exactly when it is the argmax, and the argmax replaces the first that is not", async () => {
    const s = await setup(engine, { temperature: 0, topK: 0, topP: 1 });
    const top = s.p.map((p) => argmax(p));
    const firstWrong = DRAFT.findIndex((d, i) => i > 0 && d !== top[i]);
    expect(firstWrong).toBeGreaterThan(0);
    const out = await verifyAndAccept(s.c, K, true);
    expect([...out]).toEqual([...DRAFT.slice(0, firstWrong), top[firstWrong]]);
    expect(s.c.counters.acceptedBytes).toBe(firstWrong - 1);
  });
});
