// Random-mutation fuzzer for the WAV reader of bifsmn-run (parse_wav) and the audio path
// behind it, for machines without clang/libFuzzer (build with -DBIFSMN_SANITIZE=ON):
//
//   fuzz_wav [runs] [seed]
//
// Seeds are valid WAVs (PCM16 / float32, mono / stereo, plain / EXTENSIBLE fmt, extra
// chunks); each run applies 1-4 mutations (bit flips, truncation, chunk-size edits, float
// specials such as NaN, inf and 1e20 in the samples). Properties checked on every input:
//   * parse_wav either throws BkwsError or returns >= 1 finite sample with |x| <= 1000;
//   * a clip that parsed, run through a small engine (every 16th input, to keep the
//     sanitizer run short), gives finite logits or throws BkwsError; never NaN/inf.
// A crash, a sanitizer report or a broken property is a failure (abort / exit 1).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "bifsmn/engine.h"
#include "bifsmn/wav.h"
#include "mutate.h"

namespace {

using Bytes = std::vector<std::uint8_t>;

void put32(Bytes& b, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
void put16(Bytes& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v));
  b.push_back(static_cast<std::uint8_t>(v >> 8));
}
void tag(Bytes& b, const char* t) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::uint8_t>(t[i]));
}

Bytes make_wav(bool is_float, int channels, int frames, bool extensible, bool extra_chunk,
               std::mt19937_64& rng) {
  const int bits = is_float ? 32 : 16;
  const int block = channels * bits / 8;
  Bytes b;
  tag(b, "RIFF");
  put32(b, 0);  // fixed below
  tag(b, "WAVE");
  if (extra_chunk) {
    tag(b, "LIST");
    put32(b, 5);
    for (int i = 0; i < 6; ++i) b.push_back(static_cast<std::uint8_t>('a' + i));  // odd + pad
  }
  tag(b, "fmt ");
  put32(b, extensible ? 40 : 16);
  put16(b, extensible ? 0xFFFE : (is_float ? 3 : 1));
  put16(b, static_cast<std::uint16_t>(channels));
  put32(b, 16000);
  put32(b, 16000u * static_cast<std::uint32_t>(block));
  put16(b, static_cast<std::uint16_t>(block));
  put16(b, static_cast<std::uint16_t>(bits));
  if (extensible) {
    put16(b, 22);
    put16(b, static_cast<std::uint16_t>(bits));
    put32(b, 0);
    put16(b, is_float ? 3 : 1);  // subformat GUID: first two bytes are the format
    for (int i = 0; i < 14; ++i) b.push_back(0);
  }
  tag(b, "data");
  put32(b, static_cast<std::uint32_t>(frames * block));
  std::uniform_real_distribution<float> u(-0.9f, 0.9f);
  for (int i = 0; i < frames * channels; ++i) {
    const float v = u(rng);
    if (is_float) {
      std::uint32_t w;
      std::memcpy(&w, &v, 4);
      put32(b, w);
    } else {
      put16(b, static_cast<std::uint16_t>(static_cast<std::int16_t>(v * 32767)));
    }
  }
  const std::uint32_t riff = static_cast<std::uint32_t>(b.size() - 8);
  std::memcpy(b.data() + 4, &riff, 4);
  return b;
}

Bytes mutate(const Bytes& seed, std::mt19937_64& rng) {
  Bytes f = seed;
  auto pick = [&](std::size_t n) { return n ? static_cast<std::size_t>(rng() % n) : 0; };
  const int ops = 1 + static_cast<int>(rng() % 4);
  for (int op = 0; op < ops && !f.empty(); ++op) {
    switch (rng() % 8) {
      case 0:
        f[pick(f.size())] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
        break;
      case 1:
        f[pick(f.size())] = static_cast<std::uint8_t>(rng());
        break;
      case 2:
        f.resize(pick(f.size() + 1));
        break;
      case 3: {
        const std::size_t at = pick(f.size() + 1), n = 1 + pick(12);
        Bytes ins(n);
        for (auto& b : ins) b = static_cast<std::uint8_t>(rng());
        f.insert(f.begin() + static_cast<long>(at), ins.begin(), ins.end());
        break;
      }
      case 4: {  // chunk sizes and header fields live in the first ~80 bytes
        static const std::uint32_t vals[] = {0, 1, 2, 3, 4, 7, 8, 15, 16, 17, 40, 0x7FFFFFFF,
                                             0x80000000u, 0xFFFFFFFEu, 0xFFFFFFFFu, 1u << 20};
        if (f.size() >= 8) {
          const std::uint32_t v = vals[pick(sizeof vals / sizeof vals[0])];
          std::memcpy(f.data() + pick(std::min<std::size_t>(f.size() - 3, 80)), &v, 4);
        }
        break;
      }
      case 5: {  // 16-bit header fields: format, channels, block align, bits
        static const std::uint16_t vals[] = {0, 1, 2, 3, 8, 24, 32, 64, 65, 0xFFFE, 0xFFFF};
        if (f.size() >= 40) {
          const std::uint16_t v = vals[pick(sizeof vals / sizeof vals[0])];
          std::memcpy(f.data() + 20 + pick(20), &v, 2);
        }
        break;
      }
      case 6: {  // float specials in the samples (corrupted exponent bytes)
        static const float vals[] = {1e20f, -1e20f, 1e3f, 1001.0f, -3e38f, 1e-40f, -0.0f,
                                     std::numeric_limits<float>::infinity(),
                                     -std::numeric_limits<float>::infinity(),
                                     std::numeric_limits<float>::quiet_NaN()};
        if (f.size() >= 52) {
          const float v = vals[pick(sizeof vals / sizeof vals[0])];
          std::memcpy(f.data() + 44 + pick(f.size() - 47), &v, 4);
        }
        break;
      }
      default: {
        const std::size_t at = pick(f.size()), n = 1 + pick(16);
        f.erase(f.begin() + static_cast<long>(at),
                f.begin() + static_cast<long>(std::min(f.size(), at + n)));
        break;
      }
    }
  }
  return f;
}

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "fuzz_wav: property broken: %s\n", what);
  std::abort();
}

}  // namespace

int main(int argc, char** argv) {
  const long runs = argc > 1 ? std::atol(argv[1]) : 100000;
  const unsigned long long seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1;
  std::mt19937_64 rng(seed);
  std::vector<Bytes> seeds;
  for (bool fl : {false, true}) {
    for (int ch : {1, 2}) {
      seeds.push_back(make_wav(fl, ch, 300, false, false, rng));
      seeds.push_back(make_wav(fl, ch, 257, true, true, rng));
    }
  }
  bifsmn::fuzz::SmallArch tiny;
  tiny.c1 = 2, tiny.c2 = 3, tiny.dim = 5, tiny.hidden = 7, tiny.layers = 2, tiny.classes = 2;
  const Bytes model = bifsmn::fuzz::random_model(seed + 7, bifsmn::fuzz::Kind::bifsmnv2, tiny);
  auto eng = bifsmn::Engine::load_bytes(model.data(), model.size(), "fuzz.bkws", "portable");
  std::vector<float> logits(static_cast<std::size_t>(eng->num_classes()));
  for (const auto& s : seeds) {
    bifsmn::parse_wav(s.data(), s.size(), "seed.wav");  // seeds must parse (throws otherwise)
  }
  long parsed = 0, ran = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < runs; ++i) {
    const Bytes m = mutate(seeds[rng() % seeds.size()], rng);
    bifsmn::Wave w;
    try {
      w = bifsmn::parse_wav(m.data(), m.size(), "fuzz.wav");
    } catch (const bifsmn::BkwsError&) {
      continue;
    }
    ++parsed;
    if (w.mono.empty()) broken("a parsed WAV holds no samples");
    for (float v : w.mono) {
      if (!std::isfinite(v) || std::fabs(v) > bifsmn::kMaxFloatSample) {
        broken("a parsed WAV holds a non-finite or out-of-range sample");
      }
    }
    if (i % 16 == 0) {
      try {
        eng->predict_audio(w.mono.data(), 1, w.mono.size(), logits.data());
        ++ran;
        for (float v : logits) {
          if (!std::isfinite(v)) broken("non-finite logits returned for a parsed WAV");
        }
      } catch (const bifsmn::BkwsError&) {
      }
    }
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("fuzz_wav: %ld inputs, %ld parsed, %ld run through the engine, 0 crashes, "
              "%.1f s (seed %llu)\n", runs, parsed, ran, secs, seed);
  return 0;
}
