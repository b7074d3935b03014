// ops_bench [runs]: median microseconds per call of each op at the at-scale model's shapes
// (fbank40: 40 x 32 input, C1 16, C2 32, k 5, dim 128, hidden 256, 8 tokens), batch 1, one
// thread, with random parameters and the kernel's prepared weights (as the engine uses them).
// For finding where a binary layer's time goes. Buffers are ops::Buffer (64-byte aligned), as
// the engine's are since session 53.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "bifsmn/bitpack.h"
#include "bifsmn/kernels.h"
#include "ops/classifier/classifier.h"
#include "ops/conv1/conv1.h"
#include "ops/conv2/conv2.h"
#include "ops/linear/linear.h"
#include "ops/memory/memory.h"
#include "ops/simd.h"

using namespace bifsmn;

namespace {
std::mt19937 rng(1);
ops::Buffer<float> randn(std::size_t n, float sd = 1.0f) {
  std::normal_distribution<float> nd(0.0f, sd);
  ops::Buffer<float> v(n);
  for (float& x : v) x = nd(rng);
  return v;
}
ops::Buffer<std::uint64_t> bits(std::size_t rows, std::size_t k) {
  ops::Buffer<std::uint64_t> w(rows * packed_row_words(k), 0);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t i = 0; i < k; ++i)
      if (rng() & 1) w[r * packed_row_words(k) + i / 64] |= std::uint64_t{1} << (i % 64);
  return w;
}
// The kernel's prepared copy of packed weights (as the engine makes at load), or empty.
ops::Buffer<std::uint64_t> prepared(const Kernel& kern, const ops::Buffer<std::uint64_t>& w,
                                    std::size_t n, std::size_t k) {
  ops::Buffer<std::uint64_t> wp;
  const std::size_t words = kern.prepared_words ? kern.prepared_words(n, k) : 0;
  if (words == 0) return wp;
  wp.assign(words, 0);
  kern.prepare(w.data(), n, k, wp.data());
  return wp;
}
double median_us(int runs, const std::function<void()>& fn) {
  for (int i = 0; i < 50; ++i) fn();
  std::vector<double> t(runs);
  for (double& ti : t) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    ti = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
  }
  std::nth_element(t.begin(), t.begin() + runs / 2, t.end());
  return t[runs / 2];
}
}  // namespace

int main(int argc, char** argv) {
  const int runs = argc > 1 ? std::atoi(argv[1]) : 2000;
  // optional vector width of the ops (16 / 8 / 4): how an AVX2-only or SSE2 machine runs them
  if (argc > 2 && ops::simd::set_width(std::atoi(argv[2])) != std::atoi(argv[2])) {
    std::fprintf(stderr, "ops_bench: this CPU has no width %s\n", argv[2]);
    return 2;
  }
  const Kernel& kern = select_kernel();
  std::printf("kernel %s, ops width %d, median of %d calls (us)\n", kern.name, ops::simd::width(),
              runs);
  // conv1
  ops::Conv1 c1;
  c1.H = 40; c1.W = 32; c1.k = 5; c1.c1 = 16;
  ops::Buffer<float> w1 = randn(16 * 25), b1 = randn(16), img = randn(40 * 32, 10.0f);
  c1.w = w1.data(); c1.b = b1.data(); c1.slope = 0.2f;
  ops::Buffer<float> col(c1.col_size()), y1(c1.positions() * 16);
  // as the engine calls it: the scratch's zero padding kept from the first call
  ops::conv1_deployed(c1, img.data(), col.data(), y1.data());
  std::printf("conv1 deployed        %8.2f\n", median_us(runs, [&] { ops::conv1_deployed(c1, img.data(), col.data(), y1.data(), true); }));
  // conv2
  ops::Conv2Binary c2;
  c2.s.c1 = 16; c2.s.h1 = 20; c2.s.w1 = 16; c2.s.c2 = 32; c2.s.k = 5;
  c2.dual = true;
  c2.words = packed_row_words(c2.s.k2());
  ops::Buffer<std::uint64_t> w2 = bits(32, c2.s.k2());
  ops::Buffer<float> t0 = randn(16, 0.2f), t1 = randn(16, 0.2f), tau2 = randn(16, 0.2f), sc = randn(32), bi = randn(32);
  ops::Conv2Tables tab = ops::conv2_tables(c2.s, w2.data(), c2.words, sc.data(), bi.data(), tau2.data());
  const ops::Buffer<std::uint64_t> w2p = prepared(kern, w2, 32, c2.s.k2());
  c2.wp = w2p.empty() ? nullptr : w2p.data();
  c2.w = w2.data(); c2.tau0 = t0.data(); c2.tau1 = t1.data(); c2.scale = sc.data();
  c2.corr = tab.corr.data(); c2.bias_pos = tab.bias_pos.data(); c2.slope = 0.2f;
  // the weights in pixel-major order and their prepared copy, as the engine hands them (session 52)
  const ops::Buffer<std::uint64_t> w2x = ops::conv2_pixel_weights(c2.s, w2.data(), c2.words);
  const ops::Buffer<std::uint64_t> w2xp = prepared(kern, w2x, 32, c2.s.k2());
  c2.wpix = w2x.data();
  c2.wpix_p = w2xp.empty() ? nullptr : w2xp.data();
  ops::Conv2Work cw;
  ops::Buffer<float> tok(8 * 320);
  std::printf("conv2 binary          %8.2f\n", median_us(runs, [&] { ops::conv2_binary(c2, kern, y1.data(), 1, cw, tok.data(), nullptr); }));
  // linears
  struct L { const char* name; std::size_t in, out; bool res; };
  for (const L& l : {L{"fc1   ", 320, 128, false}, L{"fc_in ", 128, 256, false}, L{"fc_out", 256, 128, true}}) {
    ops::BinaryLinear lin;
    lin.in = l.in; lin.out = l.out; lin.words = packed_row_words(l.in); lin.dual = true;
    ops::Buffer<std::uint64_t> w = bits(l.out, l.in);
    ops::Buffer<float> a = randn(l.in, 0.2f), b = randn(l.in, 0.2f), s = randn(l.out), bb = randn(l.out);
    ops::Buffer<float> x = randn(8 * l.in), res = randn(8 * l.out), y(8 * l.out);
    const ops::Buffer<std::uint64_t> wp = prepared(kern, w, l.out, l.in);
    lin.w = w.data(); lin.wp = wp.empty() ? nullptr : wp.data(); lin.tau0 = a.data(); lin.tau1 = b.data();
    ops::Epilogue e; e.scale = s.data(); e.bias = bb.data(); e.slope = 0.2f; e.res = l.res ? res.data() : nullptr;
    ops::LinearWork lw;
    std::printf("linear %s         %8.2f\n", l.name, median_us(runs, [&] { ops::linear_binary(lin, e, kern, x.data(), 8, lw, y.data(), nullptr); }));
    std::printf("  of which GEMM       %8.2f\n", median_us(runs, [&] {
      if (lin.wp) kern.binary_gemm_prepared(lw.abits.data(), lin.wp, lw.dots.data(), 16, l.out, l.in);
      else kern.binary_gemm(lw.abits.data(), w.data(), lw.dots.data(), 16, l.out, l.in);
    }));
  }
  // memory
  ops::Memory m;
  m.dim = 128; m.left = 2; m.right = 2; m.dual = true;
  ops::Buffer<float> mw = randn(5 * 128), mt0 = randn(128, 0.2f), mt1 = randn(128, 0.2f), ms = randn(128), mb = randn(128);
  for (float& v : mw) v = v >= 0 ? 1.0f : -1.0f;
  ops::Buffer<float> pad = ops::memory_pad_levels(128, true, mt0.data(), mt1.data());
  m.w = mw.data(); m.tau0 = mt0.data(); m.tau1 = mt1.data(); m.pad = pad.data(); m.scale = ms.data(); m.bias = mb.data(); m.slope = 0.2f;
  ops::MemoryWork mwk;
  ops::Buffer<float> hx = randn(8 * 128), hy(8 * 128);
  std::printf("memory                %8.2f\n", median_us(runs, [&] { ops::memory_fwd(m, hx.data(), 1, 8, mwk, hy.data()); }));
  ops::Classifier c;
  c.classes = 12; c.n = 1024;
  ops::Buffer<float> cw2 = randn(12 * 1024), cb = randn(12), logits(12);
  ops::Buffer<double> cwd(cw2.begin(), cw2.end());  // widened at load, as the engine does
  const ops::Buffer<float> cwi = ops::classifier_interleave(cw2.data(), 12, 1024);  // as the engine
  c.w = cw2.data(); c.b = cb.data(); c.wd = cwd.data(); c.wi = cwi.data();
  std::printf("classifier            %8.2f\n", median_us(runs, [&] { ops::classifier_exact(c, hx.data(), 1, logits.data()); }));
  return 0;
}
