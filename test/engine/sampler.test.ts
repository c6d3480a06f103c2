// The sampler on known logits: which bytes temperature, top-k and top-p keep, with what probabilities, and which
// byte a given uniform draw picks. Probabilities are powers of two so every sum is exact and the top-p boundary
// (mass ≥ top_p) is tested exactly at the boundary and one step either side.
import { describe, expect, it } from "vitest";
import { argmax, Rng, Sampler } from "../../src/engine/decode/sampler.ts";

/** Logits (natural log) giving byte → probability; every other byte has probability 0. */
function logitsOf(probs: Record<number, number>): number[] {
  const l = new Array<number>(256).fill(-Infinity);
  for (const [b, p] of Object.entries(probs)) l[Number(b)] = Math.log(p);
  return l;
}

// 65 'A' 0.5, 10 0.25, 200 0.125, 3 0.0625, 7 0.0625 (3 and 7 tie: the lower byte ranks first)
const PROBS = { 65: 0.5, 10: 0.25, 200: 0.125, 3: 0.0625, 7: 0.0625 };
const LOGITS = logitsOf(PROBS);

function dist(params: { temperature?: number; topK?: number; topP?: number }, logits: ArrayLike<number> = LOGITS): Record<number, number> {
  const s = new Sampler({ temperature: 1, topK: 0, topP: 1, seed: 1, ...params });
  const out = s.distribution(logits, new Float32Array(256));
  const kept: Record<number, number> = {};
  out.forEach((p, b) => { if (p !== 0) kept[b] = p; });
  return kept;
}

const close = (actual: Record<number, number>, expected: Record<number, number>) => {
  expect(Object.keys(actual).map(Number).sort((a, b) => a - b)).toEqual(Object.keys(expected).map(Number).sort((a, b) => a - b));
  for (const [b, p] of Object.entries(expected)) expect(actual[Number(b)], `byte ${b}`).toBeCloseTo(p, 6);
};

describe("sampler", () => {
  it("temperature 1 with no cut is the softmax itself", () => {
    close(dist({}), PROBS);
  });

  it("temperature scales the logits: T = 0.5 squares the probabilities (renormalised), T = 2 takes their square roots", () => {
    const sq = Object.values(PROBS).reduce((a, p) => a + p * p, 0);
    close(dist({ temperature: 0.5 }), Object.fromEntries(Object.entries(PROBS).map(([b, p]) => [b, (p * p) / sq])));
    const rt = Object.values(PROBS).reduce((a, p) => a + Math.sqrt(p), 0);
    close(dist({ temperature: 2 }), Object.fromEntries(Object.entries(PROBS).map(([b, p]) => [b, Math.sqrt(p) / rt])));
  });

  it("temperature 0 is greedy: one-hot at the argmax, and pick returns it without drawing", () => {
    close(dist({ temperature: 0 }), { 65: 1 });
    const s = new Sampler({ temperature: 0, topK: 0, topP: 1, seed: 1 });
    expect(s.greedy).toBe(true);
    expect(s.pick(LOGITS, new Float32Array(256))).toBe(65);
    expect(argmax(LOGITS)).toBe(65);
    // offsets: the argmax of the second row of two
    const two = [...logitsOf({ 1: 1 }), ...LOGITS];
    expect(argmax(two, 256)).toBe(65);
  });

  it("top-k keeps exactly the k most likely bytes (ties to the lower byte), renormalised", () => {
    close(dist({ topK: 1 }), { 65: 1 });
    close(dist({ topK: 2 }), { 65: 2 / 3, 10: 1 / 3 });
    close(dist({ topK: 3 }), { 65: 0.5 / 0.875, 10: 0.25 / 0.875, 200: 0.125 / 0.875 });
    close(dist({ topK: 4 }), { 65: 0.5 / 0.9375, 10: 0.25 / 0.9375, 200: 0.125 / 0.9375, 3: 0.0625 / 0.9375 });
    close(dist({ topK: 5 }), PROBS);
    close(dist({ topK: 256 }), PROBS);
  });

  it("top-p keeps the fewest most likely bytes whose mass reaches top_p: exactly at the boundary and either side", () => {
    // masses in rank order: 0.5, 0.75, 0.875, 0.9375, 1
    close(dist({ topP: 0.25 }), { 65: 1 });
    close(dist({ topP: 0.5 }), { 65: 1 });
    close(dist({ topP: 0.5 + 1e-9 }), { 65: 2 / 3, 10: 1 / 3 });
    close(dist({ topP: 0.75 - 1e-9 }), { 65: 2 / 3, 10: 1 / 3 });
    close(dist({ topP: 0.75 }), { 65: 2 / 3, 10: 1 / 3 });
    close(dist({ topP: 0.75 + 1e-9 }), { 65: 0.5 / 0.875, 10: 0.25 / 0.875, 200: 0.125 / 0.875 });
    close(dist({ topP: 0.875 }), { 65: 0.5 / 0.875, 10: 0.25 / 0.875, 200: 0.125 / 0.875 });
    close(dist({ topP: 0.9375 }), { 65: 0.5 / 0.9375, 10: 0.25 / 0.9375, 200: 0.125 / 0.9375, 3: 0.0625 / 0.9375 });
    close(dist({ topP: 0.95 }), PROBS);
    close(dist({ topP: 1 }), PROBS);
  });

  it("top-k and top-p together: the smaller set wins; top-p applies after temperature", () => {
    close(dist({ topK: 2, topP: 0.9 }), { 65: 2 / 3, 10: 1 / 3 });
    close(dist({ topK: 4, topP: 0.6 }), { 65: 2 / 3, 10: 1 / 3 });
    close(dist({ topK: 3, topP: 0.5 }), { 65: 1 });
    // T = 0.5: probabilities ∝ 0.25, 0.0625, 0.015625, … (65 alone holds 0.25 / 0.3359375 = 0.744)
    close(dist({ temperature: 0.5, topP: 0.7 }), { 65: 1 });
    close(dist({ temperature: 0.5, topP: 0.8 }), { 65: 0.25 / 0.3125, 10: 0.0625 / 0.3125 });
  });

  it("draw walks the distribution in byte order: a uniform u picks the byte whose cumulative interval holds it", () => {
    const s = new Sampler({ temperature: 1, topK: 0, topP: 1, seed: 1 });
    const p = s.distribution(LOGITS, new Float32Array(256));
    // cumulative in byte order: 3 [0, 0.0625), 7 [0.0625, 0.125), 10 [0.125, 0.375), 65 [0.375, 0.875), 200 [0.875, 1)
    const cases: [number, number][] = [[0, 3], [0.06, 3], [0.0625, 7], [0.07, 7], [0.125, 10], [0.2, 10], [0.374, 10], [0.375, 65], [0.376, 65], [0.8, 65],
      [0.875, 200], [0.9, 200], [0.999999, 200]];
    for (const [u, byte] of cases) {
      s.rng.next = () => u;
      expect(s.draw(p), `u = ${u}`).toBe(byte);
    }
    // pick = draw(distribution(logits)) when sampling
    s.rng.next = () => 0.2;
    expect(s.pick(LOGITS, new Float32Array(256))).toBe(10);
  });

  it("draw: when rounding leaves u unspent, the last byte with probability > 0 (never a byte with none)", () => {
    const s = new Sampler({ temperature: 1, topK: 0, topP: 1, seed: 1 });
    const p = new Float32Array(256);
    p[10] = 0.5; p[20] = 0.49;
    s.rng.next = () => 0.995;
    expect(s.draw(p)).toBe(20);
  });

  it("argmax: the first of equal maxima; large logits neither overflow nor shift the distribution", () => {
    const l = logitsOf({ 4: 0.25, 9: 0.5, 12: 0.5 });
    expect(argmax(l)).toBe(9);
    const big = LOGITS.map((x) => x + 1000);
    close(dist({}, big), PROBS);
    close(dist({ temperature: 0.5 }, big.map((x) => x - 2000)), dist({ temperature: 0.5 }));
  });

  it("the PRNG is mulberry32: the same stream for a seed on every runtime, uniform in [0, 1)", () => {
    const r = new Rng(1);
    const first = [r.next(), r.next(), r.next()];
    expect(first.map((x) => Math.round(x * 4294967296))).toEqual([2693262067, 11749833, 2265367787]);
    const again = new Rng(1);
    expect([again.next(), again.next(), again.next()]).toEqual(first);
    const u = new Rng(12345);
    let sum = 0;
    for (let i = 0; i < 10000; i++) { const x = u.next(); expect(x >= 0 && x < 1).toBe(true); sum += x; }
    expect(sum / 10000).toBeGreaterThan(0.48);
    expect(sum / 10000).toBeLessThan(0.52);
  });
});
