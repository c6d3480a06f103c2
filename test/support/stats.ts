// Statistics for the tests that check a sampled decoder's output against a known distribution: the chi-square
// tail probability (the regularized upper incomplete gamma function, Numerical Recipes' gammq).

function lnGamma(x: number): number {
  const c = [76.18009172947146, -86.50532032941677, 24.01409824083091, -1.231739572450155, 0.1208650973866179e-2, -0.5395239384953e-5];
  let y = x, tmp = x + 5.5, ser = 1.000000000190015;
  tmp -= (x + 0.5) * Math.log(tmp);
  for (const cj of c) ser += cj / ++y;
  return -tmp + Math.log((2.5066282746310005 * ser) / x);
}

/** Q(a, x) = Γ(a, x) / Γ(a): the upper tail of the gamma distribution. */
export function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const gln = lnGamma(a);
  if (x < a + 1) {
    // series for P(a, x)
    let ap = a, sum = 1 / a, del = sum;
    for (let n = 0; n < 1000; n++) { ap++; del *= x / ap; sum += del; if (Math.abs(del) < Math.abs(sum) * 1e-15) break; }
    return 1 - sum * Math.exp(-x + a * Math.log(x) - gln);
  }
  // continued fraction for Q(a, x) (Lentz)
  const tiny = 1e-300;
  let b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b; if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c; if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return Math.exp(-x + a * Math.log(x) - gln) * h;
}

/** P(χ²(df) ≥ x). */
export function chiSquareTail(x: number, df: number): number {
  return gammaQ(df / 2, x / 2);
}

/**
 * Pearson's statistic of observed counts against expected counts (which sum to the same total), after merging
 * each category whose expectation is below `minExpected` into its neighbour (categories are ordered). A category
 * with expectation 0 and any observation makes the statistic infinite. Returns the statistic, the degrees of
 * freedom (merged categories − 1) and the tail probability.
 */
export function pearson(observed: number[], expected: number[], minExpected = 5): { chi2: number; df: number; p: number; cells: { o: number; e: number }[] } {
  const cells: { o: number; e: number }[] = [];
  let o = 0, e = 0;
  for (let i = 0; i < observed.length; i++) {
    o += observed[i]; e += expected[i];
    if (e >= minExpected) { cells.push({ o, e }); o = 0; e = 0; }
  }
  if (cells.length === 0) cells.push({ o, e });
  else { cells[cells.length - 1].o += o; cells[cells.length - 1].e += e; }
  let chi2 = 0;
  for (const c of cells) chi2 += c.e > 0 ? (c.o - c.e) ** 2 / c.e : c.o > 0 ? Infinity : 0;
  const df = Math.max(1, cells.length - 1);
  return { chi2, df, p: chi2 === Infinity ? 0 : chiSquareTail(chi2, df), cells };
}
