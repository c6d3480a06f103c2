// The part of vitest's expect that test/kernels/kernel-cases.ts uses, for running those cases inside a page
// (bundled in place of "vitest"): a failed expectation throws an Error carrying the message.
const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

export function expect(actual: unknown, message = "") {
  const fail = (what: string) => { throw new Error(`${message ? `${message}: ` : ""}${what}`); };
  return {
    toBeLessThanOrEqual(limit: number) { if (!((actual as number) <= limit)) fail(`${actual} > ${limit}`); },
    toEqual(want: unknown) { if (!same(actual, want)) fail(`${JSON.stringify(actual).slice(0, 200)} ≠ ${JSON.stringify(want).slice(0, 200)}`); },
    toBe(want: unknown) { if (!Object.is(actual, want)) fail(`${String(actual)} is not ${String(want)}`); },
  };
}
