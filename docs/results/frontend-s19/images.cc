// The fbank40 image of every whole 1-s slice of a raw float32 file, written to OUT (98 x 40
// float32 levels per slice), and the time of one image (minimum and median of 3,000 calls over
// the first 400 slices, one thread). Built once against each engine library, it tells whether
// two builds give the same images (cmp the two OUT files) and how fast each is.
//   g++ -O2 -std=c++17 -ffp-contract=off -Icpp/src -Icpp/include images.cc \
//       cpp/build-native/libbifsmn_engine.a cpp/build-native/libbifsmn_core.a -o images
//   ./images audio.f32 OUT
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <vector>

#include "fbank40_settings.h"
#include "ops/frontend/frontend.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: images audio.f32 OUT\n");
    return 2;
  }
  bifsmn::detail::Fbank40 fe(fbank40_settings(), "images");
  std::ifstream f(argv[1], std::ios::binary);
  f.seekg(0, std::ios::end);
  const std::size_t n = static_cast<std::size_t>(f.tellg()) / sizeof(float);
  f.seekg(0);
  std::vector<float> audio(n), img(98 * 40);
  f.read(reinterpret_cast<char*>(audio.data()), static_cast<std::streamsize>(n * sizeof(float)));
  std::ofstream out(argv[2], std::ios::binary);
  std::size_t slices = 0;
  for (std::size_t s = 0; s + 16000 <= n; s += 16000, ++slices) {
    fe.image(audio.data() + s, img.data());
    out.write(reinterpret_cast<const char*>(img.data()),
              static_cast<std::streamsize>(img.size() * sizeof(float)));
  }
  if (slices == 0) return 2;
  std::vector<double> t;
  for (int r = 0; r < 3000; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    fe.image(audio.data() + 16000 * (r % std::min<std::size_t>(slices, 400)), img.data());
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  std::printf("%zu slices -> %s; one image: min %.1f us, median %.1f us\n", slices, argv[2],
              t[0] * 1e6, t[t.size() / 2] * 1e6);
  return 0;
}
