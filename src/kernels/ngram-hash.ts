// The hashed n-gram index of BLT's local encoder (docs/model.md): FNV-1a over x = token + 1 for the
// n tokens ending at position i, x = 0 before the sequence start; row = hash mod table rows.

/** Row of the n-gram table for the n tokens ending at position i of tokens. */
export function ngramRow(tokens: ArrayLike<number>, i: number, n: number, rows: number): number {
  let h = 2166136261;
  for (let j = i - n + 1; j <= i; j++) {
    const x = j < 0 ? 0 : tokens[j] + 1;
    h = Math.imul((h ^ x) >>> 0, 16777619) >>> 0;
  }
  return h % rows;
}
