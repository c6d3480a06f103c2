// Regression pins of the committed models' decodes: for a set of modes and knobs (greedy and seeded sampling), the
// output bytes (sha-256) and the work each decode did (passes per component, drafted and accepted bytes). The
// speculative modes' output equals AR's either way, so a change that only makes them draft where they should not,
// skip a prefix's encoder states or miscount their work shows here and nowhere else; BLT-D's choice of which
// position to fill first, its entropy ordering and its draws too. A deliberate change to the engine or a retrained
// checkpoint updates the pins (BLTEDGE_PRINT_PINS=1 prints the new table).
import { createHash } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import type { Engine } from "../../src/engine/engine.ts";
import type { DecodeMode, DecodeStats, ModeKnobs, Sampling } from "../../src/protocol.ts";
import { collect, nodeEngine, request } from "../support/engine.ts";
import { TINY, V2 } from "../support/node-files.ts";

interface Case { model: "tiny" | "v2"; mode: DecodeMode; knobs?: Partial<ModeKnobs>; sampling?: Partial<Sampling> }
const SAMPLED = { temperature: 1, topK: 50, topP: 0.95, seed: 7 };
const CASES: Case[] = [];
for (const model of ["tiny", "v2"] as const) {
  CASES.push(
    { model, mode: "ar" },
    { model, mode: "blt-d", knobs: { threshold: 0.9 } },
    { model, mode: "blt-d", knobs: { threshold: 0.5, blockSize: 16, maxStepsPerBlock: 8 } },
    { model, mode: "blt-d", knobs: { threshold: 1 } },
    { model, mode: "blt-d", knobs: { entropyBound: 2 } },
    { model, mode: "blt-d", knobs: { entropyBound: 6, blockSize: 16, maxStepsPerBlock: 16 } },
    { model, mode: "blt-d", knobs: { threshold: 0.5, blockPrefix: "tokens" } },
    { model, mode: "blt-d", knobs: { threshold: 0.5, blockCommit: "block" } },
    { model, mode: "blt-s" },
    { model, mode: "blt-s", knobs: { draftLength: 3 } },
    { model, mode: "blt-dv", knobs: { threshold: 0.3 } },
    { model, mode: "blt-dv", knobs: { threshold: 0.3, blockPrefix: "tokens" } },
    { model, mode: "blt-dv", knobs: { entropyBound: 2, blockSize: 4 } },
    { model, mode: "ar", sampling: SAMPLED },
    { model, mode: "blt-d", sampling: SAMPLED },
    { model, mode: "blt-d", knobs: { entropyBound: 3 }, sampling: SAMPLED },
    { model, mode: "blt-s", sampling: SAMPLED },
    { model, mode: "blt-dv", sampling: SAMPLED },
  );
}
const nameOf = (c: Case) => `${c.model} ${c.mode} ${JSON.stringify(c.knobs ?? {})}${c.sampling ? " sampled" : ""}`;

const PINS: Record<string, string> = {
  "tiny ar {}": "b0c1b4095cd2706d 70B passes 70/70/16/70 drafted 0 accepted 0",
  "tiny blt-d {\"threshold\":0.9}": "ca1a0aadc52a5c14 70B passes 9/9/9/72 drafted 0 accepted 0",
  "tiny blt-d {\"threshold\":0.5,\"blockSize\":16,\"maxStepsPerBlock\":8}": "28f5636169969cf3 70B passes 5/5/5/40 drafted 0 accepted 0",
  "tiny blt-d {\"threshold\":1}": "ca1a0aadc52a5c14 70B passes 9/9/9/72 drafted 0 accepted 0",
  "tiny blt-d {\"entropyBound\":2}": "a49c8fd235ce07b1 70B passes 9/19/9/72 drafted 0 accepted 0",
  "tiny blt-d {\"entropyBound\":6,\"blockSize\":16,\"maxStepsPerBlock\":16}": "60dc426a92253a4e 70B passes 5/20/5/60 drafted 0 accepted 0",
  "tiny blt-d {\"threshold\":0.5,\"blockPrefix\":\"tokens\"}": "ca1a0aadc52a5c14 70B passes 9/9/9/72 drafted 0 accepted 0",
  "tiny blt-d {\"threshold\":0.5,\"blockCommit\":\"block\"}": "ca1a0aadc52a5c14 70B passes 0/9/9/72 drafted 0 accepted 0",
  "tiny blt-s {}": "b0c1b4095cd2706d 70B passes 18/70/15/70 drafted 52 accepted 52",
  "tiny blt-s {\"draftLength\":3}": "b0c1b4095cd2706d 70B passes 40/70/16/70 drafted 30 accepted 30",
  "tiny blt-dv {\"threshold\":0.3}": "b0c1b4095cd2706d 70B passes 60/74/25/137 drafted 87 accepted 10",
  "tiny blt-dv {\"threshold\":0.3,\"blockPrefix\":\"tokens\"}": "b0c1b4095cd2706d 70B passes 50/50/18/113 drafted 63 accepted 20",
  "tiny blt-dv {\"entropyBound\":2,\"blockSize\":4}": "b0c1b4095cd2706d 70B passes 63/84/16/111 drafted 48 accepted 7",
  "tiny ar {} sampled": "062b4c3d5d2885cd 70B passes 70/70/20/70 drafted 0 accepted 0",
  "tiny blt-d {} sampled": "52df35480fc90052 70B passes 9/12/9/72 drafted 0 accepted 0",
  "tiny blt-d {\"entropyBound\":3} sampled": "417b5d3a7fa3e209 70B passes 9/14/9/72 drafted 0 accepted 0",
  "tiny blt-s {} sampled": "f332244c20bc1ead 70B passes 21/70/14/70 drafted 49 accepted 49",
  "tiny blt-dv {} sampled": "068ef52c0632d87f 70B passes 63/78/19/138 drafted 75 accepted 7",
  "v2 ar {}": "f5dc2c5e4255a5cf 70B passes 70/70/16/70 drafted 0 accepted 0",
  "v2 blt-d {\"threshold\":0.9}": "de8f00998b8d8153 70B passes 9/50/8/67 drafted 0 accepted 0",
  "v2 blt-d {\"threshold\":0.5,\"blockSize\":16,\"maxStepsPerBlock\":8}": "7c1fb66acf11b321 70B passes 5/30/4/36 drafted 0 accepted 0",
  "v2 blt-d {\"threshold\":1}": "de8f00998b8d8153 70B passes 9/53/8/72 drafted 0 accepted 0",
  "v2 blt-d {\"entropyBound\":2}": "02e7f827d08ffe84 70B passes 9/40/8/56 drafted 0 accepted 0",
  "v2 blt-d {\"entropyBound\":6,\"blockSize\":16,\"maxStepsPerBlock\":16}": "2edf9e494daedd54 70B passes 5/25/4/38 drafted 0 accepted 0",
  "v2 blt-d {\"threshold\":0.5,\"blockPrefix\":\"tokens\"}": "158b04fff63f0399 70B passes 9/9/8/59 drafted 0 accepted 0",
  "v2 blt-d {\"threshold\":0.5,\"blockCommit\":\"block\"}": "1f91ca09c43b62b5 70B passes 0/43/8/58 drafted 0 accepted 0",
  "v2 blt-s {}": "f5dc2c5e4255a5cf 70B passes 26/87/16/87 drafted 61 accepted 44",
  "v2 blt-s {\"draftLength\":3}": "f5dc2c5e4255a5cf 70B passes 40/70/16/70 drafted 30 accepted 30",
  "v2 blt-dv {\"threshold\":0.3}": "f5dc2c5e4255a5cf 70B passes 31/62/18/64 drafted 67 accepted 39",
  "v2 blt-dv {\"threshold\":0.3,\"blockPrefix\":\"tokens\"}": "f5dc2c5e4255a5cf 70B passes 41/41/21/81 drafted 74 accepted 29",
  "v2 blt-dv {\"entropyBound\":2,\"blockSize\":4}": "f5dc2c5e4255a5cf 70B passes 40/66/17/66 drafted 33 accepted 30",
  "v2 ar {} sampled": "b734a0539b8751f8 70B passes 70/70/15/70 drafted 0 accepted 0",
  "v2 blt-d {} sampled": "0ef0cfcc5ec453e5 70B passes 9/43/8/72 drafted 0 accepted 0",
  "v2 blt-d {\"entropyBound\":3} sampled": "6f1ada5fc7cc4944 70B passes 9/45/8/60 drafted 0 accepted 0",
  "v2 blt-s {} sampled": "3136e9ee2996b71f 70B passes 31/80/12/80 drafted 49 accepted 39",
  "v2 blt-dv {} sampled": "392ee1e04adb1829 70B passes 45/97/19/110 drafted 65 accepted 25",
};

describe("pinned decodes of the committed models (70 bytes each)", () => {
  const engines: Record<string, Engine> = {};
  beforeAll(async () => { engines.tiny = await nodeEngine(TINY, 512); engines.v2 = await nodeEngine(V2, 512); });

  it("every pinned case decodes to the same bytes with the same work", async () => {
    const got: Record<string, string> = {};
    for (const c of CASES) {
      const r = await collect(engines[c.model].decode(request("The committee said that ", { mode: c.mode, maxNewBytes: 70, knobs: c.knobs, sampling: c.sampling })));
      const s = (r.end as { stats: DecodeStats }).stats;
      const p = s.passes;
      got[nameOf(c)] = `${createHash("sha256").update(r.bytes).digest("hex").slice(0, 16)} ${r.bytes.length}B passes ${p.entropy}/${p.encoder}/${p.global}/${p.decoder} drafted ${s.draftedBytes} accepted ${s.acceptedBytes}`;
    }
    if (process.env.BLTEDGE_PRINT_PINS) console.log(Object.entries(got).map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)},`).join("\n"));
    expect(got).toEqual(PINS);
  });
});
