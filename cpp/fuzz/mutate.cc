#include "mutate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>

#include "bifsmn/engine.h"

namespace bifsmn::fuzz {

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::bifsmnv2: return "bifsmnv2";
    case Kind::bifsmn_v1: return "bifsmn_v1";
    case Kind::dfsmn_teacher: return "dfsmn_teacher";
    case Kind::dfsmn_thinnable: return "dfsmn_thinnable";
  }
  return "?";
}

namespace {

struct Writer {
  std::vector<std::uint8_t> payload;
  std::uint32_t count = 0;
  std::mt19937_64 rng;

  explicit Writer(std::uint64_t seed) : rng(seed) {}

  template <class T>
  void put(T v) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(&v);
    payload.insert(payload.end(), p, p + sizeof v);
  }
  void record(const std::string& name, std::uint8_t dtype, std::vector<std::uint32_t> shape,
              const void* data, std::size_t nbytes) {
    put<std::uint8_t>(static_cast<std::uint8_t>(name.size()));
    payload.insert(payload.end(), name.begin(), name.end());
    put<std::uint8_t>(dtype);
    put<std::uint8_t>(static_cast<std::uint8_t>(shape.size()));
    put<std::uint16_t>(0);
    for (std::uint32_t d : shape) put<std::uint32_t>(d);
    put<std::uint64_t>(nbytes);
    const auto* p = static_cast<const std::uint8_t*>(data);
    payload.insert(payload.end(), p, p + nbytes);
    ++count;
  }
  void text(const std::string& name, const std::string& s) {
    record(name, 1, {static_cast<std::uint32_t>(s.size())}, s.data(), s.size());
  }
  void ints(const std::string& name, const std::vector<std::int32_t>& v) {
    record(name, 2, {static_cast<std::uint32_t>(v.size())}, v.data(), 4 * v.size());
  }
  void f64(const std::string& name, const std::vector<double>& v) {
    record(name, 6, {static_cast<std::uint32_t>(v.size())}, v.data(), 8 * v.size());
  }
  void f32(const std::string& name, std::vector<std::uint32_t> shape, float lo, float hi) {
    std::size_t n = 1;
    for (std::uint32_t d : shape) n *= d;
    std::uniform_real_distribution<float> u(lo, hi);
    std::vector<float> v(n);
    for (float& x : v) x = u(rng);
    record(name, 3, std::move(shape), v.data(), 4 * n);
  }
  void bits(const std::string& name, std::uint32_t rows, std::uint32_t k) {
    const std::size_t row_bytes = (k + 7) / 8;
    std::vector<std::uint8_t> v(rows * row_bytes);
    for (std::uint32_t r = 0; r < rows; ++r) {
      for (std::uint32_t i = 0; i < k; ++i) {
        if (rng() & 1) v[r * row_bytes + i / 8] |= static_cast<std::uint8_t>(1u << (i % 8));
      }
    }
    record(name, 5, {rows, k}, v.data(), v.size());
  }
  std::vector<std::uint8_t> finish(std::uint32_t version) {
    std::vector<std::uint8_t> file(32, 0);
    const char magic[8] = {'B', 'K', 'W', 'S', '\r', '\n', '\x1a', '\n'};
    std::memcpy(file.data(), magic, 8);
    const std::uint32_t hsize = 32;
    std::memcpy(file.data() + 8, &version, 4);
    std::memcpy(file.data() + 12, &hsize, 4);
    file.insert(file.end(), reinterpret_cast<const std::uint8_t*>(&count),
                reinterpret_cast<const std::uint8_t*>(&count) + 4);
    file.insert(file.end(), payload.begin(), payload.end());
    fix_header(file);
    return file;
  }
};

}  // namespace

void fix_header(std::vector<std::uint8_t>& file) {
  if (file.size() < 32) return;
  const std::uint64_t psize = file.size() - 32;
  std::memcpy(file.data() + 16, &psize, 8);
  const std::uint32_t pcrc = crc32(file.data() + 32, file.size() - 32);
  std::memcpy(file.data() + 24, &pcrc, 4);
  const std::uint32_t hcrc = crc32(file.data(), 28);
  std::memcpy(file.data() + 28, &hcrc, 4);
}

std::vector<std::uint8_t> random_model(std::uint64_t seed, Kind kind, const SmallArch& a) {
  Writer w(seed);
  const bool binary = kind == Kind::bifsmnv2 || kind == Kind::bifsmn_v1;
  const bool dual = kind == Kind::bifsmnv2;
  const int model_paths = kind == Kind::dfsmn_teacher ? 1 : 4;
  const std::uint32_t c1 = a.c1, c2 = a.c2, kk = a.k * a.k, dim = a.dim, hid = a.hidden;
  const std::uint32_t f1 = a.c2 * a.n_mels / 4, taps = a.left + a.right + 1;
  w.text("meta.kind", kind_name(kind));
  w.text("meta.method", binary ? kind_name(kind) : "none");
  std::string labels;
  for (int i = 0; i < a.classes; ++i) labels += (i ? "\n" : "") + std::string("c") + std::to_string(i);
  w.text("meta.labels", labels);
  w.text("meta.json", "{\"source\": \"random\"}");
  w.ints("arch", {a.classes, a.n_mels, a.frames, a.c1, a.c2, a.k, a.dim, a.hidden, a.layers,
                  a.left, a.right, model_paths});
  std::vector<std::int32_t> paths;
  for (int p = 0; p < model_paths; ++p) paths.push_back(p);
  w.ints("paths", paths);
  if (a.fbank40) {
    w.text("feat.kind", "fbank40");
    // sample_rate, clip_samples, frame_length, hop_length, n_fft, n_mels, pool
    w.ints("feat.i", {16000, 16000, 480, 160, 512, a.n_mels, 3});
    // f_min, f_max, window_power, log_scale, log_offset, input_scale
    w.f64("feat.f", {0.0, 4000.0, 0.85, 10.0673, 540.0, 1.0 / 96.0});
  } else {
    if (a.version >= 2) w.text("feat.kind", "logmel32");
    w.ints("feat.i", {16000, 16000, 2048, 512, a.n_mels});
    w.f64("feat.f", {0.0, 8000.0, 1e-10});
  }
  w.f32("conv1.w", {c1, kk}, -0.05f, 0.05f);
  w.f32("conv1.b", {c1}, -0.5f, 0.5f);
  for (const char* s : {"act1", "act2", "act3"}) w.f32(s, {1}, -0.1f, 0.4f);
  auto binlin = [&](const std::string& n, std::uint32_t out, std::uint32_t in, std::uint32_t tau_ch,
                    bool affine) {
    w.bits(n + ".bits", out, in);
    if (dual) w.f32(n + ".tau", {2, tau_ch}, -0.3f, 0.3f);
    if (affine) {
      w.f32(n + ".scale", {out}, 0.01f, 0.2f);
      w.f32(n + ".bias", {out}, -0.5f, 0.5f);
    }
  };
  if (binary) {
    binlin("conv2", c2, c1 * kk, c1, true);
    if (dual) w.f32("conv2.tau2", {c1}, -0.3f, 0.3f);
    binlin("fc1", dim, f1, f1, true);
  } else {
    w.f32("conv2.w", {c2, c1 * kk}, -0.1f, 0.1f);
    w.f32("conv2.b", {c2}, -0.5f, 0.5f);
    w.f32("fc1.w", {dim, f1}, -0.1f, 0.1f);
    w.f32("fc1.b", {dim}, -0.5f, 0.5f);
  }
  for (int j = 0; j < a.layers; ++j) {
    const std::string pre = "b" + std::to_string(j);
    w.f32(pre + ".act_m", {1}, -0.1f, 0.4f);
    w.f32(pre + ".act_h", {1}, -0.1f, 0.4f);
    if (binary) {
      w.bits(pre + ".mem.bits", dim, taps);
      if (dual) w.f32(pre + ".mem.tau", {2, dim}, -0.3f, 0.3f);
      w.f32(pre + ".mem.scale", {dim}, 0.05f, 0.3f);
      w.f32(pre + ".mem.bias", {dim}, -0.5f, 0.5f);
      binlin(pre + ".fc_in", hid, dim, dim, true);
      binlin(pre + ".fc_out", dim, hid, hid, false);
    } else {
      w.f32(pre + ".mem.w", {dim, taps}, -0.3f, 0.3f);
      w.f32(pre + ".mem.b", {dim}, -0.5f, 0.5f);
      w.f32(pre + ".fc_in.w", {hid, dim}, -0.3f, 0.3f);
      w.f32(pre + ".fc_in.b", {hid}, -0.5f, 0.5f);
      w.f32(pre + ".fc_out.w", {dim, hid}, -0.3f, 0.3f);
    }
    for (int p = 0; p < model_paths; ++p) {
      if ((j + 1) % (1 << p) != 0) continue;
      const std::string ps = ".p" + std::to_string(p);
      w.f32(pre + ".fc_out.scale" + ps, {dim}, 0.01f, 0.2f);
      w.f32(pre + ".fc_out.bias" + ps, {dim}, -0.5f, 0.5f);
      w.f32(pre + ".act_p" + ps, {1}, -0.1f, 0.4f);
    }
  }
  w.f32("classifier.w", {static_cast<std::uint32_t>(a.classes), dim * (a.frames / 4)}, -0.2f, 0.2f);
  w.f32("classifier.b", {static_cast<std::uint32_t>(a.classes)}, -0.5f, 0.5f);
  return w.finish(static_cast<std::uint32_t>(a.version));
}

std::vector<std::uint8_t> mutate(const std::vector<std::uint8_t>& seed, std::mt19937_64& rng) {
  std::vector<std::uint8_t> f = seed;
  auto pick = [&](std::size_t n) { return n ? static_cast<std::size_t>(rng() % n) : 0; };
  const int ops = 1 + static_cast<int>(rng() % 4);
  for (int op = 0; op < ops && !f.empty(); ++op) {
    switch (rng() % 9) {
      case 0:  // flip a bit
        f[pick(f.size())] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
        break;
      case 1:  // random byte
        f[pick(f.size())] = static_cast<std::uint8_t>(rng());
        break;
      case 2:  // truncate
        f.resize(pick(f.size() + 1));
        break;
      case 3: {  // insert bytes
        const std::size_t at = pick(f.size() + 1), n = 1 + pick(16);
        std::vector<std::uint8_t> ins(n);
        for (auto& b : ins) b = static_cast<std::uint8_t>(rng());
        f.insert(f.begin() + static_cast<long>(at), ins.begin(), ins.end());
        break;
      }
      case 4: {  // erase bytes
        const std::size_t at = pick(f.size()), n = 1 + pick(16);
        f.erase(f.begin() + static_cast<long>(at),
                f.begin() + static_cast<long>(std::min(f.size(), at + n)));
        break;
      }
      case 5: {  // interesting 32-bit value somewhere (shapes, counts, sizes)
        static const std::uint32_t vals[] = {0, 1, 2, 3, 4, 7, 8, 63, 64, 65, 255, 256, 0x7FFFFFFF,
                                             0x80000000u, 0xFFFFFFFFu, 1u << 20};
        if (f.size() >= 4) {
          const std::uint32_t v = vals[pick(sizeof vals / sizeof vals[0])];
          std::memcpy(f.data() + pick(f.size() - 3), &v, 4);
        }
        break;
      }
      case 6: {  // float specials inside data
        static const float vals[] = {0.0f, -0.0f, 1e30f, -1e30f, 1e-40f, 3.0f, -3.0f,
                                     std::numeric_limits<float>::infinity(),
                                     std::numeric_limits<float>::quiet_NaN()};
        if (f.size() >= 4) {
          const float v = vals[pick(sizeof vals / sizeof vals[0])];
          std::memcpy(f.data() + pick(f.size() - 3), &v, 4);
        }
        break;
      }
      case 7: {  // duplicate a chunk (repeats record-like byte patterns)
        if (f.size() > 40) {
          const std::size_t a = 32 + pick(f.size() - 32), n = 1 + pick(64);
          const std::size_t b = std::min(f.size(), a + n);
          std::vector<std::uint8_t> chunk(f.begin() + static_cast<long>(a),
                                          f.begin() + static_cast<long>(b));
          f.insert(f.begin() + static_cast<long>(32 + pick(f.size() - 32)), chunk.begin(),
                   chunk.end());
        }
        break;
      }
      default: {  // small arithmetic on one byte
        std::uint8_t& b = f[pick(f.size())];
        b = static_cast<std::uint8_t>(b + (rng() % 2 ? 1 : -1));
        break;
      }
    }
  }
  if (rng() % 8 != 0) fix_header(f);  // mostly reach past the CRC checks
  return f;
}

bool exercise(const std::uint8_t* data, std::size_t size, bool audio) {
  std::unique_ptr<Engine> e;
  try {
    e = Engine::load_bytes(data, size, "fuzz.bkws", "portable");
  } catch (const BkwsError&) {
    return false;
  }
  std::vector<float> x(static_cast<std::size_t>(e->n_mels()) * e->frames() * 2);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = -40.0f + static_cast<float>(i % 17);
  std::vector<float> logits(2 * static_cast<std::size_t>(e->num_classes()));
  std::vector<float> wave(1000);
  for (std::size_t i = 0; i < wave.size(); ++i) wave[i] = std::sin(0.05f * static_cast<float>(i));
  // Property: a call either raises BkwsError (e.g. non-finite logits of a tampered model) or
  // returns finite logits; a NaN or inf that comes back is a bug (abort, so the fuzzer sees it).
  auto check = [&](std::size_t batch) {
    for (std::size_t i = 0; i < batch * static_cast<std::size_t>(e->num_classes()); ++i) {
      if (!std::isfinite(logits[i])) {
        std::fprintf(stderr, "fuzz: a loaded model returned a non-finite logit\n");
        std::abort();
      }
    }
  };
  for (int b : e->available_blocks()) {
    e->set_blocks(b);
    try {
      e->predict_features(x.data(), 2, logits.data());
      check(2);
    } catch (const BkwsError&) {
    }
  }
  if (!audio) return true;
  try {
    e->predict_audio(wave.data(), 1, wave.size(), logits.data());
    check(1);
  } catch (const BkwsError&) {
  }
  return true;
}

}  // namespace bifsmn::fuzz
