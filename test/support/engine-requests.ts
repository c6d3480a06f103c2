// Test helpers that run anywhere (Node and workerd): request building and event collection.
import type { DecodeEvent, DecodeRequest } from "../../src/protocol.ts";

type RequestOverrides = Partial<Omit<DecodeRequest, "knobs" | "sampling">> & {
  knobs?: Partial<DecodeRequest["knobs"]>;
  sampling?: Partial<DecodeRequest["sampling"]>;
};

export function request(prompt: string, over: RequestOverrides = {}): DecodeRequest {
  return {
    model: "test", prompt: new TextEncoder().encode(prompt), maxNewBytes: 64, mode: "ar", stop: [],
    ...over,
    sampling: { temperature: 0, topP: 1, topK: 0, seed: 1, ...over.sampling },
    knobs: { blockSize: 8, threshold: 0.9, entropyBound: null, maxStepsPerBlock: 8, draftLength: 8, ...over.knobs },
  };
}

export async function collect(events: AsyncIterable<DecodeEvent>) {
  const chunks: Uint8Array[] = [];
  let end: DecodeEvent | undefined;
  for await (const e of events) { if (e.type === "bytes") chunks.push(e.bytes); else end = e; }
  const bytes = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
  let o = 0;
  for (const c of chunks) { bytes.set(c, o); o += c.length; }
  return { bytes, chunks, end: end!, text: new TextDecoder().decode(bytes) };
}
