// WGSL sources of the WebGPU kernels, one compute entry point `main` per op. Every shader sees the whole arena
// as one array<u32> (f32 and i32 through bitcast, int8 weights 4 per word) and its op's parameters as a uniform.

// Shared by every shader: the arena, the 16 parameter words of this dispatch, and a flat workgroup index
// (dispatches wider than 65535 workgroups are split over y).
const PRELUDE = /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> A: array<u32>;
struct Params { a: vec4<u32>, b: vec4<u32>, c: vec4<u32>, d: vec4<u32> }
@group(0) @binding(1) var<uniform> P: Params;
fn ldf(i: u32) -> f32 { return bitcast<f32>(A[i]); }
fn ldi(i: u32) -> i32 { return bitcast<i32>(A[i]); }
fn stf(i: u32, v: f32) { A[i] = bitcast<u32>(v); }
fn flat(wg: vec3<u32>, nwg: vec3<u32>) -> u32 { return wg.y * nwg.x + wg.x; }
const NEG = -3.0e38;
`;

// One thread per element: e is the element index, n the count (params a.w unless the op says otherwise).
function elementwise(body: string, count = "P.a.w"): string {
  return PRELUDE + /* wgsl */ `
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let e = flat(wg, nwg) * 256u + t;
  if (e >= ${count}) { return; }
  ${body}
}`;
}

// A tree reduction over the 256-entry workgroup array red (op: "+" or "max"); leaves the result in red[0].
function reduce256(op: "+" | "max"): string {
  const step = op === "+" ? "red[t] = red[t] + red[t + s];" : "red[t] = max(red[t], red[t + s]);";
  return `for (var s = 128u; s > 0u; s = s >> 1u) { if (t < s) { ${step} } workgroupBarrier(); }`;
}

// One workgroup of 256 threads per row (norms, softmax).
const ROW_HEAD = /* wgsl */ `
var<workgroup> red: array<f32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let row = flat(wg, nwg);`;

export const SHADERS = {
  // a = (out, x, w, m), b = (k, n). A workgroup of 64 threads computes a 4-row × 64-column tile of out, thread t
  // owning column t for the 4 rows; x and W pass through workgroup memory 16 values of k at a time. Each output
  // is summed in k order by the same code whatever m is, so a row's result does not depend on the batch.
  matmulF32: PRELUDE + /* wgsl */ `
const TK = 16u;
var<workgroup> xs: array<f32, 64>;
var<workgroup> ws: array<f32, 1088>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let out = P.a.x; let x = P.a.y; let w = P.a.z; let m = P.a.w; let k = P.b.x; let n = P.b.y;
  let j0 = wg.x * 64u; let i0 = wg.y * 4u;
  var acc = vec4<f32>(0.0);
  for (var k0 = 0u; k0 < k; k0 = k0 + TK) {
    let xi = i0 + t / TK; let xk = k0 + t % TK;
    var xv = 0.0;
    if (xi < m && xk < k) { xv = ldf(x + xi * k + xk); }
    xs[t] = xv;
    for (var r = 0u; r < 16u; r = r + 1u) {
      let idx = t + r * 64u; let jj = idx / TK; let c = idx % TK;
      var wv = 0.0;
      if (j0 + jj < n && k0 + c < k) { wv = ldf(w + (j0 + jj) * k + k0 + c); }
      ws[jj * (TK + 1u) + c] = wv;
    }
    workgroupBarrier();
    for (var c = 0u; c < TK; c = c + 1u) {
      let wv = ws[t * (TK + 1u) + c];
      acc = acc + vec4<f32>(xs[c], xs[TK + c], xs[2u * TK + c], xs[3u * TK + c]) * wv;
    }
    workgroupBarrier();
  }
  let j = j0 + t;
  if (j < n) {
    for (var r = 0u; r < 4u; r = r + 1u) {
      if (i0 + r < m) { stf(out + (i0 + r) * n + j, acc[r]); }
    }
  }
}`,

  // a = (out, x, wByte, scale), b = (m, k, n). Tiles as matmulF32 (4 rows × 64 columns), 64 bytes of k at a time.
  // Each row of x is quantised to i16 range with sx = max|x| / 8191 and xq = round(x · (1/sx)), half to even,
  // both divisions correctly rounded; the int8 weights are unpacked from the arena words (rows need not be
  // word-aligned), the dot products summed exactly in i32; out = f32(sum) · scale(j) · sx(i): the Wasm kernel's
  // arithmetic step for step, so the two agree bit for bit.
  matmulQ8: PRELUDE + /* wgsl */ `
var<workgroup> xq: array<i32, 256>;
var<workgroup> wt: array<u32, 1088>;
var<workgroup> red: array<f32, 256>;
var<workgroup> rowScale: array<f32, 8>;
// a / b correctly rounded (WGSL's division may be off by 2.5 ulp), for positive normal a, b and a normal
// quotient (else the hardware division): long division of the significands, round half to even.
fn divRN(a: f32, b: f32) -> f32 {
  let ua = bitcast<u32>(a); let ub = bitcast<u32>(b);
  var e = i32(ua >> 23u) - i32(ub >> 23u) + 127;
  var r = (ua & 0x7fffffu) | 0x800000u; let mb = (ub & 0x7fffffu) | 0x800000u;
  if (r < mb) { r = r << 1u; e = e - 1; }
  var q = 0u;
  for (var i = 0; i < 25; i = i + 1) {
    q = q << 1u;
    if (r >= mb) { r = r - mb; q = q | 1u; }
    r = r << 1u;
  }
  let guard = q & 1u; q = q >> 1u;
  if (guard == 1u && (r != 0u || (q & 1u) == 1u)) { q = q + 1u; }
  if (q == 0x1000000u) { q = 0x800000u; e = e + 1; }
  if (a <= 0.0 || b <= 0.0 || (ua >> 23u) == 0u || (ub >> 23u) == 0u || e <= 0 || e >= 255) { return a / b; }
  return bitcast<f32>((u32(e) << 23u) | (q & 0x7fffffu));
}
fn ld4(b: u32) -> u32 {
  let i = b >> 2u; let s = (b & 3u) * 8u;
  if (s == 0u) { return A[i]; }
  return (A[i] >> s) | (A[i + 1u] << (32u - s));
}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let out = P.a.x; let x = P.a.y; let w = P.a.z; let scale = P.a.w; let m = P.b.x; let k = P.b.y; let n = P.b.z;
  let j0 = wg.x * 64u; let i0 = wg.y * 4u;
  for (var r = 0u; r < 4u; r = r + 1u) {
    var mx = 0.0;
    if (i0 + r < m) { for (var c = t; c < k; c = c + 64u) { mx = max(mx, abs(ldf(x + (i0 + r) * k + c))); } }
    red[r * 64u + t] = mx;
  }
  workgroupBarrier();
  for (var s = 32u; s > 0u; s = s >> 1u) {
    if (t < s) { for (var r = 0u; r < 4u; r = r + 1u) { red[r * 64u + t] = max(red[r * 64u + t], red[r * 64u + t + s]); } }
    workgroupBarrier();
  }
  if (t < 4u) {
    let amax = red[t * 64u];
    var sx = 1.0;
    if (amax > 0.0) { sx = divRN(amax, 8191.0); }
    rowScale[t] = sx; rowScale[4u + t] = divRN(1.0, sx);
  }
  workgroupBarrier();
  var acc = vec4<i32>(0);
  for (var k0 = 0u; k0 < k; k0 = k0 + 64u) {
    for (var r = 0u; r < 4u; r = r + 1u) {
      var q = 0;
      if (i0 + r < m && k0 + t < k) { q = i32(round(ldf(x + (i0 + r) * k + k0 + t) * rowScale[4u + r])); }
      xq[r * 64u + t] = q;
    }
    for (var r = 0u; r < 16u; r = r + 1u) {
      let idx = t + r * 64u; let jj = idx / 16u; let c = idx % 16u;
      var word = 0u;
      if (j0 + jj < n && k0 + c * 4u < k) { word = ld4(w + (j0 + jj) * k + k0 + c * 4u); }
      wt[jj * 17u + c] = word;
    }
    workgroupBarrier();
    for (var c = 0u; c < 16u; c = c + 1u) {
      let word = bitcast<i32>(wt[t * 17u + c]);
      for (var e = 0u; e < 4u; e = e + 1u) {
        let wv = extractBits(word, e * 8u, 8u);
        let col = c * 4u + e;
        acc = acc + vec4<i32>(xq[col], xq[64u + col], xq[128u + col], xq[192u + col]) * wv;
      }
    }
    workgroupBarrier();
  }
  let j = j0 + t;
  if (j < n) {
    for (var r = 0u; r < 4u; r = r + 1u) {
      if (i0 + r < m) { stf(out + (i0 + r) * n + j, f32(acc[r]) * ldf(scale + j) * rowScale[r]); }
    }
  }
}`,

  // a = (out, x, w, m), b = (d, eps).
  rmsNormF32: PRELUDE + ROW_HEAD + /* wgsl */ `
  let out = P.a.x; let x = P.a.y; let w = P.a.z; let m = P.a.w; let d = P.b.x; let eps = bitcast<f32>(P.b.y);
  if (row >= m) { return; }
  var s = 0.0;
  for (var c = t; c < d; c = c + 256u) { let v = ldf(x + row * d + c); s = s + v * v; }
  red[t] = s;
  workgroupBarrier();
  ${reduce256("+")}
  let inv = 1.0 / sqrt(red[0] / f32(d) + eps);
  for (var c = t; c < d; c = c + 256u) { stf(out + row * d + c, ldf(x + row * d + c) * inv * ldf(w + c)); }
}`,

  // a = (out, x, w, b), b = (m, d, eps). Two passes over the row: mean, then variance about it.
  layerNormF32: PRELUDE + ROW_HEAD + /* wgsl */ `
  let out = P.a.x; let x = P.a.y; let w = P.a.z; let b = P.a.w; let m = P.b.x; let d = P.b.y; let eps = bitcast<f32>(P.b.z);
  if (row >= m) { return; }
  var s = 0.0;
  for (var c = t; c < d; c = c + 256u) { s = s + ldf(x + row * d + c); }
  red[t] = s;
  workgroupBarrier();
  ${reduce256("+")}
  let mean = red[0] / f32(d);
  workgroupBarrier();
  var ss = 0.0;
  for (var c = t; c < d; c = c + 256u) { let v = ldf(x + row * d + c) - mean; ss = ss + v * v; }
  red[t] = ss;
  workgroupBarrier();
  ${reduce256("+")}
  let inv = 1.0 / sqrt(red[0] / f32(d) + eps);
  for (var c = t; c < d; c = c + 256u) {
    stf(out + row * d + c, (ldf(x + row * d + c) - mean) * inv * ldf(w + c) + ldf(b + c));
  }
}`,

  // a = (x, m, n). Max, then the sum of exponentials, then the normalised row, in place.
  softmaxF32: PRELUDE + ROW_HEAD + /* wgsl */ `
  let x = P.a.x; let m = P.a.y; let n = P.a.z;
  if (row >= m) { return; }
  let base = x + row * n;
  var mx = NEG;
  for (var c = t; c < n; c = c + 256u) { mx = max(mx, ldf(base + c)); }
  red[t] = mx;
  workgroupBarrier();
  ${reduce256("max")}
  let rowMax = red[0];
  workgroupBarrier();
  var s = 0.0;
  for (var c = t; c < n; c = c + 256u) { s = s + exp(ldf(base + c) - rowMax); }
  red[t] = s;
  workgroupBarrier();
  ${reduce256("+")}
  let sum = red[0];
  for (var c = t; c < n; c = c + 256u) { stf(base + c, exp(ldf(base + c) - rowMax) / sum); }
}`,

  // a = (x, positions, cosSin, total), b = (nHeads, headDim, rowStride); one thread per (row, head, i < headDim/2).
  ropeF32: elementwise(/* wgsl */ `
  let x = P.a.x; let nHeads = P.b.x; let hd = P.b.y; let half = hd >> 1u;
  let i = e % half; let h = (e / half) % nHeads; let r = e / (half * nHeads);
  let tab = P.a.z + u32(ldi(P.a.y + r)) * hd;
  let a = x + r * P.b.z + h * hd;
  let x1 = ldf(a + i); let x2 = ldf(a + half + i); let c = ldf(tab + i); let s = ldf(tab + half + i);
  stf(a + i, x1 * c - x2 * s);
  stf(a + half + i, x2 * c + x1 * s);`),

  // a = (out, x, -, n).
  siluF32: elementwise(/* wgsl */ `
  let v = ldf(P.a.y + e);
  stf(P.a.x + e, v / (1.0 + exp(-v)));`),

  // a = (out, x, -, n). 0.5·v·(1 + tanh(y)) written as v / (1 + e^(−2y)), which neither overflows nor cancels.
  geluF32: elementwise(/* wgsl */ `
  let v = ldf(P.a.y + e);
  let y = 0.7978845608028654 * (v + 0.044715 * v * v * v);
  stf(P.a.x + e, v / (1.0 + exp(-2.0 * y)));`),

  // a = (out, gate, up, n).
  swigluF32: elementwise(/* wgsl */ `
  let g = ldf(P.a.y + e);
  stf(P.a.x + e, g / (1.0 + exp(-g)) * ldf(P.a.z + e));`),

  // a = (out, a, b, n).
  addF32: elementwise(/* wgsl */ `
  stf(P.a.x + e, ldf(P.a.y + e) + ldf(P.a.z + e));`),

  // a = (out, x, -, n): raw words, so the copy is bit-exact (a shader, because WebGPU forbids copyBufferToBuffer
  // within one buffer, and a dispatch keeps the order of the pass without ending it).
  copyF32: elementwise(/* wgsl */ `
  A[P.a.x + e] = A[P.a.y + e];`),

  // a = (out, x, m, d); one thread per column.
  maxPoolF32: elementwise(/* wgsl */ `
  let d = P.a.w;
  var v = ldf(P.a.y + e);
  for (var i = 1u; i < P.a.z; i = i + 1u) { v = max(v, ldf(P.a.y + i * d + e)); }
  stf(P.a.x + e, v);`),

  // a = (out, q, k, v), b = (kvLo, kvHi, m, nHeads), c = (nKvHeads, headDim ≤ 256, 1/√headDim). One workgroup of
  // 64 threads per (query row, head): keys go 64 at a time (one score per thread) through an online softmax;
  // thread t accumulates output dims t, t+64, t+128, t+192. An empty key range gives zeros.
  attentionF32: PRELUDE + /* wgsl */ `
var<workgroup> sc: array<f32, 64>;
var<workgroup> wlo: i32;
var<workgroup> whi: i32;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let nHeads = P.b.w; let nKv = P.c.x; let hd = P.c.y; let scale = bitcast<f32>(P.c.z);
  let g = flat(wg, nwg);
  if (g >= P.b.z * nHeads) { return; }
  let i = g / nHeads; let h = g % nHeads;
  if (t == 0u) { wlo = ldi(P.b.x + i); whi = ldi(P.b.y + i); }
  let lo = workgroupUniformLoad(&wlo); let hi = workgroupUniformLoad(&whi);
  let kvw = nKv * hd; let kvo = (h / (nHeads / nKv)) * hd; let qo = P.a.y + i * nHeads * hd + h * hd;
  var acc = vec4<f32>(0.0);
  var run = NEG;
  var l = 0.0;
  for (var base = lo; base < hi; base = base + 64) {
    let key = base + i32(t);
    var s = NEG;
    if (key < hi) {
      let kr = P.a.z + u32(key) * kvw + kvo;
      var dot = 0.0;
      for (var c = 0u; c < hd; c = c + 1u) { dot = dot + ldf(qo + c) * ldf(kr + c); }
      s = dot * scale;
    }
    sc[t] = s;
    workgroupBarrier();
    var cmax = NEG;
    for (var u = 0u; u < 64u; u = u + 1u) { cmax = max(cmax, sc[u]); }
    let next = max(run, cmax);
    let alpha = exp(run - next);
    workgroupBarrier();
    sc[t] = exp(s - next);
    workgroupBarrier();
    var psum = 0.0;
    for (var u = 0u; u < 64u; u = u + 1u) { psum = psum + sc[u]; }
    l = l * alpha + psum;
    let nk = u32(min(64, hi - base));
    for (var r = 0u; r < 4u; r = r + 1u) {
      let c = t + r * 64u;
      if (c < hd) {
        var a = acc[r] * alpha;
        for (var u = 0u; u < nk; u = u + 1u) { a = a + sc[u] * ldf(P.a.w + u32(base + i32(u)) * kvw + kvo + c); }
        acc[r] = a;
      }
    }
    run = next;
    workgroupBarrier();
  }
  let oo = P.a.x + i * nHeads * hd + h * hd;
  for (var r = 0u; r < 4u; r = r + 1u) {
    let c = t + r * 64u;
    if (c < hd) {
      var o = 0.0;
      if (l > 0.0) { o = acc[r] / l; }
      stf(oo + c, o);
    }
  }
}`,

  // a = (out, table, ids, total), b = (d); copies words, so the rows arrive bit for bit.
  embedGatherF32: elementwise(/* wgsl */ `
  let d = P.b.x; let i = e / d;
  A[P.a.x + e] = A[P.a.y + u32(ldi(P.a.z + i)) * d + e % d];`),

  // a = (out, tokens, tables, ns), b = (rows, pos0, total, count), c = (d). FNV-1a over token + 1 (0 before the
  // start) for the n tokens ending at pos0 + i; the tables' rows are added in table order, as the reference does.
  ngramEmbedSumF32: elementwise(/* wgsl */ `
  let d = P.c.x; let i = e / d; let col = e % d; let p = i32(P.b.y + i);
  var base = P.a.z;
  var acc = ldf(P.a.x + e);
  for (var c = 0u; c < P.b.w; c = c + 1u) {
    let n = ldi(P.a.w + c); let rows = u32(ldi(P.b.x + c));
    var h = 2166136261u;
    for (var j = p - n + 1; j <= p; j = j + 1) {
      var x = 0u;
      if (j >= 0) { x = u32(ldi(P.a.y + u32(j)) + 1); }
      h = (h ^ x) * 16777619u;
    }
    acc = acc + ldf(base + (h % rows) * d + col);
    base = base + rows * d;
  }
  stf(P.a.x + e, acc);`, "P.b.z"),
} as const;

/** The ops the WebGPU kernels implement, each one compute pipeline. */
export type OpName = keyof typeof SHADERS;
