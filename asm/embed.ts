// Byte embeddings: the table gather and the hashed n-gram sum of BLT's local encoder.

// out(m,d) = table[ids[i]] for each row i; ids(m) i32.
export function embedGatherF32(out: usize, table: usize, ids: usize, m: i32, d: i32): void {
  const rowBytes = <usize>d << 2;
  for (let i = 0; i < m; i++) {
    memory.copy(out + <usize>i * rowBytes, table + <usize>load<i32>(ids + (<usize>i << 2)) * rowBytes, rowBytes);
  }
}

// FNV-1a over x = token + 1 for the n tokens ending at position i (x = 0 before the sequence start).
@inline function ngramRow(tokens: usize, i: i32, n: i32, rows: u32): u32 {
  let h: u32 = 2166136261;
  for (let j = i - n + 1; j <= i; j++) {
    const x: u32 = j < 0 ? 0 : <u32>load<i32>(tokens + (<usize>j << 2)) + 1;
    h = (h ^ x) * 16777619;
  }
  return h % rows;
}

/**
 * out(m,d) += Σ_c tables_c[hash_{n_c}(tokens, pos0 + i)] for rows i of positions pos0..pos0+m−1.
 * tokens(pos0+m) i32 holds the whole sequence so far; ns(count), rows(count) i32 give each table's n and
 * row count; the tables are stored one after another in tables (Σ rows_c, d).
 */
export function ngramEmbedSumF32(out: usize, tokens: usize, tables: usize, ns: usize, rows: usize,
                                 pos0: i32, m: i32, count: i32, d: i32): void {
  const rowBytes = <usize>d << 2;
  const d4 = d & ~3;
  for (let i = 0; i < m; i++) {
    const orow = out + <usize>i * rowBytes;
    let base = tables;
    for (let c = 0; c < count; c++) {
      const n = load<i32>(ns + (<usize>c << 2));
      const nRows = load<i32>(rows + (<usize>c << 2));
      const t = base + <usize>ngramRow(tokens, pos0 + i, n, <u32>nRows) * rowBytes;
      let e = 0;
      for (; e < d4; e += 4) { const o = <usize>e << 2; v128.store(orow + o, f32x4.add(v128.load(orow + o), v128.load(t + o))); }
      for (; e < d; e++) { const o = <usize>e << 2; store<f32>(orow + o, load<f32>(orow + o) + load<f32>(t + o)); }
      base += <usize>nRows * rowBytes;
    }
  }
}
