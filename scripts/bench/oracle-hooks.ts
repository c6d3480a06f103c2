// Oracle drafts for BLT-S (scripts/bench/oracle-drafts.ts, and the same inside workerd): while a sequence is set,
// every greedy draft distribution is one-hot at that sequence's byte for the position being drafted, so every draft
// is accepted and a run pays exactly BLT-S's work with perfect drafts. A benchmark aid: it patches the sampler for
// the whole process (Node or the workerd isolate) and the model it is given.
import { Sampler } from "../../src/engine/decode/sampler.ts";

export function installOracle(model: object): { use(sequence: Uint8Array | null): void } {
  const m = model as { setTokens(pos: number, ids: ArrayLike<number>): void };
  let oracle: Uint8Array | null = null, lastPos = -1;
  // BLT-S drafts byte pos+1 right after setTokens(pos, …) and the decoder row at pos
  const setTokens = m.setTokens;
  m.setTokens = (pos, ids) => { lastPos = pos + ids.length - 1; return setTokens.call(m, pos, ids); };
  const distribution = Sampler.prototype.distribution;
  Sampler.prototype.distribution = function (this: Sampler, logits, out, offset = 0) {
    distribution.call(this, logits, out, offset); // the draft's own argmax work, as BLT-S does it
    if (oracle && this.greedy) { out.fill(0); out[oracle[lastPos + 1]] = 1; }
    return out;
  };
  return { use: (sequence) => { oracle = sequence; } };
}

export interface OracleRun<C> { name: string; config: C; oracle: boolean }
type Decoded = { bytes: Uint8Array; ms: number };

/**
 * The benchmark's rounds, the same in Node and in workerd: AR's greedy bytes per case first, then repeat 0 (warm-up)
 * and `repeats` timed rounds, each running every configuration on every case in turn (oracle runs draft the
 * sequence BOS, prompt, AR's bytes), so same-round ratios cancel the machine's drift. onRun(name, rep) runs before
 * each configuration's cases. Returns per configuration its decoding milliseconds per timed round, and whether every
 * output equalled AR's.
 */
export async function oracleRounds<C>(runs: OracleRun<C>[], prompts: Uint8Array[], repeats: number, oracle: { use(sequence: Uint8Array | null): void },
                                      decode: (config: C, i: number) => Promise<Decoded>, onRun?: (name: string, rep: number) => void) {
  const ar: Uint8Array[] = [];
  for (let i = 0; i < prompts.length; i++) ar.push((await decode(runs[0].config, i)).bytes);
  const sequences = prompts.map((p, i) => Uint8Array.from([0, ...p, ...ar[i]])); // BOS, prompt, AR's bytes
  const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, j) => v === b[j]);
  const times = new Map<string, number[]>();
  let identical = true;
  for (let rep = 0; rep <= repeats; rep++) {
    for (const run of runs) {
      onRun?.(run.name, rep);
      let ms = 0;
      for (let i = 0; i < prompts.length; i++) {
        oracle.use(run.oracle ? sequences[i] : null);
        const r = await decode(run.config, i);
        ms += r.ms;
        identical &&= same(r.bytes, ar[i]);
      }
      oracle.use(null);
      if (rep > 0) times.set(run.name, [...(times.get(run.name) ?? []), ms]);
    }
  }
  return { times, identical };
}
