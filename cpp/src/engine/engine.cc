// The engine: loads a .bkws model (docs/bkws-format.md) and wires the ops of cpp/src/ops/
// (docs/binary-arithmetic.md gives the arithmetic of each) into the network:
//
//   features (B, n_mels, frames) -> conv1 (ops/conv1) -> (B, C1, H1, W1) -> conv2 (ops/conv2)
//   -> tokens (B*T, C2*H2) -> fc1 (ops/linear) -> blocks on (B*T, dim): memory (ops/memory),
//   fc_in, fc_out (ops/linear) -> classifier (ops/classifier) on (B, T*dim).
//
// Binary models run the deployed arithmetic (bit-identical to bifsmn.deploy); FP models
// run the same stages with the kernel's float GEMM. All rows of a batch go through each GEMM
// together (M = B*T or B*H2*W2).
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
#include "ops/classifier/classifier.h"
#include "ops/common.h"
#include "ops/conv1/conv1.h"
#include "ops/conv2/conv2.h"
#include "ops/frontend/frontend.h"
#include "ops/linear/linear.h"
#include "ops/memory/memory.h"

namespace bifsmn {

using detail::Container;
using ops::act;
using ops::grow;

namespace {

enum class Mode { fp, sign, dual };

// Path p runs block j iff (j + 1) % 2^p == 0 (bifsmn.blocks.layers_of_index).
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
  ops::Buffer<std::uint64_t> w;
  ops::Buffer<std::uint64_t> wp;   // the kernel's prepared copy of w (empty: none)
  ops::Buffer<float> tau0, tau1;   // dual mode only
  ops::Buffer<float> scale, bias;  // empty for fc_out (per path)
  // Rearranges w for `kern` once, if the kernel prepares weights of this shape.
  void prepare(const Kernel& kern) {
    wp.clear();
    if (!kern.prepared_words || w.empty()) return;
    const std::size_t n_words = kern.prepared_words(out, in);
    if (n_words == 0) return;
    wp.assign(n_words, 0);
    kern.prepare(w.data(), out, in, wp.data());
  }
  const std::uint64_t* prepared() const { return wp.empty() ? nullptr : wp.data(); }
  ops::BinaryLinear op(bool dual) const {
    ops::BinaryLinear L;
    L.in = in;
    L.out = out;
    L.words = words;
    L.w = w.data();
    L.wp = prepared();
    L.dual = dual;
    L.tau0 = tau0.data();
    L.tau1 = tau1.data();
    return L;
  }
};

struct Block {
  bool present = false;
  // memory: taps x dim, +-1 (binary) or BN-folded weights (FP), tap-major
  ops::Buffer<float> mem_w, mem_tau0, mem_tau1, mem_scale, mem_bias, mem_pad;
  float act_m = 0, act_h = 0;
  BinLinear fc_in, fc_out;                 // binary models
  // FP models, weights packed at load for float_gemm_kn (kernels.h, pack_kn)
  ops::Buffer<float> fc_in_w, fc_in_b;     // BN folded
  ops::Buffer<float> fc_out_w;             // bias folded per path
  std::array<ops::Buffer<float>, 4> out_scale, out_bias;
  std::array<float, 4> act_p{};
  ops::SignThresholds fc_in_th;  // sign mode: fc_out's input bits from fc_in's integer dots
};

using Clock = std::chrono::steady_clock;

ops::Epilogue epilogue(const ops::Buffer<float>& scale, const ops::Buffer<float>& bias, float slope,
                       const float* res) {
  ops::Epilogue e;
  e.scale = scale.data();
  e.bias = bias.data();
  e.slope = slope;
  e.res = res;
  return e;
}

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
  ops::Buffer<float> conv1_w, conv1_b;
  float act1 = 0, act2 = 0, act3 = 0;
  // conv2
  BinLinear conv2;                       // binary
  BinLinear conv2_pix;                   // conv2's weights in pixel-major bit order (or empty)
  ops::Conv2Tables conv2_tab;            // border correction, per-position bias (binary)
  ops::Buffer<float> conv2_w, conv2_b;   // FP; conv2_w packed by pack_kn
  BinLinear fc1;
  ops::Buffer<float> fc1_w, fc1_b;       // FP; fc1_w packed by pack_kn
  std::vector<Block> blocks;
  ops::Buffer<float> cls_w, cls_b;
  ops::Buffer<double> cls_wd;  // cls_w widened once (binary models' float64 classifier)
  ops::Buffer<float> cls_wi;   // cls_w in the FMA version's order (ops::classifier_interleave)

  // workspace
  std::size_t cap = 0;
  // (64-byte aligned: ops::Buffer)
  ops::Buffer<float> col, y1, conv2_out, tok, h, m, hid, o, feats, clip;
  bool conv1_col_kept = false;  // col holds conv1_deployed's zero padding (binary modes)
  ops::Conv2Work conv2_work;
  ops::LinearWork lin_a, lin_b;  // binarized inputs of the binary linears (fused producers)
  ops::MemoryWork mem_work;

  std::mutex mu;
  bool profiling = false;
  StageTimes times;

  void load();
  // The kernel's prepared copies of every binary weight matrix (after the kernel is chosen).
  void prepare_weights() {
    if (mode == Mode::fp) return;
    conv2.prepare(*kern);
    conv2_pix.prepare(*kern);
    fc1.prepare(*kern);
    for (Block& b : blocks) {
      if (!b.present) continue;
      b.fc_in.prepare(*kern);
      b.fc_out.prepare(*kern);
    }
  }
  void load_binary_linear(BinLinear& L, const std::string& name, std::size_t in,
                          std::size_t out, bool affine);
  void reserve(std::size_t batch);
  void run(const float* x, std::size_t batch, float* logits);
  void features(const float* wave, std::size_t batch, std::size_t samples, float* out);

  // op descriptions (views of the loaded records)
  ops::Conv1 conv1_op() const;
  ops::Conv2Shape conv2_shape() const;
  ops::Memory memory_op(const Block& b) const;
  ops::Classifier classifier_op() const;

  // layers
  void conv1_fwd(const float* x, std::size_t B);
  // y = x W^T + b with W packed by pack_kn (wp)
  void fp_linear(const float* x, const float* wp, const float* bias, std::size_t rows,
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

// A FP layer's weights (n x k) in float_gemm_kn's packed panels (kernels.h), so that the float
// GEMM computes outer products on contiguous panel rows.
ops::Buffer<float> packed_kn(const ops::Buffer<float>& w, std::size_t n, std::size_t k) {
  ops::Buffer<float> p(kn_packed_floats(n, k));
  pack_kn(w.data(), n, k, p.data());
  return p;
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
    const ops::Buffer<float> t = f.floats(name + ".tau", {2, channels});
    L.tau0.assign(t.begin(), t.begin() + channels);
    L.tau1.assign(t.begin() + channels, t.end());
  };
  if (mode == Mode::fp) {
    conv2_w = packed_kn(f.floats("conv2.w", {c2, k2}), c2, k2);
    conv2_b = f.floats("conv2.b", {c2});
    fc1_w = packed_kn(f.floats("fc1.w", {dim, a.f1()}), dim, a.f1());
    fc1_b = f.floats("fc1.b", {dim});
  } else {
    load_binary_linear(conv2, "conv2", static_cast<std::size_t>(k2), static_cast<std::size_t>(c2),
                       true);
    taus(conv2, "conv2", c1);
    ops::Buffer<float> tau2;
    if (mode == Mode::dual) tau2 = f.floats("conv2.tau2", {c1});
    conv2_tab = ops::conv2_tables(conv2_shape(), conv2.w.data(), conv2.words,
                                  conv2.scale.data(), conv2.bias.data(),
                                  tau2.empty() ? nullptr : tau2.data());
    if (ops::conv2_pixel_layout(conv2_shape())) {  // the GEMM rows of ops::conv2_binary's pixel path
      conv2_pix.in = conv2.in;
      conv2_pix.out = conv2.out;
      conv2_pix.words = conv2.words;
      conv2_pix.w = ops::conv2_pixel_weights(conv2_shape(), conv2.w.data(), conv2.words);
    }
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
      const ops::Buffer<float> w = f.floats(pre + ".mem.w", {dim, taps});
      for (int c = 0; c < a.dim; ++c) {
        for (int t = 0; t < taps; ++t) b.mem_w[t * a.dim + c] = w[c * taps + t];
      }
      b.mem_bias = f.floats(pre + ".mem.b", {dim});
      b.fc_in_w = packed_kn(f.floats(pre + ".fc_in.w", {hid, dim}), hid, dim);
      b.fc_in_b = f.floats(pre + ".fc_in.b", {hid});
      b.fc_out_w = packed_kn(f.floats(pre + ".fc_out.w", {dim, hid}), dim, hid);
    } else {
      const ops::Buffer<std::uint64_t> bits = f.bits(pre + ".mem.bits", a.dim, taps);
      const std::size_t stride = packed_row_words(taps);
      for (int c = 0; c < a.dim; ++c) {
        for (int t = 0; t < taps; ++t) {
          b.mem_w[t * a.dim + c] = packed_bit(bits.data() + c * stride, t) ? -1.0f : 1.0f;
        }
      }
      b.mem_scale = f.floats(pre + ".mem.scale", {dim});
      b.mem_bias = f.floats(pre + ".mem.bias", {dim});
      if (mode == Mode::dual) {
        const ops::Buffer<float> t = f.floats(pre + ".mem.tau", {2, dim});
        b.mem_tau0.assign(t.begin(), t.begin() + dim);
        b.mem_tau1.assign(t.begin() + dim, t.end());
      }
      b.mem_pad = ops::memory_pad_levels(a.dim, mode == Mode::dual, b.mem_tau0.data(),
                                         b.mem_tau1.data());
      load_binary_linear(b.fc_in, pre + ".fc_in", a.dim, a.hidden, true);
      taus(b.fc_in, pre + ".fc_in", dim);
      if (mode == Mode::sign) {
        b.fc_in_th = ops::sign_thresholds(b.fc_in.op(false),
                                          epilogue(b.fc_in.scale, b.fc_in.bias, b.act_h, nullptr));
      }
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
  if (mode != Mode::fp) {
    cls_wd.assign(cls_w.begin(), cls_w.end());
    cls_wi = ops::classifier_interleave(cls_w.data(), static_cast<std::size_t>(a.classes),
                                        cls_w.size() / static_cast<std::size_t>(a.classes));
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
  // (growing keeps the contents: conv1's zero padding stays, conv1_col_kept stays true)
  grow(col, std::max(conv1_op().col_size(), mode == Mode::fp ? conv2_shape().fp_col_size(B) : 0));
  grow(y1, B * p1 * a.c1);
  grow(h, rows * a.dim);
  grow(m, rows * a.dim);
  grow(o, rows * a.dim);
  grow(feats, B * static_cast<std::size_t>(a.n_mels) * a.frames);
  grow(clip, static_cast<std::size_t>(feat.clip_samples));
  if (mode != Mode::fp) {
    ops::Conv2Binary c2;
    c2.s = conv2_shape();
    c2.dual = mode == Mode::dual;
    c2.words = conv2.words;
    c2.wpix = conv2_pix.w.empty() ? nullptr : conv2_pix.w.data();
    conv2_work.reserve(c2, B);
    lin_a.reserve(rows, widest, widest);
    lin_b.reserve(rows, widest, widest);
  } else {
    grow(conv2_out, B * p2 * a.c2);
    grow(tok, rows * a.f1());
    grow(hid, rows * a.hidden);
  }
  if (!blocks.empty()) mem_work.reserve(memory_op(blocks.front()), a.t());
  cap = B;
}

// --------------------------------------------------------------------- ops

ops::Conv1 Engine::Impl::conv1_op() const {
  ops::Conv1 p;
  p.H = a.n_mels;
  p.W = a.frames;
  p.k = a.k;
  p.c1 = a.c1;
  p.w = conv1_w.data();
  p.b = conv1_b.data();
  p.slope = act1;
  return p;
}

ops::Conv2Shape Engine::Impl::conv2_shape() const {
  ops::Conv2Shape s;
  s.c1 = a.c1;
  s.h1 = a.h1();
  s.w1 = a.w1();
  s.c2 = a.c2;
  s.k = a.k;
  return s;
}

ops::Memory Engine::Impl::memory_op(const Block& b) const {
  ops::Memory p;
  p.dim = a.dim;
  p.left = a.left;
  p.right = a.right;
  p.fp = mode == Mode::fp;
  p.dual = mode == Mode::dual;
  p.w = b.mem_w.data();
  p.tau0 = b.mem_tau0.data();
  p.tau1 = b.mem_tau1.data();
  p.pad = b.mem_pad.data();
  p.scale = b.mem_scale.data();
  p.bias = b.mem_bias.data();
  p.slope = b.act_m;
  return p;
}

ops::Classifier Engine::Impl::classifier_op() const {
  ops::Classifier p;
  p.classes = a.classes;
  p.n = static_cast<std::size_t>(a.t()) * a.dim;
  p.w = cls_w.data();
  p.b = cls_b.data();
  if (!cls_wd.empty()) p.wd = cls_wd.data();
  if (!cls_wi.empty()) p.wi = cls_wi.data();
  return p;
}

// --------------------------------------------------------------------- layers

void Engine::Impl::fp_linear(const float* x, const float* wp, const float* bias,
                             std::size_t rows, std::size_t n, std::size_t k, float* y) {
  fkern->float_gemm_kn(x, wp, bias, y, rows, n, k);
}

void Engine::Impl::conv1_fwd(const float* x, std::size_t B) {
  // Binary models: the deployed order (bit-identical to bifsmn.deploy); FP models: the
  // float GEMM.
  const ops::Conv1 p = conv1_op();
  const std::size_t in = static_cast<std::size_t>(a.n_mels) * a.frames, out = p.positions() * a.c1;
  for (std::size_t b = 0; b < B; ++b) {
    if (mode != Mode::fp) {
      // col is this op's alone in binary modes: its zero padding is written by the first call
      ops::conv1_deployed(p, x + b * in, col.data(), y1.data() + b * out, conv1_col_kept);
      conv1_col_kept = true;
    } else {
      ops::conv1_fp(p, *fkern, x + b * in, col.data(), y1.data() + b * out);
    }
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
    ops::conv2_fp(conv2_shape(), *fkern, conv2_w.data(), conv2_b.data(), act2, y1.data(), B,
                  col.data(), conv2_out.data(), tok.data());
    fp_linear(tok.data(), fc1_w.data(), fc1_b.data(), rows, dim, a.f1(), cur);
    for (std::size_t i = 0; i < rows * dim; ++i) cur[i] = act(cur[i], act3);
    for (int j = 0; j < a.layers; ++j) {
      if (!on_path(j, path)) continue;
      const Block& b = blocks[j];
      ops::memory_fwd(memory_op(b), cur, B, a.t(), mem_work, m.data());
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
    ops::Conv2Binary c2;
    c2.s = conv2_shape();
    c2.dual = mode == Mode::dual;
    c2.w = conv2.w.data();
    c2.wp = conv2.prepared();
    c2.words = conv2.words;
    c2.tau0 = conv2.tau0.data();
    c2.tau1 = conv2.tau1.data();
    c2.scale = conv2.scale.data();
    c2.corr = conv2_tab.corr.data();
    c2.bias_pos = conv2_tab.bias_pos.data();
    c2.slope = act2;
    c2.wpix = conv2_pix.w.empty() ? nullptr : conv2_pix.w.data();
    c2.wpix_p = conv2_pix.prepared();
    // Fused: conv2 and every memory binarize their output rows for the next binary layer as
    // they produce them, fc_in's epilogue binarizes for fc_out (hid is never written); fc1 and
    // fc_out write the float activation the memory and the residual need.
    ops::GemmStats st;
    ops::GemmStats* stp = prof ? &st : nullptr;
    const bool dual = mode == Mode::dual;
    const ops::BinaryLinear fc1_op = fc1.op(dual);
    ops::conv2_binary(c2, *kern, y1.data(), B, conv2_work, nullptr, stp, &fc1_op, &lin_a);
    ops::linear_binary_packed(fc1_op, epilogue(fc1.scale, fc1.bias, act3, nullptr), *kern,
                              lin_a, cur, stp);
    for (int j = 0; j < a.layers; ++j) {
      if (!on_path(j, path)) continue;
      const Block& b = blocks[j];
      const ops::BinaryLinear in_op = b.fc_in.op(dual), out_op = b.fc_out.op(dual);
      ops::memory_fwd(memory_op(b), cur, B, a.t(), mem_work, m.data(), &in_op, &lin_a);
      if (mode == Mode::sign && b.fc_in_th.exact) {  // integer thresholds, same bits
        ops::linear_binary_to_sign_bits(in_op, b.fc_in_th, *kern, lin_a, out_op, lin_b, stp);
      } else {
        ops::linear_binary_to_bits(in_op,
                                   epilogue(b.fc_in.scale, b.fc_in.bias, b.act_h, nullptr),
                                   *kern, lin_a, out_op, lin_b, stp);
      }
      ops::linear_binary_packed(
          out_op, epilogue(b.out_scale[path], b.out_bias[path], b.act_p[path], m.data()), *kern,
          lin_b, nxt, stp);
      std::swap(cur, nxt);
    }
    times.binary_gemm += st.seconds;
    times.bops += st.bops;
    lap(times.binary);
  }
  if (mode == Mode::fp) {
    // one row per clip: dot products (float_gemm) beat outer products here
    fkern->float_gemm(cur, cls_w.data(), cls_b.data(), logits, B, a.classes,
                      static_cast<std::size_t>(a.t()) * dim);
  } else {
    ops::classifier_exact(classifier_op(), cur, B, logits);
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
  im.prepare_weights();
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
int Engine::blocks() const {  // set_blocks may change the path from another thread
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->a.layers >> impl_->path;
}

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

// check_finite for logits computed from audio: where they are not finite, says whether the
// audio was (NaN or inf samples make NaN features, which the logits' own message would blame
// on the model). Reads the audio only on that failure path: no cost per call.
void check_finite_from(const float* logits, std::size_t batch, int classes,
                       const std::string& name, const float* wave, std::size_t samples) {
  try {
    check_finite(logits, batch, classes, name);
  } catch (const BkwsError&) {
    for (std::size_t i = 0; i < batch * samples; ++i) {
      if (!std::isfinite(wave[i])) {
        throw BkwsError(name + ": audio input clip " + std::to_string(i / samples) +
                        " contains NaN or infinite samples");
      }
    }
    throw;
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

struct FrameCache::Impl {
  detail::RowCache rows;
  const void* owner = nullptr;  // the Engine::Impl whose front end filled it
};

FrameCache::FrameCache() : impl_(std::make_unique<Impl>()) {}
FrameCache::~FrameCache() = default;
void FrameCache::clear() { impl_->rows.clear(); }
std::size_t FrameCache::hits() const { return impl_->rows.hits; }
std::size_t FrameCache::misses() const { return impl_->rows.misses; }

std::unique_ptr<FrameCache> Engine::new_frame_cache() const {
  std::unique_ptr<FrameCache> c(new FrameCache());
  impl_->frontend->init_cache(c->impl_->rows);
  c->impl_->owner = impl_.get();
  return c;
}

void Engine::features_at(const float* wave, std::size_t batch, const std::int64_t* starts,
                         FrameCache& cache, float* out) {
  if (cache.impl_->owner != impl_.get()) {
    throw BkwsError(impl_->file->name() + ": frame cache made by another engine");
  }
  const std::size_t len = static_cast<std::size_t>(impl_->feat.clip_samples);
  const std::size_t per = static_cast<std::size_t>(impl_->a.n_mels) * impl_->a.frames;
  for (std::size_t b = 0; b < batch; ++b) {
    impl_->frontend->compute_at(wave + b * len, starts[b], cache.impl_->rows, out + b * per);
  }
}

void Engine::compute_features_at(const float* wave, std::size_t batch,
                                 const std::int64_t* starts, FrameCache& cache, float* out) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  features_at(wave, batch, starts, cache, out);
}

void Engine::predict_at(const float* wave, std::size_t batch, const std::int64_t* starts,
                        FrameCache& cache, float* logits) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Impl& im = *impl_;
  im.reserve(batch);
  const Clock::time_point t0 = im.profiling ? Clock::now() : Clock::time_point{};
  features_at(wave, batch, starts, cache, im.feats.data());
  if (batch == 0) return;
  if (im.profiling) im.times.frontend += std::chrono::duration<double>(Clock::now() - t0).count();
  im.run(im.feats.data(), batch, logits);
  check_finite_from(logits, batch, im.a.classes, im.file->name(), wave,
                    static_cast<std::size_t>(im.feat.clip_samples));
}

void Engine::predict_audio(const float* wave, std::size_t batch, std::size_t samples,
                           float* logits) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (batch == 0) return;
  Impl& im = *impl_;
  if (samples == 0) throw BkwsError(im.file->name() + ": audio input holds no samples");
  im.reserve(batch);
  const Clock::time_point t0 = im.profiling ? Clock::now() : Clock::time_point{};
  im.features(wave, batch, samples, im.feats.data());
  if (im.profiling) im.times.frontend += std::chrono::duration<double>(Clock::now() - t0).count();
  im.run(im.feats.data(), batch, logits);
  check_finite_from(logits, batch, im.a.classes, im.file->name(), wave, samples);
}

void Engine::set_profiling(bool on) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->profiling = on;
}

StageTimes Engine::stage_times() const {  // a copy taken between calls, never mid-update
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->times;
}

void Engine::reset_stage_times() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->times = StageTimes{};
}

}  // namespace bifsmn
