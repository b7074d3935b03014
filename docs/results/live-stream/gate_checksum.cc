// Session 36: a checksum of every statistic the C++ window gate computes (cpp/src/ops/gate/gate.cc,
// through bifsmn::gate_stats: peak and floor levels, speech-band contrast, loud-frame flatness),
// over 30 windows of a synthetic voiced/quiet stream, for frames of 400, 200, 551, 441, 320, 100,
// 7 and 1 samples (sample rates 16 / 8 / 22.05 / 17.64 / 12.8 / 4 kHz and odd or tiny lengths,
// so every FFT factor path runs). Two builds of gate.cc that print the same checksum compute the
// same bits. Also prints the gate's time per 100-ms hop of a 60-s stream with its cache (the
// default gate plus flatness, as the bundled detector runs it; best of REPS passes).
//
//   g++ -O3 -DNDEBUG -std=c++17 -ffp-contract=off -Icpp/include
//       docs/results/live-stream/gate_checksum.cc cpp/src/ops/gate/gate.cc -o /tmp/gate_checksum
//   /tmp/gate_checksum [REPS]
//
// (one command line; for the old gate, compile `git show 7934316:cpp/src/ops/gate/gate.cc`
// instead of cpp/src/ops/gate/gate.cc). Before and after session 36's bottom-up FFT:
// checksum dfbc71c333e36688 (gate_checksum-s36.txt).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "bifsmn/gate.h"

namespace {

constexpr double kPi = 3.14159265358979323846;

std::vector<double> hann(int f) {
  std::vector<double> h(static_cast<std::size_t>(f), 1.0);
  for (int i = 0; f > 1 && i < f; ++i) h[i] = 0.5 - 0.5 * std::cos(2 * kPi * i / (f - 1));
  return h;
}

}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 5;
  const int w = 16000, hop = 1600;
  // one second of zeros (the stream's start padding), then 60 s: a voiced 150/450/1200 Hz tone
  // with a little noise in every third hop, low noise in the others
  std::mt19937 gen(0);
  std::normal_distribution<float> noise(0.0f, 0.05f);
  std::vector<float> a(static_cast<std::size_t>(w) + 16000 * 60, 0.0f);
  for (std::size_t i = w; i < a.size(); ++i) {
    const double t = static_cast<double>(i) / 16000.0;
    const auto v = static_cast<float>(0.1 * (std::sin(2 * kPi * 150 * t) +
                                             0.5 * std::sin(2 * kPi * 450 * t) +
                                             0.3 * std::sin(2 * kPi * 1200 * t)));
    a[i] = (i / hop) % 3 == 0 ? v + noise(gen) * 0.01f : noise(gen) * 0.01f;
  }

  unsigned long long h = 1469598103934665603ull;  // FNV-1a over the statistics' bits
  for (const int f : {400, 200, 551, 441, 320, 100, 7, 1}) {
    bifsmn::GateParams q;
    q.frame = f;
    q.use_flat = true;
    q.use_band = true;
    q.band_lo = 1;
    q.band_hi = std::max(f / 2, 1);
    const std::vector<double> hn = hann(f);
    const int nw = 30;
    std::vector<double> peak(nw), floor(nw), band(nw), flat(nw);
    std::vector<std::int64_t> ends(nw);
    std::vector<float> xs(static_cast<std::size_t>(nw) * w);
    for (int i = 0; i < nw; ++i) {
      ends[i] = 8000 + hop * i;
      std::copy(a.begin() + ends[i], a.begin() + ends[i] + w, xs.begin() + i * w);
    }
    bifsmn::gate_stats(q, xs.data(), nw, w, ends.data(), -1, hn.data(), peak.data(),
                       floor.data(), band.data(), flat.data());
    for (const auto* v : {&peak, &floor, &band, &flat}) {
      for (const double d : *v) {
        unsigned long long u = 0;
        std::memcpy(&u, &d, sizeof u);
        h = (h ^ u) * 1099511628211ull;
      }
    }
  }
  std::printf("checksum %016llx\n", h);

  bifsmn::GateParams p;  // the bundled detector's gate: defaults plus flatness and band contrast
  p.use_flat = true;
  p.use_band = true;
  p.band_lo = 8;  // 300-3400 Hz of a 400-sample frame's bins (bifsmn.detect.gate._band_bins)
  p.band_hi = 85;
  const std::vector<double> hn = hann(400);
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    bifsmn::GateCache cache;
    int n = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t e = hop; e + w <= a.size(); e += hop, ++n) {
      const auto end = static_cast<std::int64_t>(e);
      std::uint8_t keep = 0;
      bifsmn::gate_active(p, a.data() + e, 1, w, &end, -1, hn.data(), &cache, &keep);
    }
    const auto t1 = std::chrono::steady_clock::now();
    best = std::min(best, std::chrono::duration<double, std::micro>(t1 - t0).count() / n);
  }
  std::printf("gate %.2f us per hop (best of %d passes)\n", best, reps);
  return 0;
}
