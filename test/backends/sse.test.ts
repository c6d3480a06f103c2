// The SSE splitter the edge reads pool workers (and the page reads the server) with: the same events however the
// bytes are chunked, every line ending SSE allows, and a size cap on an event or a line without an end.
import { describe, expect, it } from "vitest";
import { sseData, StreamLimitError } from "../../src/backends/sse.ts";

function streamOf(chunks: Uint8Array[]): { body: ReadableStream<Uint8Array>; pulled: () => number; cancelled: () => boolean } {
  let i = 0, cancelled = false;
  const body = new ReadableStream<Uint8Array>({
    pull(c) { if (i < chunks.length) c.enqueue(chunks[i++]); else c.close(); },
    cancel() { cancelled = true; },
  }, { highWaterMark: 0 });
  return { body, pulled: () => i, cancelled: () => cancelled };
}

async function events(chunks: Uint8Array[], max?: number): Promise<string[]> {
  const out: string[] = [];
  for await (const d of sseData(streamOf(chunks).body, max)) out.push(d);
  return out;
}

const text = ": a comment\nevent: bytes\ndata: {\"a\":1}\n\r\ndata: one\r\ndata:two\r\r\nid: 3\ndata: é€😀\n\ndata: no end";
const bytes = new TextEncoder().encode(text);
const expected = ["{\"a\":1}", "one\ntwo", "é€😀"];

describe("the SSE splitter", () => {
  it("gives the same events however the stream is chunked (LF, CRLF and CR line ends, comments, multi-line data)", async () => {
    expect(await events([bytes])).toEqual(expected);
    expect(await events([...bytes].map((b) => Uint8Array.of(b)))).toEqual(expected);
    for (let cut = 1; cut < bytes.length; cut++) {
      expect(await events([bytes.subarray(0, cut), bytes.subarray(cut)]), `cut at ${cut}`).toEqual(expected);
    }
  });

  it("refuses a line or an event over the cap, and stops reading there", async () => {
    const huge = new TextEncoder().encode(`data: ${"x".repeat(5000)}`);
    const chunks = Array.from({ length: 100 }, () => huge.subarray(0, 1000));
    const s = streamOf(chunks);
    await expect((async () => { for await (const _ of sseData(s.body, 4096)) { /* none */ } })()).rejects.toBeInstanceOf(StreamLimitError);
    expect(s.pulled()).toBeLessThan(10);
    expect(s.cancelled()).toBe(true);
    const lines = new TextEncoder().encode(Array.from({ length: 50 }, () => `data: ${"y".repeat(100)}\n`).join(""));
    await expect(events([lines], 4096)).rejects.toBeInstanceOf(StreamLimitError);
    expect(await events([new TextEncoder().encode(`data: ${"z".repeat(4000)}\n\n`)], 4096)).toHaveLength(1);
  });
});
