// Request handling of the engine: seeds, stop sequences across blocks, UTF-8 framing, limits, bad requests.
import { beforeAll, describe, expect, it } from "vitest";
import type { Engine } from "../../src/engine/engine.ts";
import { utf8Boundary } from "../../src/engine/decode/output.ts";
import { collect, nodeEngine, request } from "../support/engine.ts";
import { TINY } from "../support/node-files.ts";

describe("engine requests", () => {
  let engine: Engine;
  beforeAll(async () => { engine = await nodeEngine(TINY); });

  it("the same seed gives the same bytes; another seed gives other bytes", async () => {
    for (const mode of ["ar", "blt-d", "blt-s", "blt-dv"] as const) {
      const opts = (seed: number) => request("The quick brown fox ", { mode, maxNewBytes: 96, sampling: { temperature: 1, topP: 0.95, topK: 50, seed } });
      const a = await collect(engine.decode(opts(7))), b = await collect(engine.decode(opts(7))), c = await collect(engine.decode(opts(8)));
      expect(a.bytes, mode).toEqual(b.bytes);
      expect(a.bytes, mode).not.toEqual(c.bytes);
    }
  });

  it("never splits a UTF-8 character across events", async () => {
    expect(utf8Boundary(new TextEncoder().encode("aé"), 2)).toBe(1);
    expect(utf8Boundary(new TextEncoder().encode("a€"), 3)).toBe(1);
    expect(utf8Boundary(new TextEncoder().encode("a€"), 4)).toBe(4);
    for (const mode of ["ar", "blt-d"] as const) {
      for (let seed = 1; seed <= 6; seed++) {
        // high temperature: the tiny model emits stray high bytes, so characters do get cut by blocks
        const r = await collect(engine.decode(request("Café naïve ", { mode, maxNewBytes: 200, sampling: { temperature: 2, topP: 1, topK: 0, seed } })));
        // at every boundary between events: no character whose lead byte is before it and whose continuation
        // bytes follow it (a stray byte that starts no valid character may stand anywhere)
        let at = 0;
        for (const chunk of r.chunks.slice(0, -1)) {
          at += chunk.length;
          const cut = utf8Boundary(r.bytes, at);
          const lead = r.bytes[cut], need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
          const completed = cut < at && cut + need <= r.bytes.length && r.bytes.slice(cut + 1, cut + need).every((b) => (b & 0xc0) === 0x80);
          expect(completed, `${mode} seed ${seed}: character split at byte ${at}`).toBe(false);
        }
      }
    }
  });

  it("honours a stop sequence that straddles two blocks, and stops before it", async () => {
    const free = await collect(engine.decode(request("The quick brown fox ", { mode: "blt-d", maxNewBytes: 64 })));
    // a stop sequence that crosses the boundary between the first and the second block of 8 bytes, and occurs
    // nowhere before: bytes at..at+len that straddle byte 8 and first occur at `at`
    const text = Buffer.from(free.bytes);
    const cands = [];
    for (let len = 3; len <= 8; len++) for (let at = 8 - len + 1; at < 8; at++) if (text.indexOf(text.subarray(at, at + len)) === at) cands.push({ at, len });
    expect(cands.length).toBeGreaterThan(0);
    const { at, len } = cands[0];
    const stop = free.bytes.slice(at, at + len);
    const r = await collect(engine.decode(request("The quick brown fox ", { mode: "blt-d", maxNewBytes: 64, stop: [stop] })));
    expect(r.bytes).toEqual(free.bytes.slice(0, at));
    expect(r.end.type === "done" && r.end.finishReason).toBe("stop");
  });

  it("stops at the byte limit with finish reason length", async () => {
    const r = await collect(engine.decode(request("Hello ", { mode: "blt-d", maxNewBytes: 13 })));
    expect(r.bytes.length).toBe(13);
    expect(r.end.type === "done" && r.end.finishReason).toBe("length");
  });

  it("refuses bad requests with an error naming the field", async () => {
    const cases = [
      [request("x", { knobs: { blockSize: 0 } }), /block_size/],
      [request("x", { maxNewBytes: -1 }), /max_tokens must be an integer in \[0, 8192\], got -1/],
      [request("x", { mode: "fast" as never }), /unknown mode "fast"/],
      [request("x", { sampling: { topP: 0 } }), /top_p/],
      [request("x", { mode: "blt-d", knobs: { blockPrefix: "bytes" as never } }), /block_prefix must be one of tokens, states, got bytes/],
      [request("x", { mode: "blt-d", knobs: { blockCommit: "patch" as never } }), /block_commit must be one of entropy, block, got patch/],
    ] as const;
    for (const [req, why] of cases) {
      const r = await collect(engine.decode(req));
      expect(r.end.type).toBe("error");
      if (r.end.type === "error") { expect(r.end.code).toBe("invalid_request"); expect(r.end.message).toMatch(why); }
    }
  });

  it("stops within one block when the signal aborts", async () => {
    const ac = new AbortController();
    let bytes = 0, atAbort = -1;
    let end;
    for await (const e of engine.decode(request("The quick brown fox ", { mode: "blt-d", maxNewBytes: 900 }), ac.signal)) {
      if (e.type === "bytes") { bytes += e.bytes.length; if (bytes >= 16 && atAbort < 0) { ac.abort(); atAbort = bytes; } } else end = e;
    }
    expect(end).toMatchObject({ type: "error", code: "cancelled" });
    // bytes arrive in events of several blocks; after the abort at most the block then running (B = 8) may follow
    expect(atAbort).toBeGreaterThanOrEqual(16);
    expect(bytes - atAbort).toBeLessThanOrEqual(8);
    expect(bytes).toBeLessThan(900);
  });
});
