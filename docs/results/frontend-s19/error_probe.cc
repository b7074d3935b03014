// How far a float32 fbank40 mel energy lies from the float64 path's, against the error bound
// err = a (2 sqrt(T W E) + E), a = 2^-24 (T: the frame's total power, W: the band's weight sum).
// Reads the clips, window and filterbank that probe.py writes; prints the ratio
// |E32 - E64| / err (worst, quantiles) and the share of frames that a bound of 16, 32 or 64
// times err would send to the float64 path (a value whose interval straddles a level bound).
// Uses the engine's own FFT (cpp/src/ops/frontend/fft.h), one frame at a time.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "ops/frontend/fft.h"

using bifsmn::detail::RealFFT;

template <class T>
static std::vector<T> load(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  f.seekg(0, std::ios::end);
  const std::size_t n = static_cast<std::size_t>(f.tellg()) / sizeof(T);
  f.seekg(0);
  std::vector<T> v(n);
  f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * sizeof(T)));
  return v;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: error_probe DIR (written by probe.py)\n");
    return 2;
  }
  const std::string dir = argv[1];
  const auto x = load<float>(dir + "/audio.f32");
  const auto w = load<double>(dir + "/window.f64");
  const auto fb = load<double>(dir + "/filterbank.f64");
  const int n = 512, h = 256, L = 480, hop = 160, M = 40;
  const double log_scale = 10.0673, log_offset = 540.0;
  RealFFT<double> fd(n);
  RealFFT<float> ff(n);
  std::vector<float> wf(w.begin(), w.end());
  std::vector<double> W(M, 0.0);
  for (int k = 0; k <= h; ++k) {
    for (int m = 0; m < M; ++m) W[m] += fb[k * M + m];
  }
  std::vector<double> bound(256);  // level j starts at bound[j]: round(s ln(1 + E / o)) >= j
  for (int j = 1; j < 256; ++j) bound[j] = log_offset * std::expm1((j - 0.5) / log_scale);
  std::vector<double> re(h), im(h), wr(h), wi(h), p(h + 1);
  std::vector<float> ref(h), imf(h), wrf(h), wif(h), pf(h + 1);
  const double eps = std::ldexp(1.0, -24);
  std::vector<double> ratios;
  const double margins[3] = {16, 32, 64};
  long sent[3] = {0, 0, 0};
  const std::size_t frames = (x.size() - L) / hop + 1;
  for (std::size_t f = 0; f < frames; ++f) {
    const float* s = x.data() + f * hop;
    for (int j = 0; j < h; ++j) {
      const int i0 = 2 * j, i1 = 2 * j + 1;
      re[j] = i0 < L ? static_cast<double>(s[i0]) * 32768.0 * w[i0] : 0.0;
      im[j] = i1 < L ? static_cast<double>(s[i1]) * 32768.0 * w[i1] : 0.0;
      ref[j] = i0 < L ? s[i0] * 32768.0f * wf[i0] : 0.0f;
      imf[j] = i1 < L ? s[i1] * 32768.0f * wf[i1] : 0.0f;
    }
    fd.power(re.data(), im.data(), wr.data(), wi.data(), p.data());
    ff.power(ref.data(), imf.data(), wrf.data(), wif.data(), pf.data());
    float inner = 0.0f;
    for (int k = 1; k < h; ++k) inner += pf[k];
    const double total = pf[0] + pf[h] + 2.0f * inner;
    bool unsure[3] = {false, false, false};
    for (int m = 0; m < M; ++m) {
      double e64 = 0.0;
      float e32 = 0.0f;
      for (int k = 0; k <= h; ++k) {
        const double wk = fb[k * M + m];
        if (wk != 0.0) {
          e64 += p[k] * wk;
          e32 += pf[k] * static_cast<float>(wk);
        }
      }
      const double err = eps * (2.0 * std::sqrt(total * W[m] * e64) + e64);
      if (err > 0.0) ratios.push_back(std::fabs(e32 - e64) / err);
      for (int i = 0; i < 3; ++i) {
        for (int j = 1; j < 256; ++j) {
          if (std::fabs(e32 - bound[j]) <= margins[i] * err) unsure[i] = true;
        }
      }
    }
    for (int i = 0; i < 3; ++i) sent[i] += unsure[i];
  }
  std::sort(ratios.begin(), ratios.end());
  auto q = [&](double u) { return ratios[static_cast<std::size_t>(u * (ratios.size() - 1))]; };
  std::printf("%zu frames, %zu values: |E32 - E64| / err: worst %.3f, 99.99th percentile %.3f, "
              "99th %.3f, median %.4f\n", frames, ratios.size(), ratios.back(), q(0.9999),
              q(0.99), q(0.5));
  for (int i = 0; i < 3; ++i) {
    std::printf("bound %2.0f x err: %.1f %% of frames hold a value whose interval straddles a "
                "level bound\n", margins[i], 100.0 * sent[i] / frames);
  }
  return 0;
}
