// Session 66 probe (docs/results/frontend-s66/README.md): the log-mel front end's 16-frame FFT power
// (n = 2048, float32, AVX-512) in three schedules, alternated in one process: main's, the split per mirror
// pair of L1 blocks (same bits) and the complex products as multiply + FMA (new bits). Built by run.sh.
#include "fft_pub.h"  // written by make_variants.py
#include "fft_fma.h"
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <algorithm>
typedef float v16f __attribute__((vector_size(64)));
__attribute__((noinline))
void run(const bifsmn::detail::RealFFT<float>& f, const fmaproto::RealFFT<float>& g, v16f* re, v16f* im, v16f* pw, const v16f* src, int reps, int mode) {
  int h = f.half();
  for (int r = 0; r < reps; ++r) {
    for (int j = 0; j < h; ++j) { re[j] = src[2*j]; im[j] = src[2*j+1]; }
    if (mode == 0) f.power<v16f, true, true>(re, im, pw, -1, 0.37f);
    else if (mode == 1) f.fused<v16f, true>(re, im, pw, 0.37f, false);
    else g.power<v16f, true, true>(re, im, pw, -1, 0.37f);
  }
}
int main(int argc, char** argv) {
  int n = 2048, rounds = argc > 1 ? atoi(argv[1]) : 31;
  bifsmn::detail::RealFFT<float> f(n);
  fmaproto::RealFFT<float> g(n);
  int h = n / 2;
  v16f* re = (v16f*)aligned_alloc(64, h * 64);
  v16f* im = (v16f*)aligned_alloc(64, h * 64);
  v16f* pw[3];
  for (auto& p : pw) p = (v16f*)aligned_alloc(64, (h + 1) * 64);
  v16f* src = (v16f*)aligned_alloc(64, n * 64);
  srand(1);
  for (int i = 0; i < n; ++i) for (int l = 0; l < 16; ++l) src[i][l] = (rand() % 2000 - 1000) / 1000.0f;
  for (int m = 0; m < 3; ++m) run(f, g, re, im, pw[m], src, 1, m);
  double maxrel = 0;
  for (int k = 0; k <= h; ++k) for (int l = 0; l < 16; ++l) {
    double a = pw[0][k][l], b = pw[2][k][l];
    maxrel = std::max(maxrel, std::abs(a - b) / std::max(std::abs(a), 1e-3));
  }
  printf("mirror-pair split: power bit-identical to main's: %s\n", memcmp(pw[0], pw[1], (h + 1) * 64) == 0 ? "yes" : "NO");
  printf("FMA complex products: power bit-identical: %s, largest relative difference %.2e (bins above 1e-3)\n", memcmp(pw[0], pw[2], (h + 1) * 64) == 0 ? "yes" : "no", maxrel);
  const int reps = 100;
  std::vector<double> ts[3];
  for (int t = 0; t < rounds; ++t) for (int m = 0; m < 3; ++m) {
    auto t0 = std::chrono::steady_clock::now();
    run(f, g, re, im, pw[m], src, reps, m);
    auto t1 = std::chrono::steady_clock::now();
    ts[m].push_back(std::chrono::duration<double, std::micro>(t1 - t0).count() / reps);
  }
  const char* names[3] = {"main (radix-2^2 passes, then the paired split)", "split per mirror pair of L1 blocks (same bits)", "complex products as mul + fma (new bits)"};
  for (int m = 0; m < 3; ++m) { std::sort(ts[m].begin(), ts[m].end());
    printf("%-50s median %.2f us, min %.2f us per 16-frame group (copy in + FFT + split; %d rounds of %d)\n", names[m], ts[m][ts[m].size()/2], ts[m][0], rounds, reps); }
}
