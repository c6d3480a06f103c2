// What a request emits, directly on the OutputFramer: the byte limit, stop sequences (across pushes, at the very
// start and end, the earliest of several), the tail held back while it could still become a stop sequence or is
// an unfinished UTF-8 character, and nothing after the end.
import { describe, expect, it } from "vitest";
import { OutputFramer, utf8Boundary } from "../../src/engine/decode/output.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

describe("OutputFramer", () => {
  it("holds back exactly (longest stop − 1) bytes until the end, counts what remains, and emits the rest at flush", () => {
    const f = new OutputFramer(100, [enc("xyz")]);
    expect(f.remaining).toBe(100);
    expect(str(f.push(enc("abcdef")))).toBe("abcd");
    expect(f.remaining).toBe(94);
    expect(str(f.push(enc("g")))).toBe("e");
    expect(f.finish).toBe(null);
    expect(str(f.flush())).toBe("fg");
    expect(str(f.text)).toBe("abcdefg");
    expect(f.text.length).toBe(7);
  });

  it("the byte limit: reached exactly, everything is released at once and finish is length; nothing after", () => {
    const f = new OutputFramer(5, [enc("xyz")]);
    expect(str(f.push(enc("abcde")))).toBe("abcde");
    expect(f.finish).toBe("length");
    expect(f.remaining).toBe(0);
    expect(f.push(enc("zz")).length).toBe(0);
    expect(str(f.text)).toBe("abcde");
    const g = new OutputFramer(4, []);
    expect(str(g.push(enc("abcdef")))).toBe("abcd");
    expect(g.finish).toBe("length");
  });

  it("stop sequences: across pushes, at the very start, at the very end; the earliest of several wins; nothing after", () => {
    const a = new OutputFramer(100, [enc("xyz")]);
    expect(str(a.push(enc("abx")))).toBe("a");
    expect(str(a.push(enc("yzqq")))).toBe("b");
    expect(a.finish).toBe("stop");
    expect(str(a.text)).toBe("ab");
    expect(a.push(enc("more")).length).toBe(0);
    expect(a.remaining).toBe(0);
    const start = new OutputFramer(100, [enc("ab")]);
    expect(start.push(enc("abc")).length).toBe(0);
    expect(start.finish).toBe("stop");
    expect(start.text.length).toBe(0);
    const end = new OutputFramer(100, [enc("xyz")]);
    expect(str(end.push(enc("abxyz")))).toBe("ab");
    expect(end.finish).toBe("stop");
    const several = new OutputFramer(100, [enc("cd"), enc("b"), enc("zz")]);
    expect(str(several.push(enc("abcd")))).toBe("a");
    expect(str(several.text)).toBe("a");
    const later = new OutputFramer(100, [enc("d"), enc("bc")]);
    expect(str(later.push(enc("abcd")))).toBe("a");
    // the earliest match wins whatever the order of the list, a match at 0 included
    const first = new OutputFramer(100, [enc("b"), enc("cd")]);
    expect(str(first.push(enc("abcd")))).toBe("a");
    const atZero = new OutputFramer(100, [enc("ab"), enc("c")]);
    expect(atZero.push(enc("abc")).length).toBe(0);
    expect(atZero.text.length).toBe(0);
  });

  it("an empty stop sequence stops nothing", () => {
    const f = new OutputFramer(10, [new Uint8Array(0)]);
    expect(str(f.push(enc("abc")))).toBe("abc");
    expect(f.finish).toBe(null);
  });

  it("an unfinished UTF-8 character is held back until it completes", () => {
    const f = new OutputFramer(100, []);
    const b = enc("a€😀");
    expect(str(f.push(b.subarray(0, 2)))).toBe("a");
    expect(str(f.push(b.subarray(2, 5)))).toBe("€");
    expect(str(f.push(b.subarray(5, 7)))).toBe("");
    expect(str(f.push(b.subarray(7)))).toBe("😀");
  });
});

describe("utf8Boundary", () => {
  it("cuts before an unfinished character of 2, 3 or 4 bytes, keeps finished ones, and leaves stray bytes alone", () => {
    const cases: [number[], number, number][] = [
      [[], 0, 0],
      [[0x61], 1, 1],
      [[0xc3, 0xa9], 1, 0], [[0xc3, 0xa9], 2, 2],
      [[0xc0, 0x80], 1, 0], [[0xdf], 1, 0],
      [[0xe2, 0x82, 0xac], 1, 0], [[0xe2, 0x82, 0xac], 2, 0], [[0xe2, 0x82, 0xac], 3, 3],
      [[0xe0, 0xa0], 2, 0], [[0xef, 0xbf], 2, 0],
      [[0xf0, 0x9f, 0x98, 0x80], 1, 0], [[0xf0, 0x9f, 0x98, 0x80], 2, 0], [[0xf0, 0x9f, 0x98, 0x80], 3, 0], [[0xf0, 0x9f, 0x98, 0x80], 4, 4],
      [[0x61, 0xf0, 0x9f, 0x98], 4, 1],
      [[0x80], 1, 1], [[0x80, 0x80], 2, 2], [[0x80, 0x80, 0x80, 0x80], 4, 4], [[0x61, 0x80, 0x80, 0x80], 4, 4],
      [[0xbf, 0xc3], 2, 1],
    ];
    for (const [bytes, end, want] of cases) expect(utf8Boundary(new Uint8Array(bytes), end), `${bytes.map((b) => b.toString(16))} @${end}`).toBe(want);
  });
});
