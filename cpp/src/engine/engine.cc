// The network of docs/binary-arithmetic.md on top of the core kernels.
//
// Data layout per call (B clips, T = frames/4 tokens per clip):
//   features (B, n_mels, frames) -> conv1 im2col rows (B*H1*W1, k*k) -> float
//   GEMM -> y1 (B*H1*W1, C1) -> conv2 (binary: bit planes + bit im2col +
//   popcount GEMM; FP: float im2col + float GEMM) -> tokens (B*T, C2*H2) ->
//   fc1 -> blocks on (B*T, dim) -> classifier on (B, T*dim).
// All rows of a batch go through each GEMM together (M = B*T or B*H2*W2).
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

#include "bifsmn/bitpack.h"
#include "bifsmn/engine.h"
#include "bifsmn/kernels.h"
#include "bkws.h"
#include "frontend.h"
#include "quant.h"

namespace bifsmn {

using detail::Container;

namespace {

enum class Mode { fp, sign, dual };

inline float act(float v, float a) {
  const float neg = a * v;  // computed unconditionally so loops vectorize
  return v >= 0.0f ? v : neg;
}

// Elementwise stages compiled for AVX-512, AVX2 and baseline x86-64, picked at load time by the
// CPU (GCC function multiversioning). Each clone performs the same float operations in the same
// order (vectorized across independent elements only; reductions keep their documented
// partial-sum order; no contraction), so every clone gives the same bits.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define BIFSMN_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define BIFSMN_CLONES
#endif

// One conv1 output channel in the deployed order (see Engine::Impl::conv1_fwd): for every
// position i, acc = w[0]*col[0][i], acc = acc + w[t]*col[t][i] for t = 1..k1-1, then
// act(acc + bias). Only the positions are vectorized, so every ISA clone computes the same
// floats (mul and add stay separate: -ffp-contract=off).
BIFSMN_CLONES
void conv1_channel_ordered(const float* __restrict__ w, const float* __restrict__ col,
                           std::size_t k1, std::size_t p1, float bias, float slope,
                           float* __restrict__ y) {
  constexpr std::size_t kChunk = 64;  // accumulators stay in registers across the taps
  for (std::size_t i0 = 0; i0 < p1; i0 += kChunk) {
    const std::size_t n = p1 - i0 < kChunk ? p1 - i0 : kChunk;
    float acc[kChunk];
    for (std::size_t i = 0; i < n; ++i) acc[i] = w[0] * col[i0 + i];
    for (std::size_t t = 1; t < k1; ++t) {
      const float wt = w[t];
      const float* ct = col + t * p1 + i0;
      for (std::size_t i = 0; i < n; ++i) acc[i] = acc[i] + wt * ct[i];
    }
    for (std::size_t i = 0; i < n; ++i) {
      const float z = acc[i] + bias;
      const float neg = slope * z;
      y[i0 + i] = z >= 0.0f ? z : neg;
    }
  }
}

// FSMN memory of one clip (Engine::Impl::memory_fwd): u = quantized padded frames, then per
// output frame acc = sum of taps in order, y = act(scale*acc + bias) + x.
BIFSMN_CLONES
void memory_clip(bool fp, bool dual, const float* xb, std::size_t t, std::size_t dim,
                 std::size_t left, std::size_t right, const float* w, const float* tau0,
                 const float* tau1, const float* pad, const float* scale, const float* bias,
                 float slope, float* ub, float* qd, float* qr, float* qa, float* yb) {
  const std::size_t taps = left + right + 1, tp = t + left + right;
  for (std::size_t f = 0; f < tp; ++f) {
    float* uf = ub + f * dim;
    if (f < left || f >= left + t) {
      if (fp) {
        std::fill(uf, uf + dim, 0.0f);
      } else {
        std::copy(pad, pad + dim, uf);
      }
      continue;
    }
    const float* v = xb + (f - left) * dim;
    if (fp) {
      std::copy(v, v + dim, uf);
    } else if (!dual) {
      for (std::size_t c = 0; c < dim; ++c) uf[c] = v[c] >= 0.0f ? 1.0f : -1.0f;
    } else {
      detail::dual_split(v, tau0, tau1, dim, qd, qr, qa);
      const float sf = detail::sum8(qa, dim) / static_cast<float>(dim);
      detail::dual_levels(qd, qr, sf, uf, dim);
    }
  }
  for (std::size_t tt = 0; tt < t; ++tt) {
    float* acc = qa;
    std::fill(acc, acc + dim, 0.0f);
    for (std::size_t kk = 0; kk < taps; ++kk) {
      detail::axpy(w + kk * dim, ub + (tt + kk) * dim, acc, dim);
    }
    detail::affine_act_res(acc, fp ? nullptr : scale, bias, slope, xb + tt * dim,
                           yb + tt * dim, dim);
  }
}

// Epilogue of `rows` rows of a binary linear layer (detail::epilogue per row).
BIFSMN_CLONES
void epilogue_rows(const std::int32_t* d1, const std::int32_t* d2, const float* s,
                   const float* scale, const float* bias, float slope, const float* res,
                   float* y, std::size_t rows, std::size_t n) {
  for (std::size_t r = 0; r < rows; ++r) {
    detail::epilogue(d1 + r * n, d2 ? d2 + r * n : nullptr, d2 ? s[r] : 0.0f, scale, bias,
                     slope, res ? res + r * n : nullptr, y + r * n, n);
  }
}

// conv2 dual-scale stage 1 for one clip: per input channel c the p1 values of that channel,
// thresholds tau0[c], tau1[c]; returns sum8 of |r| over the whole clip (channel-major order).
BIFSMN_CLONES
float conv2_dual_split(const float* v, const float* tau0, const float* tau1, std::size_t c1,
                       std::size_t p1, float* d, float* r, float* absr) {
  for (std::size_t c = 0; c < c1; ++c) {
    detail::dual_split_scalar(v + c * p1, tau0[c], tau1[c], p1, d + c * p1, r + c * p1,
                              absr + c * p1);
  }
  return detail::sum8(absr, c1 * p1);
}

// Path p runs block j iff (j + 1) % 2^p == 0 (bifsmn.models.dfsmn.path_blocks).
bool on_path(int j, int p) { return (j + 1) % (1 << p) == 0; }

struct Arch {
  int classes, n_mels, frames, c1, c2, k, dim, hidden, layers, left, right, model_paths;
  int pad() const { return k / 2; }
  int h1() const { return n_mels / 2; }
  int w1() const { return frames / 2; }
  int h2() const { return n_mels / 4; }
  int t() const { return frames / 4; }  // tokens = conv2 output columns
  int f1() const { return c2 * h2(); }
  int k1() const { return k * k; }
  int k2() const { return c1 * k * k; }
};

// A binarized Linear (or conv2 as a GEMM): packed weight rows + folded affine.
struct BinLinear {
  std::size_t in = 0, out = 0, words = 0;
  std::vector<std::uint64_t> w;
  std::vector<float> tau0, tau1;   // dual mode only
  std::vector<float> scale, bias;  // empty for fc_out (per path)
};

struct Block {
  bool present = false;
  // memory: taps x dim, +-1 (binary) or BN-folded weights (FP), tap-major
  std::vector<float> mem_w, mem_tau0, mem_tau1, mem_scale, mem_bias, mem_pad;
  float act_m = 0, act_h = 0;
  BinLinear fc_in, fc_out;                 // binary models
  std::vector<float> fc_in_w, fc_in_b;     // FP models (BN folded)
  std::vector<float> fc_out_w;             // FP models (bias folded per path)
  std::array<std::vector<float>, 4> out_scale, out_bias;
  std::array<float, 4> act_p{};
};

template <class T>
void grow(std::vector<T>& v, std::size_t n) {
  if (v.size() < n) v.resize(n);
}

using Clock = std::chrono::steady_clock;

}  // namespace

struct Engine::Impl {
  std::unique_ptr<Container> file;
  std::string kind, method, meta;
  std::vector<std::string> labels;
  FeatureConfig feat;
  std::unique_ptr<detail::FrontEnd> frontend;
  Arch a{};
  Mode mode = Mode::fp;
  std::vector<int> paths;
  int path = 0;
  const Kernel* kern = nullptr;   // binary GEMMs (and float GEMMs unless fkern differs)
  const Kernel* fkern = nullptr;  // float GEMMs

  // conv1 (FP, BN folded)
  std::vector<float> conv1_w, conv1_b;
  float act1 = 0, act2 = 0, act3 = 0;
  // conv2
  BinLinear conv2;                       // binary
  std::vector<float> conv2_corr;         // (H2*W2) x C2 border correction C (binary)
  std::vector<float> conv2_bias_pos;     // (H2*W2) x C2 folded bias incl. tau2 term
  std::vector<float> conv2_w, conv2_b;   // FP
  BinLinear fc1;
  std::vector<float> fc1_w, fc1_b;
  std::vector<Block> blocks;
  std::vector<float> cls_w, cls_b;

  // workspace
  std::size_t cap = 0;
  std::vector<float> qd, qr, qa;  // quantization scratch
  std::vector<float> col, y1, conv2_out, tok, h, m, hid, o, u, s, feats, clip;
  std::vector<std::uint64_t> planes, abits;
  std::vector<std::int32_t> dots;

  std::mutex mu;
  bool profiling = false;
  StageTimes times;

  void load();
  void load_binary_linear(BinLinear& L, const std::string& name, std::size_t in,
                          std::size_t out, bool affine);
  void build_conv2_tables(const std::vector<float>& tau2);
  void reserve(std::size_t batch);
  void run(const float* x, std::size_t batch, float* logits);
  void features(const float* wave, std::size_t batch, std::size_t samples, float* out);

  // layers
  void conv1_fwd(const float* x, std::size_t B);
  void classifier_exact(const float* x, std::size_t B, float* logits) const;
  void conv2_binary(std::size_t B);
  void conv2_fp(std::size_t B);
  void quantize_rows(const BinLinear& L, const float* x, std::size_t rows);
  void binary_gemm(const BinLinear& L, std::size_t rows);
  void linear_binary(const BinLinear& L, const float* x, std::size_t rows, const float* scale,
                     const float* bias, float slope, const float* res, float* y);
  void memory_fwd(const Block& b, const float* x, std::size_t B, float* y);
  void fp_linear(const float* x, const float* w, const float* bias, std::size_t rows,
                 std::size_t n, std::size_t k, float* y);
};

// --------------------------------------------------------------------- loading

void Engine::Impl::load_binary_linear(BinLinear& L, const std::string& name, std::size_t in,
                                      std::size_t out, bool affine) {
  const Container& f = *file;
  L.in = in;
  L.out = out;
  L.words = packed_row_words(in);
  L.w = f.bits(name + ".bits", out, in);
  if (affine) {
    L.scale = f.floats(name + ".scale", {static_cast<long long>(out)});
    L.bias = f.floats(name + ".bias", {static_cast<long long>(out)});
  }
}

namespace {
// The thinnable paths a file includes, as path indices p (path p runs layers >> p blocks).
// Version 3 stores block counts; versions 1-2 stored the indices themselves.
std::vector<int> path_list(const Container& f, int model_paths, int layers) {
  const detail::Record& r = f.require("paths", {detail::DType::i32}, {-1});
  std::vector<std::int32_t> raw = f.ints("paths", {static_cast<long long>(r.shape[0])});
  if (raw.empty()) f.fail("record 'paths' is empty");
  std::vector<int> out;
  for (std::int32_t v : raw) {
    int p = v;
    if (f.version() >= 3) {
      p = -1;
      for (int q = 0; q < model_paths && q <= 3; ++q) {
        if (v >= 1 && (layers >> q) == v) p = q;
      }
      if (p < 0) {
        f.fail("record 'paths' names " + std::to_string(v) +
               " blocks, which the model does not have");
      }
    }
    if (f.version() < 3 && p >= 0 && p <= 3 && p < model_paths && (layers >> p) < 1) continue;
    if (p < 0 || p >= model_paths || p > 3 || (layers >> p) < 1) {
      f.fail("record 'paths' names path " + std::to_string(p) + " the model does not have");
    }
    if (std::find(out.begin(), out.end(), p) != out.end()) f.fail("record 'paths' repeats a path");
    out.push_back(p);
  }
  if (out.empty()) f.fail("record 'paths' names no path that runs a block");
  std::sort(out.begin(), out.end());
  return out;
}
}  // namespace

void Engine::Impl::load() {
  const Container& f = *file;
  kind = f.text("meta.kind");
  method = f.text("meta.method");
  meta = f.has("meta.json") ? f.text("meta.json") : std::string("{}");
  if (kind == "bifsmnv2") {
    mode = Mode::dual;
  } else if (kind == "bifsmn_v1") {
    mode = Mode::sign;
  } else if (kind == "dfsmn_teacher" || kind == "dfsmn_thinnable") {
    mode = Mode::fp;
  } else {
    f.fail("unknown model kind '" + kind.substr(0, 40) + "'");
  }

  const std::vector<std::int32_t> ar = f.ints("arch", {12});
  a = Arch{ar[0], ar[1], ar[2], ar[3], ar[4], ar[5], ar[6], ar[7], ar[8], ar[9], ar[10], ar[11]};
  auto in_range = [](int v, int lo, int hi) { return v >= lo && v <= hi; };
  if (!in_range(a.classes, 1, 4096) || !in_range(a.n_mels, 4, 256) || a.n_mels % 4 ||
      !in_range(a.frames, 4, 256) || a.frames % 4 || !in_range(a.c1, 1, 1024) ||
      !in_range(a.c2, 1, 1024) || !in_range(a.k, 1, 15) || a.k % 2 == 0 ||
      !in_range(a.dim, 1, 16384) || !in_range(a.hidden, 1, 16384) || !in_range(a.layers, 1, 64) ||
      !in_range(a.left, 0, 32) || !in_range(a.right, 0, 32) || !in_range(a.model_paths, 1, 4)) {
    f.fail("record 'arch' describes an unsupported network");
  }
  if (mode != Mode::fp && a.w1() + 2 * a.pad() > 64) {
    f.fail("binary conv2 input wider than 64 padded columns is not supported");
  }
  paths = path_list(f, a.model_paths, a.layers);
  path = paths.front();

  // labels
  const std::string lab = f.text("meta.labels");
  labels.clear();
  std::size_t start = 0;
  for (;;) {
    const std::size_t nl = lab.find('\n', start);
    labels.push_back(lab.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  if (labels.size() != static_cast<std::size_t>(a.classes)) {
    f.fail("record 'meta.labels' has " + std::to_string(labels.size()) + " labels for " +
           std::to_string(a.classes) + " classes");
  }

  // features
  // Version 1 files have no feat.kind: the 32 x 32 log-mel. Version 2 files name the kind.
  feat = FeatureConfig{};
  feat.kind = f.version() >= 2 ? f.text("feat.kind") : std::string("logmel32");
  if (feat.kind == "logmel32") {
    const std::vector<std::int32_t> fi = f.ints("feat.i", {5});
    const std::vector<double> fd = f.doubles("feat.f", {3});
    feat.sample_rate = fi[0];
    feat.clip_samples = fi[1];
    feat.n_fft = fi[2];
    feat.hop_length = fi[3];
    feat.n_mels = fi[4];
    feat.f_min = fd[0];
    feat.f_max = fd[1];
    feat.amin = fd[2];
  } else if (feat.kind == "fbank40") {
    // feat.i: sample_rate, clip_samples, frame_length, hop_length, n_fft, n_mels, pool
    // feat.f: f_min, f_max, window_power, log_scale, log_offset, input_scale
    const std::vector<std::int32_t> fi = f.ints("feat.i", {7});
    const std::vector<double> fd = f.doubles("feat.f", {6});
    feat.sample_rate = fi[0];
    feat.clip_samples = fi[1];
    feat.frame_length = fi[2];
    feat.hop_length = fi[3];
    feat.n_fft = fi[4];
    feat.n_mels = fi[5];
    feat.pool = fi[6];
    feat.f_min = fd[0];
    feat.f_max = fd[1];
    feat.window_power = fd[2];
    feat.log_scale = fd[3];
    feat.log_offset = fd[4];
    feat.input_scale = fd[5];
    feat.amin = 0.0;
  } else {
    std::string shown;
    for (char c : feat.kind.substr(0, 40)) shown += (c >= 32 && c < 127) ? c : '?';
    f.fail("unknown feature kind '" + shown + "' (this engine knows logmel32, fbank40)");
  }
  if (feat.n_mels != a.n_mels || feat.hop_length < 1 || feat.pool < 1 ||
      feat.num_frames() != a.frames) {
    f.fail("feature configuration (" + feat.kind + ") does not produce the model's input size");
  }
  frontend = detail::make_frontend(feat, f.name());

  using LL = long long;
  const LL c1 = a.c1, c2 = a.c2, k1 = a.k1(), k2 = a.k2(), dim = a.dim, hid = a.hidden;
  conv1_w = f.floats("conv1.w", {c1, k1});
  conv1_b = f.floats("conv1.b", {c1});
  act1 = f.scalar("act1");
  act2 = f.scalar("act2");
  act3 = f.scalar("act3");
  auto taus = [&](BinLinear& L, const std::string& name, LL channels) {
    if (mode != Mode::dual) return;
    std::vector<float> t = f.floats(name + ".tau", {2, channels});
    L.tau0.assign(t.begin(), t.begin() + channels);
    L.tau1.assign(t.begin() + channels, t.end());
  };
  if (mode == Mode::fp) {
    conv2_w = f.floats("conv2.w", {c2, k2});
    conv2_b = f.floats("conv2.b", {c2});
    fc1_w = f.floats("fc1.w", {dim, a.f1()});
    fc1_b = f.floats("fc1.b", {dim});
  } else {
    load_binary_linear(conv2, "conv2", static_cast<std::size_t>(k2), static_cast<std::size_t>(c2),
                       true);
    taus(conv2, "conv2", c1);
    std::vector<float> tau2;
    if (mode == Mode::dual) tau2 = f.floats("conv2.tau2", {c1});
    build_conv2_tables(tau2);
    load_binary_linear(fc1, "fc1", static_cast<std::size_t>(a.f1()),
                       static_cast<std::size_t>(dim), true);
    taus(fc1, "fc1", a.f1());
  }

  blocks.assign(a.layers, Block{});
  const int taps = a.left + a.right + 1;
  for (int j = 0; j < a.layers; ++j) {
    bool used = false;
    for (int p : paths) used = used || on_path(j, p);
    if (!used) continue;
    Block& b = blocks[j];
    b.present = true;
    const std::string pre = "b" + std::to_string(j);
    b.act_m = f.scalar(pre + ".act_m");
    b.act_h = f.scalar(pre + ".act_h");
    b.mem_w.assign(static_cast<std::size_t>(taps) * a.dim, 0.0f);
    if (mode == Mode::fp) {
      std::vector<float> w = f.floats(pre + ".mem.w", {dim, taps});
      for (int c = 0; c < a.dim; ++c) {
        for (int t = 0; t < taps; ++t) b.mem_w[t * a.dim + c] = w[c * taps + t];
      }
      b.mem_bias = f.floats(pre + ".mem.b", {dim});
      b.fc_in_w = f.floats(pre + ".fc_in.w", {hid, dim});
      b.fc_in_b = f.floats(pre + ".fc_in.b", {hid});
      b.fc_out_w = f.floats(pre + ".fc_out.w", {dim, hid});
    } else {
      std::vector<std::uint64_t> bits = f.bits(pre + ".mem.bits", a.dim, taps);
      const std::size_t stride = packed_row_words(taps);
      for (int c = 0; c < a.dim; ++c) {
        for (int t = 0; t < taps; ++t) {
          b.mem_w[t * a.dim + c] = packed_bit(bits.data() + c * stride, t) ? -1.0f : 1.0f;
        }
      }
      b.mem_scale = f.floats(pre + ".mem.scale", {dim});
      b.mem_bias = f.floats(pre + ".mem.bias", {dim});
      b.mem_pad.assign(a.dim, 1.0f);  // sign mode: a zero pad frame quantizes to +1
      if (mode == Mode::dual) {
        std::vector<float> t = f.floats(pre + ".mem.tau", {2, dim});
        b.mem_tau0.assign(t.begin(), t.begin() + dim);
        b.mem_tau1.assign(t.begin() + dim, t.end());
        // Pad frames hold v = 0 and are quantized like real frames (one shared s).
        std::vector<float> zero(a.dim, 0.0f), d(a.dim), r(a.dim), ab(a.dim);
        detail::dual_split(zero.data(), b.mem_tau0.data(), b.mem_tau1.data(), a.dim, d.data(),
                           r.data(), ab.data());
        const float s = detail::sum8(ab.data(), a.dim) / static_cast<float>(a.dim);
        for (int c = 0; c < a.dim; ++c) {
          b.mem_pad[c] = (d[c] >= 0.0f ? 1.0f : -1.0f) + s * (r[c] >= 0.0f ? 1.0f : -1.0f);
        }
      }
      load_binary_linear(b.fc_in, pre + ".fc_in", a.dim, a.hidden, true);
      taus(b.fc_in, pre + ".fc_in", dim);
      load_binary_linear(b.fc_out, pre + ".fc_out", a.hidden, a.dim, false);
      taus(b.fc_out, pre + ".fc_out", hid);
    }
    for (int p : paths) {
      if (!on_path(j, p)) continue;
      const std::string ps = ".p" + std::to_string(p);
      b.out_scale[p] = f.floats(pre + ".fc_out.scale" + ps, {dim});
      b.out_bias[p] = f.floats(pre + ".fc_out.bias" + ps, {dim});
      b.act_p[p] = f.scalar(pre + ".act_p" + ps);
    }
  }
  cls_w = f.floats("classifier.w", {a.classes, static_cast<LL>(a.t()) * dim});
  cls_b = f.floats("classifier.b", {a.classes});
}

void Engine::Impl::build_conv2_tables(const std::vector<float>& tau2) {
  // For output position (i2, j2) and channel o: C = sum of sign(W[o, tap]) over
  // the taps that fall outside the input (their activation bits are 0, i.e. +1,
  // in the full-window popcount), and T2 = sum over the taps inside of
  // sign(W[o, tap]) * tau2[channel].
  const int k = a.k, pad = a.pad(), h1 = a.h1(), w1 = a.w1(), h2 = a.h2(), t = a.t();
  const std::size_t npos = static_cast<std::size_t>(h2) * t;
  conv2_corr.assign(npos * a.c2, 0.0f);
  conv2_bias_pos.assign(npos * a.c2, 0.0f);
  for (int i2 = 0; i2 < h2; ++i2) {
    for (int j2 = 0; j2 < t; ++j2) {
      const std::size_t pos = static_cast<std::size_t>(i2) * t + j2;
      for (int o = 0; o < a.c2; ++o) {
        const std::uint64_t* row = conv2.w.data() + o * conv2.words;
        long corr = 0;
        double t2 = 0;
        for (int c = 0; c < a.c1; ++c) {
          for (int u = 0; u < k; ++u) {
            for (int v = 0; v < k; ++v) {
              const int ii = 2 * i2 - pad + u, jj = 2 * j2 - pad + v;
              const double sg = packed_bit(row, (c * k + u) * k + v) ? -1.0 : 1.0;
              if (ii < 0 || ii >= h1 || jj < 0 || jj >= w1) {
                corr += static_cast<long>(sg);
              } else if (!tau2.empty()) {
                t2 += sg * tau2[c];
              }
            }
          }
        }
        conv2_corr[pos * a.c2 + o] = static_cast<float>(corr);
        conv2_bias_pos[pos * a.c2 + o] =
            static_cast<float>(conv2.bias[o] - static_cast<double>(conv2.scale[o]) * t2);
      }
    }
  }
}

void Engine::Impl::reserve(std::size_t B) {
  if (B <= cap) return;
  const std::size_t p1 = static_cast<std::size_t>(a.h1()) * a.w1();
  const std::size_t p2 = static_cast<std::size_t>(a.h2()) * a.t();
  const std::size_t rows = B * a.t();
  const std::size_t widest = std::max<std::size_t>({static_cast<std::size_t>(a.f1()),
                                                     static_cast<std::size_t>(a.dim),
                                                     static_cast<std::size_t>(a.hidden)});
  grow(col, B * std::max(p1 * a.k1(), mode == Mode::fp ? p2 * a.k2() : 0));
  grow(y1, B * p1 * a.c1);
  grow(tok, rows * a.f1());
  grow(h, rows * a.dim);
  grow(m, rows * a.dim);
  grow(o, rows * a.dim);
  grow(hid, rows * a.hidden);
  grow(u, B * static_cast<std::size_t>(a.t() + a.left + a.right) * a.dim);
  grow(s, std::max(rows, B * p2));
  grow(feats, B * static_cast<std::size_t>(a.n_mels) * a.frames);
  grow(clip, static_cast<std::size_t>(feat.clip_samples));
  const std::size_t scratch = std::max(p1 * a.c1, widest);
  grow(qd, scratch);
  grow(qr, scratch);
  grow(qa, scratch);
  if (mode != Mode::fp) {
    grow(planes, 2 * B * a.c1 * a.h1());
    grow(abits, 2 * std::max(B * p2 * conv2.words, rows * packed_row_words(widest)));
    grow(dots, 2 * std::max(B * p2 * a.c2, rows * widest));
  } else {
    grow(conv2_out, B * p2 * a.c2);
  }
  cap = B;
}

// --------------------------------------------------------------------- layers

void Engine::Impl::fp_linear(const float* x, const float* w, const float* bias, std::size_t rows,
                             std::size_t n, std::size_t k, float* y) {
  fkern->float_gemm(x, w, bias, y, rows, n, k);
}

void Engine::Impl::conv1_fwd(const float* x, std::size_t B) {
  // y1 comes out channel-major (C1, H1, W1): each (channel, row) is contiguous, which is what
  // conv2's bit planes need.
  //
  // Binary models: the output feeds a binarizer, so it must be bit-identical to the deployed
  // arithmetic in PyTorch (bifsmn.binary.deploy): per output, acc = w[0]*x[0], then
  // acc = acc + w[tap]*x[tap] for taps in (row, column) order, each operation rounded to
  // float (no FMA; -ffp-contract=off), then act(acc + bias). Taps-major im2col (k*k x P1)
  // lets the per-position loop vectorize without changing that order.
  // Full-precision models: im2col (P1 x k*k) and the float GEMM.
  const int k = a.k, pad = a.pad(), H = a.n_mels, W = a.frames, h1 = a.h1(), w1 = a.w1();
  const std::size_t k1 = a.k1(), p1 = static_cast<std::size_t>(h1) * w1, c1 = a.c1;
  const bool ordered = mode != Mode::fp;
  for (std::size_t b = 0; b < B; ++b) {
    const float* img = x + b * H * W;
    float* y = y1.data() + b * c1 * p1;
    if (ordered) {
      for (int uu = 0; uu < k; ++uu) {
        for (int vv = 0; vv < k; ++vv) {
          float* c = col.data() + static_cast<std::size_t>(uu * k + vv) * p1;
          for (int i = 0; i < h1; ++i) {
            const int ii = 2 * i - pad + uu;
            for (int j = 0; j < w1; ++j) {
              const int jj = 2 * j - pad + vv;
              *c++ = (ii >= 0 && ii < H && jj >= 0 && jj < W) ? img[ii * W + jj] : 0.0f;
            }
          }
        }
      }
      for (std::size_t ch = 0; ch < c1; ++ch) {
        conv1_channel_ordered(conv1_w.data() + ch * k1, col.data(), k1, p1, conv1_b[ch], act1,
                              y + ch * p1);
      }
      continue;
    }
    float* c = col.data();
    for (int i = 0; i < h1; ++i) {
      for (int j = 0; j < w1; ++j) {
        for (int uu = 0; uu < k; ++uu) {
          const int ii = 2 * i - pad + uu;
          for (int vv = 0; vv < k; ++vv) {
            const int jj = 2 * j - pad + vv;
            *c++ = (ii >= 0 && ii < H && jj >= 0 && jj < W) ? img[ii * W + jj] : 0.0f;
          }
        }
      }
    }
    fp_linear(conv1_w.data(), col.data(), nullptr, c1, p1, k1, y);
    for (std::size_t ch = 0; ch < c1; ++ch) {
      const float bias = conv1_b[ch];
      float* yc = y + ch * p1;
      for (std::size_t i = 0; i < p1; ++i) yc[i] = act(yc[i] + bias, act1);
    }
  }
}

void Engine::Impl::classifier_exact(const float* x, std::size_t B, float* logits) const {
  // Binary models: float64 dot products rounded once, as bifsmn.binary.deploy; near-tied
  // classes then resolve the same way in both (a float32 sum's order would decide them).
  const std::size_t n = static_cast<std::size_t>(a.t()) * a.dim;
  for (std::size_t b = 0; b < B; ++b) {
    const float* xb = x + b * n;
    for (int c = 0; c < a.classes; ++c) {
      const float* wc = cls_w.data() + static_cast<std::size_t>(c) * n;
      double acc[4] = {0, 0, 0, 0};
      std::size_t i = 0;
      for (; i + 4 <= n; i += 4) {
        for (int l = 0; l < 4; ++l) {
          acc[l] += static_cast<double>(wc[i + l]) * static_cast<double>(xb[i + l]);
        }
      }
      for (; i < n; ++i) acc[i & 3] += static_cast<double>(wc[i]) * static_cast<double>(xb[i]);
      logits[b * a.classes + c] = static_cast<float>(((acc[0] + acc[1]) + (acc[2] + acc[3])) +
                                                     static_cast<double>(cls_b[c]));
    }
  }
}

void Engine::Impl::binary_gemm(const BinLinear& L, std::size_t rows) {
  const std::size_t mrows = (mode == Mode::dual ? 2 : 1) * rows;
  const Clock::time_point t0 = profiling ? Clock::now() : Clock::time_point{};
  kern->binary_gemm(abits.data(), L.w.data(), dots.data(), mrows, L.out, L.in);
  if (profiling) {
    times.binary_gemm += std::chrono::duration<double>(Clock::now() - t0).count();
    times.bops += static_cast<double>(mrows) * L.out * L.in;
  }
}

void Engine::Impl::conv2_binary(std::size_t B) {
  // Quantize conv1's output (channel-major) into bit planes: plane[(b, c, row)]
  // holds the sign bits of one input row, column j at bit j + pad (so the
  // padding bits are 0, i.e. +1, and the border correction accounts for them).
  const int k = a.k, pad = a.pad(), h1 = a.h1(), w1 = a.w1(), h2 = a.h2(), t = a.t();
  const std::size_t c1 = a.c1, plane_n = B * c1 * h1;
  const std::size_t p1 = static_cast<std::size_t>(h1) * w1, per_clip = p1 * c1;
  std::uint64_t* pl1 = planes.data();
  std::uint64_t* pl2 = planes.data() + plane_n;
  for (std::size_t b = 0; b < B; ++b) {
    const float* v = y1.data() + b * per_clip;
    const float* src1 = v;
    if (mode == Mode::dual) {
      s[b] = conv2_dual_split(v, conv2.tau0.data(), conv2.tau1.data(), c1, p1, qd.data(),
                              qr.data(), qa.data()) /
             static_cast<float>(per_clip);
      src1 = qd.data();
    }
    for (std::size_t row = 0; row < c1 * h1; ++row) {
      pl1[b * c1 * h1 + row] = detail::neg_bits64(src1 + row * w1, w1) << pad;
      if (mode == Mode::dual) pl2[b * c1 * h1 + row] = detail::neg_bits64(qr.data() + row * w1, w1) << pad;
    }
  }
  // Bit im2col: window row (c, u) of output column j2 is the k-bit chunk of
  // plane row 2*i2 - pad + u starting at padded column 2*j2.
  const std::size_t words = conv2.words, npos = static_cast<std::size_t>(h2) * t;
  const std::size_t rows = B * npos;
  const int planes_used = mode == Mode::dual ? 2 : 1;
  const std::uint64_t kmask = (std::uint64_t{1} << k) - 1;
  for (int pl = 0; pl < planes_used; ++pl) {
    const std::uint64_t* plane = planes.data() + pl * plane_n;
    std::uint64_t* A = abits.data() + pl * rows * words;
    std::fill(A, A + rows * words, 0);
    for (std::size_t b = 0; b < B; ++b) {
      for (int i2 = 0; i2 < h2; ++i2) {
        std::uint64_t* base = A + (b * h2 + i2) * t * words;  // rows (b, i2, 0..t-1)
        for (std::size_t c = 0; c < c1; ++c) {
          for (int uu = 0; uu < k; ++uu) {
            const int ii = 2 * i2 - pad + uu;
            if (ii < 0 || ii >= h1) continue;
            const std::uint64_t src = plane[(b * c1 + c) * h1 + ii];
            if (!src) continue;
            // The window row (c, uu) lands at the same bit offset in every
            // output column's row: hoist the word/shift/straddle decision.
            const std::size_t at = (c * k + uu) * k, wi = at / 64, sh = at % 64;
            std::uint64_t* dst = base + wi;
            if (sh + k <= 64) {
              for (int j2 = 0; j2 < t; ++j2) dst[j2 * words] |= ((src >> (2 * j2)) & kmask) << sh;
            } else {
              for (int j2 = 0; j2 < t; ++j2) {
                const std::uint64_t chunk = (src >> (2 * j2)) & kmask;
                dst[j2 * words] |= chunk << sh;
                dst[j2 * words + 1] |= chunk >> (64 - sh);
              }
            }
          }
        }
      }
    }
  }
  binary_gemm(conv2, rows);
  // Epilogue: z = scale*((D1 - C) + s*(D2 - C)) + bias_pos -> act2 -> tokens
  // (token = output column j2, feature = o * H2 + i2).
  const std::size_t c2 = a.c2, f1 = a.f1();
  const std::int32_t* d1 = dots.data();
  const std::int32_t* d2 = dots.data() + rows * c2;
  for (std::size_t b = 0; b < B; ++b) {
    const float sb = s[b];
    for (std::size_t pos = 0; pos < npos; ++pos) {
      const std::size_t r = b * npos + pos;
      const std::size_t i2 = pos / t, j2 = pos % t;
      float* dst = tok.data() + (b * t + j2) * f1 + i2;
      const float* corr = conv2_corr.data() + pos * c2;
      const float* bp = conv2_bias_pos.data() + pos * c2;
      for (std::size_t oc = 0; oc < c2; ++oc) {
        float d = static_cast<float>(d1[r * c2 + oc]) - corr[oc];
        if (mode == Mode::dual) d += sb * (static_cast<float>(d2[r * c2 + oc]) - corr[oc]);
        dst[oc * h2] = act(conv2.scale[oc] * d + bp[oc], act2);
      }
    }
  }
}

void Engine::Impl::conv2_fp(std::size_t B) {
  const int k = a.k, pad = a.pad(), h1 = a.h1(), w1 = a.w1(), h2 = a.h2(), t = a.t();
  const std::size_t c1 = a.c1, c2 = a.c2, k2 = a.k2(), f1 = a.f1();
  const std::size_t npos = static_cast<std::size_t>(h2) * t, rows = B * npos;
  float* c = col.data();
  for (std::size_t b = 0; b < B; ++b) {
    const float* v = y1.data() + b * static_cast<std::size_t>(h1) * w1 * c1;
    for (int i2 = 0; i2 < h2; ++i2) {
      for (int j2 = 0; j2 < t; ++j2) {
        for (std::size_t ch = 0; ch < c1; ++ch) {
          for (int uu = 0; uu < k; ++uu) {
            const int ii = 2 * i2 - pad + uu;
            for (int vv = 0; vv < k; ++vv) {
              const int jj = 2 * j2 - pad + vv;
              *c++ = (ii >= 0 && ii < h1 && jj >= 0 && jj < w1)
                         ? v[(ch * h1 + ii) * static_cast<std::size_t>(w1) + jj]
                         : 0.0f;
            }
          }
        }
      }
    }
  }
  // The conv output (positions x C2) is reordered into tokens afterwards.
  float* y2 = conv2_out.data();
  fp_linear(col.data(), conv2_w.data(), conv2_b.data(), rows, c2, k2, y2);
  for (std::size_t b = 0; b < B; ++b) {
    for (std::size_t pos = 0; pos < npos; ++pos) {
      const std::size_t i2 = pos / t, j2 = pos % t;
      float* dst = tok.data() + (b * t + j2) * f1 + i2;
      const float* src = y2 + (b * npos + pos) * c2;
      for (std::size_t oc = 0; oc < c2; ++oc) dst[oc * h2] = act(src[oc], act2);
    }
  }
}

void Engine::Impl::quantize_rows(const BinLinear& L, const float* x, std::size_t rows) {
  // Row r of x -> packed row r of A1 (b1 = sign(v - tau0)) and, in dual mode,
  // row rows + r of A2 (b2 = sign(r), r = v - b1 - tau1) and s[r] = mean |r|.
  const std::size_t k = L.in, words = L.words;
  std::uint64_t* A1 = abits.data();
  std::uint64_t* A2 = abits.data() + rows * words;
  for (std::size_t r = 0; r < rows; ++r) {
    const float* v = x + r * k;
    if (mode == Mode::dual) {
      s[r] = detail::quant_row_dual(v, L.tau0.data(), L.tau1.data(), k, A1 + r * words,
                                    A2 + r * words, words, qd.data(), qr.data(), qa.data()) /
             static_cast<float>(k);
    } else {
      detail::pack_neg(v, k, A1 + r * words, words);
    }
  }
}

void Engine::Impl::linear_binary(const BinLinear& L, const float* x, std::size_t rows,
                                 const float* scale, const float* bias, float slope,
                                 const float* res, float* y) {
  quantize_rows(L, x, rows);
  binary_gemm(L, rows);
  const std::size_t n = L.out;
  const std::int32_t* d1 = dots.data();
  const std::int32_t* d2 = dots.data() + rows * n;
  epilogue_rows(d1, mode == Mode::dual ? d2 : nullptr, s.data(), scale, bias, slope, res, y,
                rows, n);
}

void Engine::Impl::memory_fwd(const Block& blk, const float* x, std::size_t B, float* y) {
  // Depthwise taps along time over zero-padded frames, then BN (folded), act, + x.
  const std::size_t dim = a.dim, t = a.t(), L = a.left, R = a.right, tp = t + L + R;
  for (std::size_t b = 0; b < B; ++b) {
    memory_clip(mode == Mode::fp, mode == Mode::dual, x + b * t * dim, t, dim, L, R,
                blk.mem_w.data(), blk.mem_tau0.data(), blk.mem_tau1.data(), blk.mem_pad.data(),
                blk.mem_scale.data(), blk.mem_bias.data(), blk.act_m, u.data() + b * tp * dim,
                qd.data(), qr.data(), qa.data(), y + b * t * dim);
  }
}

void Engine::Impl::run(const float* x, std::size_t B, float* logits) {
  reserve(B);
  const bool prof = profiling;
  Clock::time_point t0 = prof ? Clock::now() : Clock::time_point{};
  auto lap = [&](double& acc) {
    if (!prof) return;
    const Clock::time_point t1 = Clock::now();
    acc += std::chrono::duration<double>(t1 - t0).count();
    t0 = t1;
  };
  conv1_fwd(x, B);
  lap(times.conv1);
  const std::size_t rows = B * a.t(), dim = a.dim, hd = a.hidden;
  float* cur = h.data();
  float* nxt = o.data();
  if (mode == Mode::fp) {
    conv2_fp(B);
    fp_linear(tok.data(), fc1_w.data(), fc1_b.data(), rows, dim, a.f1(), cur);
    for (std::size_t i = 0; i < rows * dim; ++i) cur[i] = act(cur[i], act3);
    for (int j = 0; j < a.layers; ++j) {
      if (!on_path(j, path)) continue;
      const Block& b = blocks[j];
      memory_fwd(b, cur, B, m.data());
      fp_linear(m.data(), b.fc_in_w.data(), b.fc_in_b.data(), rows, hd, dim, hid.data());
      for (std::size_t i = 0; i < rows * hd; ++i) hid[i] = act(hid[i], b.act_h);
      fp_linear(hid.data(), b.fc_out_w.data(), nullptr, rows, dim, hd, nxt);
      const float* sc = b.out_scale[path].data();
      const float* bi = b.out_bias[path].data();
      const float ap = b.act_p[path];
      for (std::size_t r = 0; r < rows; ++r) {
        for (std::size_t c = 0; c < dim; ++c) {
          const std::size_t i = r * dim + c;
          nxt[i] = act(sc[c] * nxt[i] + bi[c], ap) + m[i];
        }
      }
      std::swap(cur, nxt);
    }
    lap(times.fp_layers);
  } else {
    conv2_binary(B);
    linear_binary(fc1, tok.data(), rows, fc1.scale.data(), fc1.bias.data(), act3, nullptr, cur);
    for (int j = 0; j < a.layers; ++j) {
      if (!on_path(j, path)) continue;
      const Block& b = blocks[j];
      memory_fwd(b, cur, B, m.data());
      linear_binary(b.fc_in, m.data(), rows, b.fc_in.scale.data(), b.fc_in.bias.data(), b.act_h,
                    nullptr, hid.data());
      linear_binary(b.fc_out, hid.data(), rows, b.out_scale[path].data(),
                    b.out_bias[path].data(), b.act_p[path], m.data(), nxt);
      std::swap(cur, nxt);
    }
    lap(times.binary);
  }
  if (mode == Mode::fp) {
    fp_linear(cur, cls_w.data(), cls_b.data(), B, a.classes,
              static_cast<std::size_t>(a.t()) * dim, logits);
  } else {
    classifier_exact(cur, B, logits);
  }
  lap(times.fp_layers);
  if (prof) ++times.calls;
}

// --------------------------------------------------------------------- Engine

Engine::Engine() : impl_(std::make_unique<Impl>()) {}
Engine::~Engine() = default;

std::unique_ptr<Engine> Engine::load_bytes(const void* data, std::size_t size,
                                           const std::string& name, std::string_view kernel,
                                           std::string_view fp_kernel) {
  const auto* p = static_cast<const std::uint8_t*>(data);
  std::unique_ptr<Engine> e(new Engine());
  Impl& im = *e->impl_;
  im.file = std::make_unique<Container>(std::vector<std::uint8_t>(p, p + size), name);
  im.load();
  try {
    im.kern = kernel.empty() ? &select_kernel() : &get_kernel(kernel);
    im.fkern = fp_kernel.empty() ? im.kern : &get_kernel(fp_kernel);
  } catch (const std::runtime_error& ex) {
    throw BkwsError(ex.what());
  }
  im.reserve(1);
  return e;
}

std::unique_ptr<Engine> Engine::load_file(const std::string& path, std::string_view kernel,
                                          std::string_view fp_kernel) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw BkwsError(path + ": cannot open .bkws file (no such file)");
  if (!S_ISREG(st.st_mode)) {
    throw BkwsError(path + ": cannot open .bkws file: not a regular file (a directory?)");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw BkwsError(path + ": cannot open .bkws file");
  std::vector<std::uint8_t> bytes;
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) throw BkwsError(path + ": cannot read .bkws file");
  if (size > (std::streamoff{1} << 31)) throw BkwsError(path + ": file too large for a .bkws model");
  bytes.resize(static_cast<std::size_t>(size));
  in.seekg(0);
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size)) {
    throw BkwsError(path + ": cannot read .bkws file");
  }
  return load_bytes(bytes.data(), bytes.size(), path, kernel, fp_kernel);
}

const std::string& Engine::kind() const { return impl_->kind; }
const std::string& Engine::method() const { return impl_->method; }
const std::string& Engine::metadata_json() const { return impl_->meta; }
const std::vector<std::string>& Engine::labels() const { return impl_->labels; }
const FeatureConfig& Engine::feature_config() const { return impl_->feat; }
bool Engine::is_binary() const { return impl_->mode != Mode::fp; }
const char* Engine::kernel_name() const { return impl_->kern->name; }
const char* Engine::fp_kernel_name() const { return impl_->fkern->name; }
int Engine::num_classes() const { return impl_->a.classes; }
int Engine::n_mels() const { return impl_->a.n_mels; }
int Engine::frames() const { return impl_->a.frames; }
std::size_t Engine::file_bytes() const { return impl_->file->size(); }
int Engine::blocks() const { return impl_->a.layers >> impl_->path; }

std::vector<int> Engine::available_blocks() const {
  std::vector<int> out;
  for (int p : impl_->paths) out.push_back(impl_->a.layers >> p);
  return out;
}

void Engine::set_blocks(int blocks) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  for (int p : impl_->paths) {
    if ((impl_->a.layers >> p) == blocks) {
      impl_->path = p;
      return;
    }
  }
  std::string have;
  for (int b : available_blocks()) have += (have.empty() ? "" : ", ") + std::to_string(b);
  throw BkwsError(impl_->file->name() + ": " + std::to_string(blocks) +
                  " blocks not in this file (exported: " + have + ")");
}

void Engine::reserve(std::size_t batch) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->reserve(batch);
}

namespace {
// Once per call, after the network: a NaN or inf logit (a corrupt or diverged model, or an
// input outside the range the model can represent) is an error, never a silent prediction.
void check_finite(const float* logits, std::size_t batch, int classes, const std::string& name) {
  const std::size_t n = batch * static_cast<std::size_t>(classes);
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isfinite(logits[i])) {
      throw BkwsError(name + ": non-finite logits (NaN or inf) for input clip " +
                      std::to_string(i / static_cast<std::size_t>(classes)) +
                      " (corrupt or diverged model, or input values far outside [-1, 1])");
    }
  }
}
}  // namespace

void Engine::predict_features(const float* x, std::size_t batch, float* logits) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (batch == 0) return;
  impl_->run(x, batch, logits);
  check_finite(logits, batch, impl_->a.classes, impl_->file->name());
}

void Engine::compute_features(const float* wave, std::size_t batch, std::size_t samples,
                              float* out) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->reserve(std::max<std::size_t>(batch, 1));
  impl_->features(wave, batch, samples, out);
}

void Engine::Impl::features(const float* wave, std::size_t batch, std::size_t samples,
                            float* out) {
  Impl& im = *this;
  const std::size_t len = static_cast<std::size_t>(im.feat.clip_samples);
  const std::size_t per = static_cast<std::size_t>(im.a.n_mels) * im.a.frames;
  for (std::size_t b = 0; b < batch; ++b) {
    const float* src = wave + b * samples;
    const float* clip = src;
    if (samples != len) {  // bifsmn.audio.fix_length: cut or zero-pad on the right
      const std::size_t n = std::min(samples, len);
      std::copy(src, src + n, im.clip.begin());
      std::fill(im.clip.begin() + n, im.clip.begin() + len, 0.0f);
      clip = im.clip.data();
    }
    im.frontend->compute(clip, out + b * per);
  }
}

void Engine::predict_audio(const float* wave, std::size_t batch, std::size_t samples,
                           float* logits) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (batch == 0) return;
  Impl& im = *impl_;
  im.reserve(batch);
  const Clock::time_point t0 = im.profiling ? Clock::now() : Clock::time_point{};
  im.features(wave, batch, samples, im.feats.data());
  if (im.profiling) im.times.frontend += std::chrono::duration<double>(Clock::now() - t0).count();
  im.run(im.feats.data(), batch, logits);
  check_finite(logits, batch, im.a.classes, im.file->name());
}

void Engine::set_profiling(bool on) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->profiling = on;
}

StageTimes Engine::stage_times() const { return impl_->times; }

void Engine::reset_stage_times() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->times = StageTimes{};
}

}  // namespace bifsmn
