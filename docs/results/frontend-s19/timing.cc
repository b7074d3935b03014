// Front-end time per 1-s clip with the two-precision prototype (two_precision.patch applied):
// the float32 pass with its float64 resends against the float64 path alone, on white noise at
// -20 dBFS (what engine_bench feeds) or on a clip given as raw float32 samples, and whether both
// give the same image. Minimum and median of 2,000 calls, one thread.
//   g++ -O2 -std=c++17 -ffp-contract=off -Icpp/src -Icpp/include timing.cc \
//       cpp/build-native/libbifsmn_engine.a cpp/build-native/libbifsmn_core.a -o timing
//   ./timing [clip.f32]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <vector>

#include "fbank40_settings.h"
#include "ops/frontend/frontend.h"

int main(int argc, char** argv) {
  bifsmn::detail::Fbank40 fe(fbank40_settings(), "timing");
  std::vector<float> x(16000, 0.0f);
  if (argc > 1) {
    std::ifstream f(argv[1], std::ios::binary);
    f.read(reinterpret_cast<char*>(x.data()), sizeof(float) * x.size());
  } else {
    std::mt19937 g(0);
    std::normal_distribution<float> nd;
    for (float& v : x) v = 0.1f * nd(g);
  }
  std::vector<float> img[2] = {std::vector<float>(98 * 40), std::vector<float>(98 * 40)};
  for (int only64 = 0; only64 < 2; ++only64) {
    fe.set_float64_only(only64 == 1);
    const std::size_t sent0 = fe.frames_sent_on(), all0 = fe.frames_computed();
    std::vector<double> t;
    for (int r = 0; r < 2000; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      fe.image(x.data(), img[only64].data());
      t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(t.begin(), t.end());
    std::printf("%s: min %.1f us, median %.1f us", only64 ? "float64 path alone    "
                                                           : "float32 pass + resends",
                t[0] * 1e6, t[t.size() / 2] * 1e6);
    if (!only64) {
      std::printf(", %.1f %% of frames resent",
                  100.0 * (fe.frames_sent_on() - sent0) / (fe.frames_computed() - all0));
    }
    std::printf("\n");
  }
  std::printf("same image: %s\n", img[0] == img[1] ? "yes" : "NO");
  return 0;
}
