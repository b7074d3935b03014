// Engine tests that need no Python (they also run under ASan/UBSan and, for
// aarch64, under qemu): format primitives, loading and running random models
// of every kind, bit-exact kernel equality, batch consistency, corrupt files,
// the log-mel front end against a direct DFT, the WAV reader, and a short
// fuzz run. PyTorch parity is tested from Python (tests/test_engine.py).
//
//   test_engine [fuzz_runs]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "check.h"
#include "bifsmn/engine.h"
#include "bifsmn/kernels.h"
#include "bifsmn/wav.h"
#include "engine/bkws.h"
#include "mutate.h"
#include "ops/simd.h"

namespace {

using namespace bifsmn;
using fuzz::Kind;

constexpr double kPi = 3.14159265358979323846;
using bifsmn::testing::check;

// Expect BkwsError whose message contains `needle`.
bool throws_bkws(const std::function<void()>& fn, const std::string& needle,
                 std::string* msg = nullptr) {
  try {
    fn();
  } catch (const BkwsError& e) {
    if (msg) *msg = e.what();
    return std::string(e.what()).find(needle) != std::string::npos;
  } catch (...) {
    return false;
  }
  return false;
}

std::vector<float> features(std::size_t batch, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(-35.0f, 12.0f);
  std::vector<float> x(batch * 32 * 32);
  for (float& v : x) v = nd(rng);
  return x;
}

std::vector<float> run(Engine& e, const std::vector<float>& x, std::size_t batch) {
  std::vector<float> out(batch * e.num_classes());
  e.predict_features(x.data(), batch, out.data());
  return out;
}

void test_primitives() {
  check(crc32("123456789", 9) == 0xCBF43926u, "crc32 check value");
  using detail::half_to_float;
  check(half_to_float(0x3C00) == 1.0f && half_to_float(0xC000) == -2.0f &&
            half_to_float(0x7BFF) == 65504.0f && half_to_float(0x0001) == std::ldexp(1.0f, -24) &&
            std::signbit(half_to_float(0x8000)) && std::isinf(half_to_float(0x7C00)) &&
            half_to_float(0x3555) == 0.333251953125f,
        "half_to_float (normal, subnormal, zero, inf)");
}

void test_models() {
  const auto kernels = available_kernels();
  for (Kind kind : {Kind::bifsmnv2, Kind::bifsmn_v1, Kind::dfsmn_teacher, Kind::dfsmn_thinnable}) {
    const std::string name = fuzz::kind_name(kind);
    const auto file = fuzz::random_model(42, kind);
    auto e = Engine::load_bytes(file.data(), file.size(), name + ".bkws");
    const bool binary = kind == Kind::bifsmnv2 || kind == Kind::bifsmn_v1;
    // fuzz::SmallArch has 4 layers: its paths run 4, 2, 1 blocks (the file, version 2, names
    // path indices 0-3; index 3 would run no block and is dropped at load)
    const std::vector<int> want = kind == Kind::dfsmn_teacher ? std::vector<int>{4}
                                                              : std::vector<int>{4, 2, 1};
    check(e->kind() == name && e->is_binary() == binary && e->available_blocks() == want &&
              e->labels().size() == 3 && e->labels()[2] == "c2",
          name + ": metadata");
    const std::size_t B = 3, per = 32 * 32;
    const auto x = features(B, 7);
    for (int blocks : want) {
      e->set_blocks(blocks);
      const auto batch = run(*e, x, B);
      bool same = true, finite = true;
      for (std::size_t b = 0; b < B; ++b) {
        std::vector<float> one(x.begin() + b * per, x.begin() + (b + 1) * per);
        const auto single = run(*e, one, 1);
        same = same && std::equal(single.begin(), single.end(), batch.begin() + b * 3);
      }
      for (float v : batch) finite = finite && std::isfinite(v);
      check(same && finite, name + " " + std::to_string(blocks) +
                                " blocks: finite, batch of 3 == 3 single calls (bitwise)");
      // every kernel, float layers pinned: binary models bit-identical
      std::vector<float> ref;
      double worst = 0;
      bool identical = true;
      // every kernel with its own float GEMM: a clip's logits do not depend on its batch (the
      // detector's Streamer relies on it to score one window per hop: EngineScorer.
      // batch_invariant); 5 clips make row counts whose tiles split differently from one clip's
      const std::size_t B5 = 5;
      const auto x5 = features(B5, 11);
      for (std::string_view k : kernels) {
        auto own = Engine::load_bytes(file.data(), file.size(), name, k);
        own->set_blocks(blocks);
        const auto batch5 = run(*own, x5, B5);
        bool invariant = true;
        for (std::size_t b = 0; b < B5; ++b) {
          std::vector<float> one(x5.begin() + b * per, x5.begin() + (b + 1) * per);
          const auto single = run(*own, one, 1);
          invariant = invariant && std::equal(single.begin(), single.end(), batch5.begin() + b * 3);
        }
        check(invariant, name + " " + std::to_string(blocks) + " blocks, kernel " +
                             std::string(k) + ": batch of 5 == 5 single calls (bitwise)");
      }
      for (std::string_view k : kernels) {
        // binary: float layers pinned to one kernel; FP: each kernel's own float GEMM
        auto ek = Engine::load_bytes(file.data(), file.size(), name, k,
                                     binary ? "portable" : std::string_view{});
        ek->set_blocks(blocks);
        const auto out = run(*ek, x, B);
        if (ref.empty()) ref = out;
        identical = identical && out == ref;
        for (std::size_t i = 0; i < out.size(); ++i) worst = std::max(worst, double(std::fabs(out[i] - ref[i])));
      }
      if (binary) {
        check(identical, name + " " + std::to_string(blocks) +
                             " blocks: all kernels bit-identical (float layers pinned)");
      } else {
        check(worst < 1e-3, name + " " + std::to_string(blocks) +
                                " blocks: FP kernels agree (max diff " + std::to_string(worst) + ")");
      }
    }
    check(throws_bkws([&] { e->set_blocks(3); }, "3 blocks not in this file"),
          name + ": unknown block count rejected");
    // audio path: fix_length semantics
    std::vector<float> wave(20000);
    for (std::size_t i = 0; i < wave.size(); ++i) wave[i] = 0.3f * std::sin(0.07f * static_cast<float>(i));
    std::vector<float> a(3), b(3);
    e->predict_audio(wave.data(), 1, wave.size(), a.data());
    e->predict_audio(wave.data(), 1, 16000, b.data());
    check(a == b, name + ": audio longer than a clip is cut to clip_samples");
    check(throws_bkws([&] { e->predict_audio(wave.data(), 1, 0, a.data()); },
                      "audio input holds no samples"),
          name + ": audio of 0 samples refused");
    // NaN audio: logits NaN (where a float layer carries it) are blamed on the audio, not the
    // model; a network that binarizes the NaN first gives finite logits (the engine does not
    // scan audio per call: the readers refuse it)
    wave[123] = std::nanf("");
    std::string msg = "(finite)";
    try {
      e->predict_audio(wave.data(), 1, 16000, a.data());
    } catch (const BkwsError& err) {
      msg = err.what();
    }
    check(msg == "(finite)" || msg.find("audio input clip 0 contains NaN or infinite samples") !=
                                   std::string::npos,
          name + ": non-finite logits from NaN audio blame the audio (" + msg + ")");
  }
}

void test_corrupt() {
  const auto good = fuzz::random_model(5, Kind::bifsmnv2);
  const std::string name = "model.bkws";
  auto load = [&](const std::vector<std::uint8_t>& f) {
    return [f, &name] { Engine::load_bytes(f.data(), f.size(), name); };
  };
  bool all = true;
  const std::size_t step = std::max<std::size_t>(1, good.size() / 400);
  for (std::size_t n = 0; n < good.size(); n += step) {
    std::vector<std::uint8_t> f(good.begin(), good.begin() + static_cast<long>(n));
    std::string msg;
    all = all && throws_bkws(load(f), "model.bkws: ", &msg);
  }
  check(all, "every truncation is a BkwsError naming the file");
  all = true;
  std::mt19937_64 rng(3);
  for (int i = 0; i < 300; ++i) {
    auto f = good;
    f[32 + rng() % (f.size() - 32)] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
    all = all && throws_bkws(load(f), "checksum");
  }
  check(all, "payload bit flips are caught by the CRC");
  auto v6 = good;
  v6[8] = 6;
  fuzz::fix_header(v6);
  check(throws_bkws(load(v6), "format version 6 not supported"), "future version rejected");
  auto magic = good;
  magic[0] = 'X';
  check(throws_bkws(load(magic), "bad magic"), "bad magic rejected");
  auto hdr = good;
  hdr[13] ^= 1;  // header size field, header CRC not fixed
  check(throws_bkws(load(hdr), "header checksum"), "header corruption rejected");
  check(throws_bkws([] { Engine::load_file("/nonexistent/x.bkws"); }, "/nonexistent/x.bkws: cannot open"),
        "missing file");
  // valid container, inconsistent content: a shape changed (arch says dim 16)
  fuzz::SmallArch other;
  other.dim = 20;
  auto shapes = fuzz::random_model(5, Kind::bifsmnv2, other);
  // patch arch[6] (dim) back to 16 so records no longer match
  const char key[] = "arch";
  auto it = std::search(shapes.begin(), shapes.end(), key, key + 4);
  const std::size_t at = static_cast<std::size_t>(it - shapes.begin()) + 4 + 4 + 4 + 8 + 6 * 4;
  std::int32_t dim = 16;
  std::memcpy(shapes.data() + at, &dim, 4);
  fuzz::fix_header(shapes);
  check(throws_bkws(load(shapes), "has shape"), "record shapes inconsistent with arch rejected");
}

// Direct-definition log-mel (double precision DFT) for a few frames.
// Windows of `stream` every `hop` samples (zeros before the stream) through one FrameCache,
// against each window computed in full; skips every fifth window (as the gate does) and clears
// the cache once. Checks that the features are equal and that rows were reused iff `shares`.
void check_stream_cache(Engine& e, const std::vector<float>& stream, int hop, bool shares,
                        const std::string& what) {
  const int n = e.feature_config().clip_samples;
  const std::size_t per = static_cast<std::size_t>(e.n_mels()) * e.frames();
  const std::int64_t total_len = static_cast<std::int64_t>(stream.size());
  auto cache = e.new_frame_cache();
  bool same = true;
  std::vector<float> full(per), cached(per), w(n);
  int windows = 0;
  for (std::int64_t start = -n + hop; start + n <= total_len; start += hop) {
    if (windows == 7) cache->clear();
    if (windows++ % 5 == 3) continue;  // a window the gate skipped
    for (int i = 0; i < n; ++i) {
      const std::int64_t p = start + i;
      w[i] = p >= 0 ? stream[static_cast<std::size_t>(p)] : 0.0f;
    }
    e.compute_features(w.data(), 1, n, full.data());
    e.compute_features_at(w.data(), 1, &start, *cache, cached.data());
    same = same && full == cached;
  }
  check(same && (cache->hits() > 0) == shares,
        what + " stream, hop " + std::to_string(hop) + ": cached == full (" +
            std::to_string(cache->hits()) + " rows reused, " + std::to_string(cache->misses()) +
            " computed)");
}

void test_logmel() {
  const auto file = fuzz::random_model(1, Kind::bifsmn_v1);
  auto e = Engine::load_bytes(file.data(), file.size(), "m.bkws");
  const int n = 16000, nfft = 2048, hop = 512, nm = 32, frames = 32, half = nfft / 2;
  std::vector<float> wave(n);
  std::mt19937_64 rng(9);
  std::normal_distribution<double> nd;
  for (int i = 0; i < n; ++i) {
    wave[i] = static_cast<float>(0.3 * std::sin(2 * kPi * 440.0 * i / 16000) +
                                 0.2 * std::sin(2 * kPi * 3100.0 * i / 16000) + 0.02 * nd(rng));
  }
  std::vector<float> got(nm * frames);
  e->compute_features(wave.data(), 1, n, got.data());
  auto mel = [](double f) { return 2595.0 * std::log10(1.0 + f / 700.0); };
  auto hz = [](double m) { return 700.0 * (std::pow(10.0, m / 2595.0) - 1.0); };
  std::vector<double> edges(nm + 2);
  for (int i = 0; i < nm + 2; ++i) edges[i] = hz(mel(8000.0) * i / (nm + 1));
  double win2 = 0;
  std::vector<double> win(nfft);
  for (int i = 0; i < nfft; ++i) {
    win[i] = 0.5 - 0.5 * std::cos(2 * kPi * i / nfft);
    win2 += win[i] * win[i];
  }
  double worst = 0;
  for (int t : {0, 1, 15, 30, 31}) {
    std::vector<double> fr(nfft);
    for (int i = 0; i < nfft; ++i) {
      int j = t * hop + i - half;
      if (j < 0) j = -j;
      if (j >= n) j = 2 * (n - 1) - j;
      fr[i] = wave[j] * win[i];
    }
    std::vector<double> power(half + 1);
    for (int k = 0; k <= half; ++k) {
      double re = 0, im = 0;
      for (int i = 0; i < nfft; ++i) {
        const double ph = 2 * kPi * static_cast<double>((static_cast<long>(k) * i) % nfft) / nfft;
        re += fr[i] * std::cos(ph);
        im -= fr[i] * std::sin(ph);
      }
      power[k] = (re * re + im * im) / win2;
    }
    for (int m = 0; m < nm; ++m) {
      double acc = 0;
      for (int k = 0; k <= half; ++k) {
        const double f = 8000.0 * k / half;
        const double w = std::max(0.0, std::min((f - edges[m]) / (edges[m + 1] - edges[m]),
                                                (edges[m + 2] - f) / (edges[m + 2] - edges[m + 1])));
        acc += w * power[k];
      }
      const double ref = 10 * std::log10(std::max(acc, 1e-10));
      worst = std::max(worst, std::fabs(ref - got[m * frames + t]));
    }
  }
  check(worst < 0.01, "log-mel vs direct double DFT: max error " + std::to_string(worst) + " dB");
  std::vector<float> zeros(n, 0.0f);
  e->compute_features(zeros.data(), 1, n, got.data());
  check(std::all_of(got.begin(), got.end(), [](float v) { return v == -100.0f; }),
        "silence maps to the 10*log10(amin) floor");

  // Streaming: interior frames (clear of the reflect padding) are shared between windows that
  // moved by whole 512-sample hops; every window through the cache == the window in full, for
  // hops that share (1536, 512), hops that do not (1600), skipped windows and a cleared cache.
  const int total_len = 4 * n;
  std::vector<float> stream(total_len);
  for (int i = 0; i < total_len; ++i) {
    stream[i] = static_cast<float>(0.2 * std::sin(2 * kPi * (300.0 + i * 0.01) * i / 16000.0) +
                                   0.05 * nd(rng));
  }
  for (int hop_samples : {1536, 512, 1600}) {
    check_stream_cache(*e, stream, hop_samples, hop_samples % hop == 0, "log-mel");
  }
}

std::vector<std::uint8_t> wav_bytes(int format, int channels, int rate, int bits,
                                    const std::vector<std::uint8_t>& data, bool extensible = false,
                                    std::int64_t declared = -1) {
  std::vector<std::uint8_t> f;
  auto put = [&](std::uint32_t v, int n) {
    for (int i = 0; i < n; ++i) f.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  };
  auto tag = [&](const char* s) { f.insert(f.end(), s, s + 4); };
  tag("RIFF");
  put(0, 4);
  tag("WAVE");
  tag("LIST");  // an unrelated chunk first, odd length (padded)
  put(3, 4);
  put(0, 4);
  tag("fmt ");
  put(extensible ? 40 : 16, 4);
  put(extensible ? 0xFFFE : format, 2);
  put(channels, 2);
  put(rate, 4);
  put(rate * channels * bits / 8, 4);
  put(channels * bits / 8, 2);
  put(bits, 2);
  if (extensible) {
    put(22, 2);
    put(bits, 2);
    put(0, 4);
    put(format, 2);
    for (int i = 0; i < 14; ++i) f.push_back(0);
  }
  tag("data");
  put(declared >= 0 ? static_cast<std::uint32_t>(declared) : static_cast<std::uint32_t>(data.size()), 4);
  f.insert(f.end(), data.begin(), data.end());
  return f;
}

void test_wav() {
  std::vector<std::uint8_t> pcm;
  for (std::int16_t v : {std::int16_t{0}, std::int16_t{16384}, std::int16_t{-32768}, std::int16_t{32767}}) {
    pcm.push_back(static_cast<std::uint8_t>(v & 0xFF));
    pcm.push_back(static_cast<std::uint8_t>((v >> 8) & 0xFF));
  }
  auto f = wav_bytes(1, 1, 16000, 16, pcm);
  Wave w = parse_wav(f.data(), f.size(), "a.wav");
  check(w.sample_rate == 16000 && w.channels == 1 && w.mono.size() == 4 && w.mono[1] == 0.5f &&
            w.mono[2] == -1.0f,
        "wav: PCM16 mono");
  std::vector<std::uint8_t> fl;
  for (float v : {0.5f, -0.5f, 1.0f, 0.0f}) {
    std::uint8_t b4[4];
    std::memcpy(b4, &v, 4);
    for (std::uint8_t c : b4) fl.push_back(c);
  }
  f = wav_bytes(3, 2, 16000, 32, fl, true);
  w = parse_wav(f.data(), f.size(), "b.wav");
  check(w.channels == 2 && w.mono.size() == 2 && w.mono[0] == 0.0f && w.mono[1] == 0.5f,
        "wav: float32 stereo (EXTENSIBLE) downmixed");
  f = wav_bytes(1, 1, 16000, 16, pcm, false, 100);
  check(throws_bkws([&] { parse_wav(f.data(), f.size(), "c.wav"); }, "c.wav: truncated WAV"),
        "wav: truncated data chunk");
  f = wav_bytes(1, 1, 16000, 8, pcm);
  check(throws_bkws([&] { parse_wav(f.data(), f.size(), "d.wav"); }, "unsupported sample format"),
        "wav: 8-bit rejected");
  check(throws_bkws([&] { parse_wav(pcm.data(), pcm.size(), "e.wav"); }, "not a RIFF/WAVE"),
        "wav: not a wav");
  bool all = true;
  f = wav_bytes(1, 2, 16000, 16, pcm);
  for (std::size_t n = 0; n < f.size(); ++n) {
    try {
      parse_wav(f.data(), n, "t.wav");
    } catch (const BkwsError&) {
    } catch (...) {
      all = false;
    }
  }
  check(all, "wav: every truncation handled");
  // read_wav(path, max_frames): the header and the first frames only; frames is the file's count
  std::vector<std::uint8_t> many;
  for (int i = 0; i < 1000; ++i) {
    const std::int16_t v = static_cast<std::int16_t>(i * 7);
    many.push_back(static_cast<std::uint8_t>(v & 0xFF));
    many.push_back(static_cast<std::uint8_t>((v >> 8) & 0xFF));
  }
  f = wav_bytes(1, 1, 16000, 16, many);
  const char* tmpdir = std::getenv("TMPDIR");
  const std::string tmp = std::string(tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp") +
                          "/bifsmn_test_engine_" + std::to_string(std::random_device{}()) + ".wav";
  {
    std::FILE* out = std::fopen(tmp.c_str(), "wb");
    std::fwrite(f.data(), 1, f.size(), out);
    std::fclose(out);
  }
  const Wave whole = read_wav(tmp), part = read_wav(tmp, 100), more = read_wav(tmp, 5000);
  const Wave huge = read_wav(tmp, std::size_t{1} << 30);
  check(whole.mono.size() == 1000 && whole.frames == 1000 && part.mono.size() == 100 &&
            part.frames == 1000 && part.cut && !whole.cut && more.mono.size() == 1000 &&
            more.frames == 1000 && !more.cut && huge.mono == whole.mono &&
            std::equal(part.mono.begin(), part.mono.end(), whole.mono.begin()),
        "wav: read_wav with max_frames reads the first frames and counts them all");
  check(throws_bkws([&] { read_wav(tmp, 0); }, "max_frames must be at least 1"),
        "wav: read_wav with max_frames 0 refused by name");
  f = wav_bytes(1, 1, 16000, 16, many, false, 4000);  // declares more than the file holds
  {
    std::FILE* out = std::fopen(tmp.c_str(), "wb");
    std::fwrite(f.data(), 1, f.size(), out);
    std::fclose(out);
  }
  check(throws_bkws([&] { read_wav(tmp, 100); }, "truncated WAV"),
        "wav: read_wav with max_frames still finds a truncated file");
  {
    std::FILE* out = std::fopen(tmp.c_str(), "wb");
    std::fwrite(pcm.data(), 1, pcm.size(), out);
    std::fwrite(many.data(), 1, many.size(), out);
    std::fclose(out);
  }
  check(throws_bkws([&] { read_wav(tmp, 100); }, "not a RIFF/WAVE file"),
        "wav: read_wav refuses a non-WAV before walking it");
  std::remove(tmp.c_str());
}

// The fbank40 front end against a direct double-precision DFT of the definition
// (docs/fbank40.md), a 40 x 32 model on it, and the version 1 format (no feat.kind).
void test_fbank40() {
  fuzz::SmallArch fb;
  fb.n_mels = 40, fb.fbank40 = true;
  const auto file = fuzz::random_model(5, Kind::bifsmnv2, fb);
  auto e = Engine::load_bytes(file.data(), file.size(), "fb.bkws");
  check(e->feature_config().kind == "fbank40" && e->n_mels() == 40 && e->frames() == 32,
        "fbank40: file loads with its front end, input 40 x 32");
  const int n = 16000, L = 480, hop = 160, nfft = 512, nm = 40, frames = 32;
  std::vector<float> wave(n);
  std::mt19937_64 rng(19);
  std::normal_distribution<double> nd;
  for (int i = 0; i < n; ++i) {
    const double t = i / 16000.0;
    wave[i] = static_cast<float>(0.3 * std::sin(2 * kPi * 440.0 * t) +
                                 0.1 * std::sin(2 * kPi * (300.0 * t + 1500.0 * t * t)) +
                                 0.01 * nd(rng));
    if (i > 12000) wave[i] = 0.0f;  // digital silence at the end: values 0
  }
  std::vector<float> got(nm * frames);
  e->compute_features(wave.data(), 1, n, got.data());
  auto mel = [](double f) { return 1127.0 * std::log(1.0 + f / 700.0); };
  std::vector<double> edges(nm + 2);
  for (int i = 0; i < nm + 2; ++i) edges[i] = mel(4000.0) * i / (nm + 1);
  std::vector<double> win(L);
  for (int i = 0; i < L; ++i) win[i] = std::pow(0.5 - 0.5 * std::cos(2 * kPi * i / (L - 1)), 0.85);
  int equal = 0, total = 0, worst = 0;
  for (int t : {0, 7, 20, 31}) {  // pooled step t = image frames 1 + 3t .. 3 + 3t
    std::vector<int> sum(nm, 0);
    for (int f = 1 + 3 * t; f < 4 + 3 * t; ++f) {
      std::vector<double> power(nfft / 2 + 1);
      for (int k = 0; k <= nfft / 2; ++k) {
        double re = 0, im = 0;
        for (int i = 0; i < L; ++i) {
          const double x = 32768.0 * wave[f * hop + i] * win[i];
          const double ph = 2 * kPi * static_cast<double>((k * i) % nfft) / nfft;
          re += x * std::cos(ph);
          im -= x * std::sin(ph);
        }
        power[k] = re * re + im * im;
      }
      for (int m = 0; m < nm; ++m) {
        double energy = 0;
        for (int k = 1; k < nfft / 2; ++k) {
          const double x = mel(16000.0 * k / nfft);
          if (x <= edges[m] || x >= edges[m + 2]) continue;
          const double w = x <= edges[m + 1] ? (x - edges[m]) / (edges[m + 1] - edges[m])
                                             : (edges[m + 2] - x) / (edges[m + 2] - edges[m + 1]);
          energy += w * power[k];
        }
        const double v = std::nearbyint(10.0673 * std::log1p(energy / 540.0));
        sum[m] += static_cast<int>(std::min(255.0, std::max(0.0, v)));
      }
    }
    for (int m = 0; m < nm; ++m) {
      const float ref = static_cast<float>(sum[m]) * static_cast<float>(1.0 / 96.0);
      const float g = got[m * frames + t];
      const int d = std::abs(static_cast<int>(std::lrint(g * 96.0)) - sum[m]);
      worst = std::max(worst, d);
      equal += g == ref;
      ++total;
    }
  }
  char buf[160];
  std::snprintf(buf, sizeof buf,
                "fbank40: C++ front end vs direct DFT: %d of %d pooled values bit-identical, "
                "max diff %d (uint8 units)", equal, total, worst);
  check(equal >= total - 1 && worst <= 1, buf);
  std::vector<float> a(3), b(3);
  e->predict_audio(wave.data(), 1, n, a.data());
  e->predict_features(got.data(), 1, b.data());
  check(a == b, "fbank40: predict_audio == predict_features(compute_features) (bitwise)");
  // short audio is zero-padded on the right like fix_length
  std::vector<float> shortw(wave.begin(), wave.begin() + 7000), padded(wave);
  std::fill(padded.begin() + 7000, padded.end(), 0.0f);
  std::vector<float> fs(nm * frames), fp(nm * frames);
  e->compute_features(shortw.data(), 1, shortw.size(), fs.data());
  e->compute_features(padded.data(), 1, padded.size(), fp.data());
  check(fs == fp, "fbank40: short audio == the zero-padded clip");

  // Streaming: windows of one stream through a FrameCache == each window computed in full,
  // for hops that are a multiple of the frame hop (rows reused), hops that are not (nothing
  // shared: every row recomputed), a gap (windows skipped), and a cleared cache.
  {
    const int total_len = 5 * n;
    std::vector<float> stream(total_len);
    for (int i = 0; i < total_len; ++i) {
      stream[i] = static_cast<float>(0.2 * std::sin(2 * kPi * (200.0 + i * 0.01) * i / 16000.0) +
                                     0.05 * nd(rng));
    }
    for (int hop_samples : {1600, 800, 1000, 16000}) {
      check_stream_cache(*e, stream, hop_samples, hop_samples % 160 == 0 && hop_samples < n,
                         "fbank40");
    }
    auto other = Engine::load_bytes(file.data(), file.size(), "fb2.bkws");
    auto foreign = other->new_frame_cache();
    std::int64_t zero = 0;
    bool refused = false;
    try {
      e->compute_features_at(wave.data(), 1, &zero, *foreign, got.data());
    } catch (const BkwsError&) {
      refused = true;
    }
    check(refused, "fbank40: a frame cache of another engine is refused");
  }

  fuzz::SmallArch v1;
  v1.version = 1;
  const auto old = fuzz::random_model(6, Kind::bifsmn_v1, v1);
  auto eo = Engine::load_bytes(old.data(), old.size(), "old.bkws");
  check(eo->feature_config().kind == "logmel32" && eo->n_mels() == 32,
        "version 1 file (no feat.kind) loads as logmel32");
  fuzz::SmallArch wrong = fb;
  wrong.frames = 16;  // fbank40 settings give 32 frames, the network takes 16
  const auto mis = fuzz::random_model(7, Kind::bifsmnv2, wrong);
  check(throws_bkws([&] { Engine::load_bytes(mis.data(), mis.size(), "mis.bkws"); },
                    "does not produce the model's input size"),
        "fbank40 settings that do not fit the network are rejected");
}

void test_fuzz(long runs) {
  std::vector<std::vector<std::uint8_t>> seeds;
  for (Kind k : {Kind::bifsmnv2, Kind::bifsmn_v1, Kind::dfsmn_teacher, Kind::dfsmn_thinnable}) {
    seeds.push_back(fuzz::random_model(11, k));
  }
  fuzz::SmallArch fb;
  fb.n_mels = 40, fb.fbank40 = true;
  seeds.push_back(fuzz::random_model(12, Kind::bifsmnv2, fb));
  std::mt19937_64 rng(99);
  long loaded = 0;
  for (long i = 0; i < runs; ++i) {
    const auto m = fuzz::mutate(seeds[rng() % seeds.size()], rng);
    loaded += fuzz::exercise(m.data(), m.size());
  }
  check(true, "fuzz: " + std::to_string(runs) + " mutated files, " + std::to_string(loaded) +
                  " loaded and ran, no crash");
}

}  // namespace

// The whole network (and the fbank40 front end) at every vector width this CPU runs
// (ops/simd.h): binary models must give the same bits at each, fused layers included.
void test_widths() {
  fuzz::SmallArch fb;
  fb.n_mels = 40, fb.fbank40 = true;
  struct Case {
    std::string name;
    std::vector<std::uint8_t> file;
    std::size_t per;
  };
  const std::vector<Case> cases = {
      {"bifsmnv2", fuzz::random_model(42, Kind::bifsmnv2), 32 * 32},
      {"bifsmn_v1", fuzz::random_model(43, Kind::bifsmn_v1), 32 * 32},
      {"bifsmnv2 fbank40", fuzz::random_model(44, Kind::bifsmnv2, fb), 40 * 32}};
  const std::size_t B = 3, n = 16000;
  std::vector<float> wave(B * n);
  std::mt19937_64 rng(23);
  std::normal_distribution<float> nd(0.0f, 0.1f);
  for (float& v : wave) v = nd(rng);
  int widths = 0;
  for (const Case& c : cases) {
    std::mt19937_64 frng(29);
    std::normal_distribution<float> fd(-35.0f, 12.0f);
    std::vector<float> x(B * c.per);
    for (float& v : x) v = fd(frng);
    std::vector<std::vector<float>> ref;  // per path: logits from features, then from audio
    bool same = true;
    widths = 0;
    for (const int w : {4, 8, 16}) {
      if (w > ops::simd::best_width()) continue;
      ops::simd::set_width(w);
      ++widths;
      auto e = Engine::load_bytes(c.file.data(), c.file.size(), c.name + ".bkws");
      const auto paths = e->available_blocks();
      for (std::size_t i = 0; i < paths.size(); ++i) {
        e->set_blocks(paths[i]);
        std::vector<float> out(2 * B * e->num_classes());
        e->predict_features(x.data(), B, out.data());
        e->predict_audio(wave.data(), B, n, out.data() + B * e->num_classes());
        if (ref.size() <= i) {
          ref.push_back(out);
        } else {
          same = same && out == ref[i];
        }
      }
    }
    ops::simd::set_width(0);
    check(same, c.name + ": logits from features and from audio bit-identical at " +
                    std::to_string(widths) + " vector widths, every path");
  }
}

int main(int argc, char** argv) {
  const long fuzz_runs = argc > 1 ? std::atol(argv[1]) : 2000;
  std::printf("test_engine: kernels available:");
  for (auto k : available_kernels()) std::printf(" %.*s", static_cast<int>(k.size()), k.data());
  std::printf("; active kernel %s\n", active_kernel_name());
  try {
    test_primitives();
    test_models();
    test_corrupt();
    test_logmel();
    test_fbank40();
    test_widths();
    test_wav();
    test_fuzz(fuzz_runs);
  } catch (const std::exception& e) {
    check(false, std::string("unexpected exception: ") + e.what());
  }
  return bifsmn::testing::report("test_engine");
}
