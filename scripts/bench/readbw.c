/* Single-core read bandwidth: sums a buffer far larger than the caches; the median of six timed passes.
   Built and run by scripts/bench/kernels.ts with the system C compiler (-O3 -march=native -ffast-math, so the sum vectorises). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int cmp(const void *a, const void *b) { double d = *(const double *)a - *(const double *)b; return (d > 0) - (d < 0); }
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

int main(int argc, char **argv) {
  size_t bytes = (argc > 1 ? strtoull(argv[1], 0, 10) : 256) << 20;
  size_t n = bytes / sizeof(float);
  float *a = aligned_alloc(64, bytes);
  for (size_t i = 0; i < n; i++) a[i] = (float)(i & 1023);
  double gbps[7]; float sink = 0;
  for (int pass = 0; pass < 7; pass++) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    double t0 = now();
    for (size_t i = 0; i < n; i += 8) {
      s0 += a[i]; s1 += a[i + 1]; s2 += a[i + 2]; s3 += a[i + 3];
      s4 += a[i + 4]; s5 += a[i + 5]; s6 += a[i + 6]; s7 += a[i + 7];
    }
    gbps[pass] = bytes / (now() - t0) / 1e9;
    sink += s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7;
  }
  qsort(gbps + 1, 6, sizeof(double), cmp); /* pass 0 warms up */
  double median = (gbps[3] + gbps[4]) / 2;
  printf("{\"readGBps\":%.3f,\"bufferMiB\":%zu,\"sink\":%g}\n", median, bytes >> 20, sink);
  return 0;
}
