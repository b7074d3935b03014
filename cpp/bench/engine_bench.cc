// engine_bench model.bkws [runs] [blocks] [audio]: median microseconds per
// single-clip call of the whole network (features in, or raw audio with
// "audio"), single thread. For profiling the engine without Python.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "bifsmn/engine.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: engine_bench model.bkws [runs] [blocks] [audio]\n");
    return 2;
  }
  try {
    auto eng = bifsmn::Engine::load_file(argv[1]);
    const int runs = argc > 2 ? std::atoi(argv[2]) : 1000;
    if (argc > 3 && std::atoi(argv[3]) > 0) eng->set_blocks(std::atoi(argv[3]));
    const bool audio = argc > 4 && std::strcmp(argv[4], "audio") == 0;
    std::mt19937 rng(0);
    std::normal_distribution<float> nd;
    const std::size_t n = audio ? eng->feature_config().clip_samples
                                : static_cast<std::size_t>(eng->n_mels()) * eng->frames();
    std::vector<float> x(n), logits(eng->num_classes());
    for (float& v : x) v = audio ? 0.1f * nd(rng) : 10.0f * nd(rng) - 30.0f;
    std::vector<double> t(std::max(runs, 1));
    for (int i = 0; i < 50; ++i) {
      audio ? eng->predict_audio(x.data(), 1, n, logits.data())
            : eng->predict_features(x.data(), 1, logits.data());
    }
    for (double& ti : t) {
      const auto t0 = std::chrono::steady_clock::now();
      audio ? eng->predict_audio(x.data(), 1, n, logits.data())
            : eng->predict_features(x.data(), 1, logits.data());
      ti = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    std::sort(t.begin(), t.end());
    std::printf("%s: %s, %d blocks, kernel %s, %s: median %.2f us, min %.2f us over %d runs\n",
                argv[1], eng->kind().c_str(), eng->blocks(), eng->kernel_name(),
                audio ? "audio" : "features", t[t.size() / 2] * 1e6, t[0] * 1e6, runs);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "engine_bench: %s\n", e.what());
    return 2;
  }
}
