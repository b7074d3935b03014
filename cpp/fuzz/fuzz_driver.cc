// Random-mutation fuzzer for the .bkws loader and the network builder, for
// machines without clang/libFuzzer (build it with -DBIFSMN_SANITIZE=ON):
//
//   fuzz_driver [runs] [seed]
//
// Seeds are valid random models of every kind; each run applies 1-4
// mutations (re-fixing the CRCs most of the time, so that mutations reach the
// record parser and the shape checks) and loads + runs the result. A crash or
// sanitizer report is a failure; BkwsError is the expected outcome. Property:
// a file that loaded gives finite logits from every call, or the call raises.
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "mutate.h"

int main(int argc, char** argv) {
  using namespace bifsmn::fuzz;
  const long runs = argc > 1 ? std::atol(argv[1]) : 100000;
  const unsigned long long seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1;
  std::vector<std::vector<std::uint8_t>> seeds;
  SmallArch small;
  SmallArch tiny;
  tiny.c1 = 2, tiny.c2 = 3, tiny.dim = 5, tiny.hidden = 7, tiny.layers = 2, tiny.classes = 2;
  for (Kind k : {Kind::bifsmnv2, Kind::bifsmn_v1, Kind::dfsmn_teacher, Kind::dfsmn_thinnable}) {
    seeds.push_back(random_model(seed + 1, k, small));
    seeds.push_back(random_model(seed + 2, k, tiny));
  }
  SmallArch fb;  // the fbank40 front end (version 2 record feat.kind)
  fb.n_mels = 40, fb.fbank40 = true;
  seeds.push_back(random_model(seed + 3, Kind::bifsmnv2, fb));
  SmallArch v1;  // the version 1 format (no feat.kind)
  v1.version = 1;
  seeds.push_back(random_model(seed + 4, Kind::bifsmn_v1, v1));
  std::mt19937_64 rng(seed);
  long loaded = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (const auto& s : seeds) {
    if (!exercise(s.data(), s.size())) {
      std::fprintf(stderr, "fuzz_driver: a seed model did not load\n");
      return 1;
    }
  }
  for (long i = 0; i < runs; ++i) {
    const auto& s = seeds[rng() % seeds.size()];
    const std::vector<std::uint8_t> m = mutate(s, rng);
    loaded += exercise(m.data(), m.size()) ? 1 : 0;
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("fuzz_driver: %ld inputs, %ld loaded and ran, 0 crashes, %.1f s (seed %llu)\n",
              runs, loaded, secs, seed);
  return 0;
}
