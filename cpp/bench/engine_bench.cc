// engine_bench model.bkws [runs] [blocks] [audio | stream[:HOP]]: median microseconds per
// single-clip call of the whole network (features in, or raw audio with
// "audio"), single thread. For profiling the engine without Python.
// "stream" times the front end alone per window of a stream, windows every HOP samples
// (default 1600: 100 ms) through one FrameCache, as a live detector computes features.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <stdexcept>
#include <vector>

#include "bifsmn/engine.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: engine_bench model.bkws [runs] [blocks] [audio|frontend|stream[:HOP]]\n");
    return 2;
  }
  try {
    auto eng = bifsmn::Engine::load_file(argv[1]);
    const int runs = argc > 2 ? std::atoi(argv[2]) : 1000;
    if (argc > 3 && std::atoi(argv[3]) > 0) eng->set_blocks(std::atoi(argv[3]));
    const bool audio = argc > 4 && std::strcmp(argv[4], "audio") == 0;
    std::mt19937 rng(0);
    std::normal_distribution<float> nd;
    if (argc > 4 && std::strncmp(argv[4], "stream", 6) == 0) {
      const long hop = argv[4][6] == ':' ? std::atol(argv[4] + 7) : 1600;
      if (hop < 1) throw std::runtime_error("stream hop must be at least 1 sample");
      const std::size_t clip = eng->feature_config().clip_samples;
      const int warm = 50, windows = warm + std::max(runs, 1);
      std::vector<float> stream(static_cast<std::size_t>(windows - 1) * hop + clip);
      for (float& v : stream) v = 0.1f * nd(rng);
      std::vector<float> feats(static_cast<std::size_t>(eng->n_mels()) * eng->frames());
      std::vector<double> t(std::max(runs, 1));
      auto cache = eng->new_frame_cache();
      for (int w = 0; w < windows; ++w) {
        const std::int64_t start = static_cast<std::int64_t>(w) * hop;
        const auto t0 = std::chrono::steady_clock::now();
        eng->compute_features_at(stream.data() + start, 1, &start, *cache, feats.data());
        const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (w >= warm) t[static_cast<std::size_t>(w - warm)] = dt;
      }
      std::sort(t.begin(), t.end());
      std::printf("%s: front end per %ld-sample stream hop (%zu rows reused, %zu computed): "
                  "median %.2f us, min %.2f us over %d runs\n",
                  argv[1], hop, cache->hits(), cache->misses(), t[t.size() / 2] * 1e6, t[0] * 1e6,
                  runs);
      return 0;
    }
    if (argc > 4 && std::strcmp(argv[4], "frontend") == 0) {  // the front end alone
      const std::size_t clip = eng->feature_config().clip_samples;
      std::vector<float> wave(clip), feats(static_cast<std::size_t>(eng->n_mels()) * eng->frames());
      for (float& v : wave) v = 0.1f * nd(rng);
      std::vector<double> t(std::max(runs, 1));
      for (int i = -50; i < static_cast<int>(t.size()); ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        eng->compute_features(wave.data(), 1, clip, feats.data());
        const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (i >= 0) t[static_cast<std::size_t>(i)] = dt;
      }
      std::sort(t.begin(), t.end());
      std::printf("%s: front end per clip: median %.2f us, min %.2f us over %d runs\n", argv[1],
                  t[t.size() / 2] * 1e6, t[0] * 1e6, runs);
      return 0;
    }
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
